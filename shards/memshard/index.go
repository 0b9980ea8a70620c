package memshard

import (
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// index is one index of a collection: its spec as listIndexes shows it and, for the indexes
// memshard keeps (single-field and compound, unique, sparse, partial, and hashed, whose hashed
// field's key is mongod's hash of the value: internal/hashkey), the committed documents by key.
// Text and geo indexes are catalog entries only: the planner never picks them (indexspec.go). Transactions and snapshot reads see uncommitted or older versions
// the index does not hold; the planner adds those slots to what an index scan finds (plan.go).
type index struct {
	spec    bsoncore.Document // v, key, name, then the options, as mongod lists it
	name    string
	keyDoc  bsoncore.Document
	fields  []string
	paths   [][]string
	dirs    []int // 1 ascending, -1 descending, per field
	unique  bool
	sparse  bool
	partial *query.Filter // partialFilterExpression
	special string        // "hashed", "text", "2d", "2dsphere": an index plugin
	hashed  int           // the hashed field's place in the key, -1 when none
	hidden  bool          // kept up to date, but never planned nor hinted
	// coll is the index's collation: its keys compare by it, so they can enforce uniqueness,
	// but memshard's bounds and orders are bytewise and the planner leaves the index alone.
	coll *query.Collation

	multikey bool                 // some document gave several keys (never reset, as in mongod)
	groups   map[string]*keyGroup // by query.KeyString of the key; guarded by store.mu

	mu     sync.Mutex  // guards sorted, which readers build under store.mu's read lock
	sorted []*keyGroup // groups in key order; nil when a key came or went
}

// keyGroup is the documents that have one key, in the order they got it.
type keyGroup struct {
	key  []bson.RawValue
	docs []*doc
}

// newIDIndex is the _id index every collection has.
func newIDIndex() *index {
	ix, _ := newIndex(idIndexSpec)
	ix.unique = true
	return ix
}

// isID reports whether ix is the _id index (its uniqueness the store's byID map enforces).
func (ix *index) isID() bool { return ix.name == "_id_" }

// btree reports whether ix keeps keys: a plain or a hashed index.
func (ix *index) btree() bool { return ix.special == "" || ix.special == "hashed" }

// plannable reports whether the planner may scan ix.
func (ix *index) plannable() bool { return ix.btree() && !ix.hidden && ix.coll == nil }

// keysOf returns the distinct keys raw has in ix (none when the partial filter or sparseness
// leaves it out), and whether it made ix multikey.
func (ix *index) keysOf(raw bson.Raw) ([][]bson.RawValue, bool, error) {
	if !ix.btree() || ix.partial != nil && !ix.partial.Match(raw) {
		return nil, false, nil
	}
	if ix.hashed >= 0 {
		if at, found := arrayOnPath(raw, ix.paths[ix.hashed]); found {
			return nil, false, mongoerr.New(16766, "Error: hashed indexes do not currently support array values. Found array at path: %s", at)
		}
	}
	keys, multikey, present, err := query.IndexKeys(raw, ix.paths)
	if err != nil || ix.sparse && present == 0 {
		return nil, false, err
	}
	if ix.hashed >= 0 {
		for _, k := range keys {
			v := k[ix.hashed]
			h, err := hashkey.Hash(bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
			if err != nil {
				return nil, false, err
			}
			k[ix.hashed] = bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(nil, h)}
		}
	}
	if len(keys) > 1 {
		seen := map[string]bool{}
		keys = slices.DeleteFunc(keys, func(k []bson.RawValue) bool {
			s := ix.coll.KeyString(k)
			dup := seen[s]
			seen[s] = true
			return dup
		})
	}
	return keys, multikey, nil
}

// arrayOnPath is the prefix of path where doc holds an array, if it holds one along it
// (expression_keys_private.cpp, getHashKeys).
func arrayOnPath(doc bson.Raw, path []string) (string, bool) {
	cur := doc
	for i, part := range path {
		v, err := cur.LookupErr(part)
		if err != nil {
			return "", false
		}
		if v.Type == bson.TypeArray {
			return strings.Join(path[:i+1], "."), true
		}
		sub, ok := v.DocumentOK()
		if !ok {
			return "", false
		}
		cur = sub
	}
	return "", false
}

// add records d under the keys of raw; callers hold store.mu exclusively.
func (ix *index) add(d *doc, raw bson.Raw) {
	keys, multikey, err := ix.keysOf(raw)
	if err != nil {
		return // refused before the write was accepted (checkWrites)
	}
	ix.multikey = ix.multikey || multikey
	for _, k := range keys {
		s := ix.coll.KeyString(k)
		g := ix.groups[s]
		if g == nil {
			g = &keyGroup{key: k}
			ix.groups[s] = g
			ix.sorted = nil
		}
		g.docs = append(g.docs, d)
	}
}

// remove forgets d under the keys of raw; callers hold store.mu exclusively.
func (ix *index) remove(d *doc, raw bson.Raw) {
	keys, _, _ := ix.keysOf(raw)
	for _, k := range keys {
		s := ix.coll.KeyString(k)
		g := ix.groups[s]
		if g == nil {
			continue
		}
		g.docs = slices.DeleteFunc(g.docs, func(x *doc) bool { return x == d })
		if len(g.docs) == 0 {
			delete(ix.groups, s)
			ix.sorted = nil
		}
	}
}

// ordered is the key groups in key order, built when stale.
func (ix *index) ordered() []*keyGroup {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.sorted == nil {
		ix.sorted = make([]*keyGroup, 0, len(ix.groups))
		for _, g := range ix.groups {
			ix.sorted = append(ix.sorted, g)
		}
		slices.SortFunc(ix.sorted, func(a, b *keyGroup) int { return query.CompareKeys(a.key, b.key, ix.dirs) })
	}
	return ix.sorted
}

// reindex moves d from the keys of its old committed value to those of the new one in every
// index; callers hold store.mu exclusively.
func (c *collection) reindex(d *doc, old, raw bson.Raw) {
	for _, ix := range c.indexes {
		if old != nil {
			ix.remove(d, old)
		}
		if raw != nil {
			ix.add(d, raw)
		}
	}
}

// build fills a new index from the committed documents, failing on a duplicate key of a
// unique index (mongod's index build does the same).
func (c *collection) build(ix *index) error {
	ix.groups = map[string]*keyGroup{}
	for _, d := range c.docs {
		if d.raw == nil {
			continue
		}
		keys, _, err := ix.keysOf(d.raw)
		if err != nil {
			return err
		}
		if ix.unique {
			for _, k := range keys {
				if g := ix.groups[ix.coll.KeyString(k)]; g != nil {
					return ix.dupKeyError(c.ns(), k)
				}
			}
		}
		ix.add(d, d.raw)
	}
	return nil
}

func (ix *index) dupKeyError(ns string, key []bson.RawValue) *mongoerr.Error {
	return uniqueKeyError(ns, ix.name, ix.fields, key)
}

// pendingWrite is a document a statement is about to write: d is its slot (nil for an insert
// into a new one).
type pendingWrite struct {
	d   *doc
	raw bson.Raw
}

// checkWrites refuses writes that would give an index a key it cannot hold: two keys from
// parallel arrays, or a key a unique index already has for another document (as t sees them,
// counting the other writes of the batch). Callers hold store.mu exclusively.
func (c *collection) checkWrites(t *txn, writes []pendingWrite) error {
	rewritten := map[*doc]bool{}
	for _, w := range writes {
		if w.d != nil {
			rewritten[w.d] = true
		}
	}
	for _, ix := range c.indexes {
		if ix.isID() || !ix.btree() || !ix.unique && len(ix.paths) == 1 && ix.hashed < 0 {
			continue // only a compound key can meet parallel arrays, and a hashed one any array
		}
		batch := map[string]bool{}
		for _, w := range writes {
			keys, _, err := ix.keysOf(w.raw)
			if err != nil {
				return err
			}
			if !ix.unique {
				continue
			}
			for _, k := range keys {
				s := ix.coll.KeyString(k)
				if batch[s] {
					return ix.dupKeyError(c.ns(), k)
				}
				batch[s] = true
				if c.holder(ix, s, t, w.d, rewritten) {
					return ix.dupKeyError(c.ns(), k)
				}
			}
		}
	}
	return nil
}

// holder reports whether a document other than self (and those the batch rewrites) has key s
// in ix as t sees it: a committed one, or one t wrote.
func (c *collection) holder(ix *index, s string, t *txn, self *doc, rewritten map[*doc]bool) bool {
	has := func(d *doc) bool {
		if d == self || rewritten[d] {
			return false
		}
		v := visible(d, t)
		if v == nil {
			return false
		}
		keys, _, _ := ix.keysOf(v)
		return slices.ContainsFunc(keys, func(k []bson.RawValue) bool { return ix.coll.KeyString(k) == s })
	}
	if g := ix.groups[s]; g != nil && slices.ContainsFunc(g.docs, has) {
		return true
	}
	if t != nil {
		for d, w := range t.writes {
			if w.coll == c && has(d) {
				return true
			}
		}
	}
	return false
}

// findIndex returns the index named name, or nil.
func (c *collection) findIndex(name string) *index {
	for _, ix := range c.indexes {
		if ix.name == name {
			return ix
		}
	}
	return nil
}

// indexByKey returns the index whose key pattern is key (numbers compared by value), or nil.
func (c *collection) indexByKey(key bsoncore.Document) *index {
	for _, ix := range c.indexes {
		if sameKeyPattern(ix.keyDoc, key) {
			return ix
		}
	}
	return nil
}

func sameKeyPattern(a, b bsoncore.Document) bool {
	ea, _ := a.Elements()
	eb, _ := b.Elements()
	if len(ea) != len(eb) {
		return false
	}
	for i := range ea {
		if ea[i].Key() != eb[i].Key() || query.Compare(rawValue(ea[i].Value()), rawValue(eb[i].Value())) != 0 {
			return false
		}
	}
	return true
}
