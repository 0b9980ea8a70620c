package memshard

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// store holds what the members of a set share (what mongod replicates): databases, collections
// with their _id index, and the uncommitted writes of open transactions. One lock: reads share
// it, each write statement holds it exclusively, so a statement is atomic.
type store struct {
	mu    sync.RWMutex
	clock *logicalClock // the set's cluster time: versions are its timestamps
	now   func() time.Time
	seq   uint64 // version of the last committed write (a packed cluster timestamp)
	dbs   map[string]map[string]*collection
	// While transactions are open or snapshot reads are recent, overwritten versions are kept
	// (listed in history) so that each reads its snapshot, as in mongod (history.go).
	open          int       // transactions in progress
	snapshotUntil time.Time // snapshot reads keep history until then
	history       []slot
	changes       changeLog // what change streams read (changestream.go)
}

type slot struct {
	c *collection
	d *doc
}

type collection struct {
	db, name string
	docs     []*doc          // insertion (natural) order; entries with no visible value are skipped
	dead     int             // entries in docs that no longer hold a document
	byID     map[string]*doc // the _id index: canonical _id bytes -> document
	indexes  []*index        // the _id index first (index.go)
	meta     collMeta        // options, view, validator (collmeta.go)
	pending  *txn            // the open transaction that created it: nobody else sees it yet
	records  int64           // the last record id given out (find's showRecordId)
	cs       collStream      // UUID and pre-/post-image recording, for change streams (changestream.go)
	// unkept is the version of its latest change that dropped the value it replaced (history.go):
	// no snapshot before it can be read.
	unkept uint64
}

// doc is one _id's slot. raw is the committed document (nil: none) written at version ver. A
// transaction that writes the slot locks it until it ends; its uncommitted value lives in the
// transaction, not here.
type doc struct {
	key  string
	rid  int64 // record id: mongod's position of the document in its collection
	raw  bson.Raw
	ver  uint64
	lock *txn
	old  *version // earlier committed values, newest first, while transactions may read them
}

type version struct {
	raw  bson.Raw
	ver  uint64
	next *version
}

func newStore(clock *logicalClock, now func() time.Time) *store {
	s := &store{clock: clock, now: now, dbs: map[string]map[string]*collection{}}
	s.changes.init(now())
	return s
}

func (c *collection) ns() string { return c.db + "." + c.name }

// coll returns the collection t (nil: no transaction) sees, or nil; callers hold mu.
func (s *store) coll(db, name string, t *txn) *collection {
	if c := s.dbs[db][name]; c != nil && (c.pending == nil || c.pending == t) {
		return c
	}
	return nil
}

// ensureColl returns the collection, creating it (and its database) implicitly as mongod does
// on a first insert; one created in a transaction appears to others when it commits. Callers
// hold mu exclusively.
func (s *store) ensureColl(db, name string, t *txn) (*collection, error) {
	if c := s.dbs[db][name]; c != nil {
		switch {
		case c.pending == nil || c.pending == t:
			return c, nil
		case t == nil:
			return nil, &blockedError{c.pending}
		}
		return nil, writeConflict()
	}
	if s.dbs[db] == nil {
		s.dbs[db] = map[string]*collection{}
	}
	c := &collection{db: db, name: name, byID: map[string]*doc{}, indexes: []*index{newIDIndex()}, pending: t, cs: newCollStream()}
	s.dbs[db][name] = c
	if t != nil {
		t.created = append(t.created, c)
	} else {
		s.logCreate(c)
	}
	return c, nil
}

// dropColl removes a collection and its database once empty; callers hold mu exclusively.
func (s *store) dropColl(c *collection) {
	if s.dbs[c.db][c.name] != c {
		return
	}
	delete(s.dbs[c.db], c.name)
	if len(s.dbs[c.db]) == 0 {
		delete(s.dbs, c.db)
	}
}

// collNames lists the collections of a database t sees, in name order.
func (s *store) collNames(db string, t *txn) []string {
	var names []string
	for _, name := range slices.Sorted(maps.Keys(s.dbs[db])) {
		if s.coll(db, name, t) != nil {
			names = append(names, name)
		}
	}
	return names
}

// visible is the value of d that a reader in transaction t (nil: none) sees: its own write, or
// the committed value as of its snapshot.
func visible(d *doc, t *txn) bson.Raw {
	switch {
	case t == nil:
		return d.raw
	case d.lock == t:
		return t.writes[d].raw
	case d.ver <= t.snapshot:
		return d.raw
	}
	for v := d.old; v != nil; v = v.next {
		if v.ver <= t.snapshot {
			return v.raw
		}
	}
	return nil
}

// scan returns the documents t sees in natural order that match (nil: all).
func (c *collection) scan(t *txn, match func(bson.Raw) bool) []bson.Raw {
	var out []bson.Raw
	for _, d := range c.docs {
		if v := visible(d, t); v != nil && (match == nil || match(v)) {
			out = append(out, v)
		}
	}
	return out
}

// lookup finds the document with _id id as t sees it.
func (c *collection) lookup(id bson.RawValue, t *txn) (*doc, bson.Raw) {
	if c == nil {
		return nil, nil
	}
	d := c.byID[query.IndexKey(id)]
	if d == nil {
		return nil, nil
	}
	return d, visible(d, t)
}

// blockedError: a write outside a transaction met a document an open transaction has written.
// mongod makes such a write wait until the transaction ends; so do we (see request.retryBlocked).
type blockedError struct{ t *txn }

func (e *blockedError) Error() string { return "write blocked by an open transaction" }

func writeConflict() *mongoerr.Error {
	return mongoerr.New(mongoerr.WriteConflict,
		"Write conflict during plan execution and yielding is disabled. :: Please retry your operation or multi-document transaction.")
}

// writable checks that t (nil: no transaction) may write d now; callers hold mu exclusively.
func (s *store) writable(d *doc, t *txn, now time.Time) error {
	if d.lock != nil && d.lock != t && d.lock.expired(now) {
		s.abort(d.lock) // past transactionLifetimeLimitSeconds: mongod's reaper would have aborted it
	}
	switch {
	case d.lock != nil && d.lock != t && t == nil:
		return &blockedError{d.lock}
	case d.lock != nil && d.lock != t:
		return writeConflict()
	case t != nil && d.lock == nil && d.ver > t.snapshot:
		return writeConflict() // written outside t after t started
	}
	return nil
}

// put writes raw (nil: delete) to d, committed at once or buffered in t; callers checked writable.
func (s *store) put(c *collection, d *doc, raw bson.Raw, t *txn) { s.putUpdate(c, d, raw, t, false) }

// putUpdate is put for an update statement, which change streams report as a replace when the
// update was a replacement document.
func (s *store) putUpdate(c *collection, d *doc, raw bson.Raw, t *txn, replacement bool) {
	if t != nil {
		s.logWrite(c, visible(d, t), raw, replacement, t)
		d.lock = t
		t.writes[d] = txnWrite{coll: c, raw: raw}
		return
	}
	s.stamp()
	s.logWrite(c, d.raw, raw, replacement, nil)
	s.commitDoc(c, d, raw)
}

// drop removes an empty slot from the index and compacts the natural order now and then.
func (c *collection) drop(d *doc) {
	if c.byID[d.key] != d {
		return
	}
	delete(c.byID, d.key)
	c.dead++
	if c.dead > 64 && c.dead > len(c.docs)/2 {
		live := c.docs[:0]
		for _, x := range c.docs {
			if x.raw != nil || x.lock != nil || x.old != nil {
				live = append(live, x)
			}
		}
		clear(c.docs[len(live):])
		c.docs, c.dead = live, 0
	}
}

// insert adds raw with _id id; callers hold mu exclusively.
func (s *store) insert(c *collection, raw bson.Raw, id bson.RawValue, t *txn, now time.Time) error {
	key := query.IndexKey(id)
	d := c.byID[key]
	if d != nil {
		if err := s.writable(d, t, now); err != nil {
			return err
		}
		if visible(d, t) != nil {
			return dupKeyError(c.ns(), id)
		}
	} else {
		d = c.newSlot(key)
	}
	c.records++
	d.rid = c.records // a new document is a new record, as in mongod
	s.put(c, d, raw, t)
	return nil
}

// newSlot adds an empty slot for _id key.
func (c *collection) newSlot(key string) *doc {
	d := &doc{key: key}
	c.docs = append(c.docs, d)
	c.byID[key] = d
	return d
}

// dupKeyError is mongod's E11000 for the _id index.
func dupKeyError(ns string, id bson.RawValue) *mongoerr.Error {
	return uniqueKeyError(ns, "_id_", []string{"_id"}, []bson.RawValue{id})
}

// uniqueKeyError is mongod's E11000 for a unique index and the key values found again.
func uniqueKeyError(ns, index string, fields []string, vals []bson.RawValue) *mongoerr.Error {
	pattern, value := bsoncore.NewDocumentBuilder(), bsoncore.NewDocumentBuilder()
	shown := make([]string, len(fields))
	for i, f := range fields {
		pattern.AppendInt32(f, 1)
		value.AppendValue(f, bsoncore.Value{Type: bsoncore.Type(vals[i].Type), Data: vals[i].Value})
		shown[i] = f + ": " + shellValue(vals[i])
	}
	e := mongoerr.New(mongoerr.DuplicateKey, "E11000 duplicate key error collection: %s index: %s dup key: { %s }",
		ns, index, strings.Join(shown, ", "))
	e.Extra = bsoncore.NewDocumentBuilder().AppendDocument("keyPattern", pattern.Build()).AppendDocument("keyValue", value.Build()).Build()
	return e
}

// shellValue renders a value the way mongod's error messages do (shell-like) for the usual _id
// types; others fall back to extended JSON.
func shellValue(v bson.RawValue) string {
	switch v.Type {
	case bson.TypeString:
		return strconv.Quote(v.StringValue())
	case bson.TypeObjectID:
		return "ObjectId('" + v.ObjectID().Hex() + "')"
	case bson.TypeInt32:
		return strconv.Itoa(int(v.Int32()))
	case bson.TypeInt64:
		return strconv.FormatInt(v.Int64(), 10)
	case bson.TypeDouble:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64)
	case bson.TypeBoolean:
		return strconv.FormatBool(v.Boolean())
	}
	return v.String()
}
