package memshard

import (
	"slices"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// How a statement reaches its documents, as mongod's planner would choose in the cases
// memshard meets (query_planner.cpp, planner_access.cpp): the _id lookup (IDHACK) for an _id
// equality, a scan of the index whose bounds the filter narrows most, a full scan of an index
// that yields the sort asked for, or a collection scan; a hint picks the index (or $natural).
// Where mongod races candidate plans, memshard ranks them: more leading equality fields first,
// then a range on the next field, then the sort order, then fewer fields, then age.

type accessKind uint8

const (
	collScan accessKind = iota
	idHack
	ixScan
)

// access is a chosen plan.
type access struct {
	kind     accessKind
	ix       *index
	bounds   [][]query.Interval // per key field
	backward bool               // index: reverse key order; collection scan: $natural: -1
	sorted   bool               // the scan yields the sort asked for
	id       bson.RawValue      // IDHACK's _id
}

// querySpec is what a statement asks for.
type querySpec struct {
	filter   *query.Filter
	sort     bson.Raw       // the sort specification (empty: none), which the planner reads
	sorter   *query.Sort    // the sort compiled in the statement's environment
	collated bool           // strings compare by a collation: a simple-collation index does not order them
	hint     bsoncore.Value // zero Type: none
}

// sortBy sets the order q asks for (an empty spec: none).
func (q *querySpec) sortBy(env *query.Env, spec bson.Raw) error {
	if len(spec) <= 5 {
		return nil
	}
	s, err := env.Sort(spec)
	if err != nil {
		return err
	}
	q.sort, q.sorter, q.collated = spec, s, env.Collation != nil
	return nil
}

// sortArg reads a statement's optional sort into q.
func (q *querySpec) sortArg(env *query.Env, st bsoncore.Document, parent string) error {
	spec, _, err := docField(st, parent, "sort")
	if err != nil {
		return err
	}
	return q.sortBy(env, spec)
}

// plan chooses the access for q on c (nil: the collection does not exist, and a hint is not
// checked, as mongod answers EOF first).
func (c *collection) plan(q querySpec) (*access, error) {
	if c == nil {
		return &access{kind: collScan}, nil
	}
	if q.hint.Type != 0 {
		return c.hinted(q)
	}
	if id, ok := q.filter.IDEquality(); ok && len(q.sort) <= 5 {
		return &access{kind: idHack, id: id}, nil
	}
	var best *access
	var bestScore int
	for _, ix := range c.indexes {
		a, score := c.candidate(ix, q)
		if a != nil && (best == nil || score > bestScore ||
			score == bestScore && len(a.ix.fields) < len(best.ix.fields)) {
			best, bestScore = a, score
		}
	}
	if best != nil {
		return best, nil
	}
	if a := c.sortingIndex(q); a != nil {
		return a, nil
	}
	return &access{kind: collScan}, nil
}

// candidate is the scan of ix the filter bounds, with its rank; nil when it does not bound
// ix's first field or cannot use ix.
func (c *collection) candidate(ix *index, q querySpec) (*access, int) {
	if !ix.plannable() {
		return nil, 0
	}
	a := ix.scanFor(q)
	if len(a.bounds[0]) == 1 && a.bounds[0][0].IsFull() {
		return nil, 0
	}
	if ix.sparse && slices.ContainsFunc(a.bounds[0], func(iv query.Interval) bool { return iv.Contains(nullValue) }) {
		return nil, 0 // documents without the field are not in the index but match
	}
	if ix.partial != nil && !implies(q.filter, ix.partial) {
		return nil, 0
	}
	score := 0
	for _, ivs := range a.bounds {
		if !allPoints(ivs) {
			if len(ivs) != 1 || !ivs[0].IsFull() {
				score += 2
			}
			break
		}
		score += 4
	}
	if a.sorted {
		score++
	}
	return a, score
}

var nullValue = bson.RawValue{Type: bson.TypeNull}

func allPoints(ivs []query.Interval) bool {
	return !slices.ContainsFunc(ivs, func(iv query.Interval) bool { return !iv.IsPoint() })
}

// scanFor is a scan of ix over the bounds the filter sets on each key field.
func (ix *index) scanFor(q querySpec) *access {
	a := &access{kind: ixScan, ix: ix, bounds: make([][]query.Interval, len(ix.fields))}
	for i, f := range ix.fields {
		ivs, ok := q.filter.Bounds(f, ix.multikey)
		switch {
		case !ok:
			ivs = []query.Interval{query.FullInterval}
		case i == ix.hashed:
			ivs = hashedBounds(ivs)
		}
		a.bounds[i] = ivs
	}
	if !q.collated && ix.hashed < 0 { // hashes keep no order of the values
		a.sorted, a.backward = ix.orders(q.sort, a.bounds)
	}
	return a
}

// hashedBounds are the bounds of a hashed field: the hashes of the values, when the filter names
// values (equalities, $in), as index_bounds_builder.cpp translates them; else every key.
func hashedBounds(ivs []query.Interval) []query.Interval {
	out := make([]query.Interval, 0, len(ivs))
	for _, iv := range ivs {
		if !iv.IsPoint() {
			return []query.Interval{query.FullInterval}
		}
		h, err := hashkey.Hash(bsoncore.Value{Type: bsoncore.Type(iv.Low.Type), Data: iv.Low.Value})
		if err != nil {
			return []query.Interval{query.FullInterval}
		}
		v := bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(nil, h)}
		out = append(out, query.Interval{Low: v, High: v, LowIncl: true, HighIncl: true})
	}
	slices.SortFunc(out, func(a, b query.Interval) int { return query.Compare(a.Low, b.Low) })
	return slices.CompactFunc(out, func(a, b query.Interval) bool { return query.Compare(a.Low, b.Low) == 0 })
}

// orders reports whether scanning ix (forward, or backward) yields sort: the sort's fields
// follow the index's after its leading single-value fields, all in the index's directions or
// all reversed.
func (ix *index) orders(sortSpec bson.Raw, bounds [][]query.Interval) (bool, bool) {
	elems, _ := bsoncore.Document(sortSpec).Elements()
	if len(elems) == 0 || ix.multikey {
		return false, false
	}
	for start := 0; start <= len(ix.fields)-len(elems); start++ {
		if start > 0 && !allPoints(bounds[start-1]) {
			break
		}
		dir := 0
		ok := true
		for i, e := range elems {
			v, _ := e.Value().AsFloat64OK()
			d := ix.dirs[start+i]
			if v < 0 {
				d = -d
			}
			if e.Key() != ix.fields[start+i] || dir != 0 && d != dir {
				ok = false
				break
			}
			dir = d
		}
		if ok {
			return true, dir < 0
		}
	}
	return false, false
}

// sortingIndex is a full scan of an index that yields the sort, when one does.
func (c *collection) sortingIndex(q querySpec) *access {
	for _, ix := range c.indexes {
		if !ix.plannable() || ix.sparse || ix.partial != nil {
			continue
		}
		if a := ix.scanFor(q); a.sorted {
			return a
		}
	}
	return nil
}

// implies reports whether every document f matches is in a partial index whose filter is
// partial: each path partial constrains is bounded by f within partial's bounds.
func implies(f, partial *query.Filter) bool {
	for _, p := range partial.Paths() {
		fb, ok := f.Bounds(p, false)
		if !ok {
			return false
		}
		if pb, ok := partial.Bounds(p, false); ok {
			if !query.Within(fb, pb) {
				return false
			}
		} else if slices.ContainsFunc(fb, func(iv query.Interval) bool { return iv.Contains(nullValue) }) {
			return false // partial says the field exists ($exists, $type): f must rule out null
		}
	}
	return true
}

// hinted is the access a hint names: an index by name or key pattern, or $natural.
func (c *collection) hinted(q querySpec) (*access, error) {
	var ix *index
	switch q.hint.Type {
	case bsoncore.TypeString:
		ix = c.findIndex(q.hint.StringValue())
	case bsoncore.TypeEmbeddedDocument:
		doc := q.hint.Document()
		if first, err := doc.IndexErr(0); err == nil && first.Key() == "$natural" {
			dir, _ := first.Value().AsFloat64OK()
			return &access{kind: collScan, backward: dir < 0}, nil
		}
		ix = c.indexByKey(doc)
	default:
		return nil, mongoerr.New(mongoerr.FailedToParse, "Hint must be a string or an object")
	}
	if ix == nil || ix.hidden {
		return nil, badHint(c.ns(), "hint provided does not correspond to an existing index")
	}
	switch {
	case !ix.btree():
		return nil, mongoerr.New(mongoerr.BadValue, "memshard does not support hinting a %s index", ix.special)
	case ix.coll != nil:
		return nil, mongoerr.New(mongoerr.BadValue, "memshard does not support hinting an index with a collation")
	}
	return ix.scanFor(q), nil
}

// badHint is the planner's error as find and the writes report it (get_executor.cpp).
func badHint(ns, why string) error {
	return mongoerr.New(mongoerr.BadValue, "error processing query: ns=%s planner returned error :: caused by :: %s", ns, why)
}

// hintArg reads a statement's hint (zero Type: none).
func hintArg(doc bsoncore.Document) bsoncore.Value {
	v, err := doc.LookupErr("hint")
	if err != nil {
		return bsoncore.Value{}
	}
	if d, ok := v.DocumentOK(); ok && len(d) <= 5 {
		return bsoncore.Value{} // {} is no hint
	}
	return v
}

// scanStats counts what a scan examined, for explain.
type scanStats struct{ keys, docs int }

// execute runs a: the slots whose documents (as view sees them) match f, in the access's
// order, stopping after limit (0: all). Callers hold store.mu.
func (c *collection) execute(s *store, a *access, f *query.Filter, view *txn, limit int, st *scanStats) ([]*doc, error) {
	if c == nil {
		return nil, nil
	}
	var out []*doc
	take := func(d *doc) bool {
		st.docs++
		if v := visible(d, view); v != nil && f.Match(v) {
			out = append(out, d)
		}
		return limit > 0 && len(out) >= limit
	}
	switch a.kind {
	case idHack:
		if d, v := c.lookup(a.id, view); v != nil {
			st.keys++
			take(d)
		}
	case collScan:
		for i := range c.docs {
			d := c.docs[i]
			if a.backward {
				d = c.docs[len(c.docs)-1-i]
			}
			if visible(d, view) == nil {
				continue
			}
			if take(d) {
				break
			}
		}
	case ixScan:
		c.scanIndex(s, a, view, st, take)
	}
	return out, f.Err()
}

// scanIndex offers take the documents of the index keys within a's bounds, in key order, then
// (in a transaction or snapshot read) the slots the view may see differently from the index,
// keeping key order overall.
func (c *collection) scanIndex(s *store, a *access, view *txn, st *scanStats, take func(*doc) bool) {
	ix := a.ix
	groups := ix.ordered()
	var picked []*keyGroup
	first := a.bounds[0]
	if ix.dirs[0] < 0 {
		first = slices.Clone(first)
		slices.Reverse(first)
	}
	for _, iv := range first {
		from, to := span(groups, iv, ix.dirs[0])
		for _, g := range groups[from:to] {
			st.keys++
			if ix.keyWithin(g.key, a.bounds) {
				picked = append(picked, g)
			}
		}
	}
	if a.backward {
		slices.Reverse(picked)
	}
	extra := c.unindexed(s, view)
	seen := map[*doc]bool{}
	var order []*doc
	for _, g := range picked {
		for _, d := range g.docs {
			if !seen[d] {
				seen[d] = true
				order = append(order, d)
			}
		}
	}
	if len(extra) > 0 {
		for _, d := range extra {
			if !seen[d] {
				seen[d] = true
				order = append(order, d)
			}
		}
		order = a.keyOrder(order, view)
	}
	for _, d := range order {
		if take(d) {
			return
		}
	}
}

// span is the range of groups (ordered with the first field in direction dir) whose first key
// field is in iv.
func span(groups []*keyGroup, iv query.Interval, dir int) (int, int) {
	below, above := iv.Before, iv.After
	if dir < 0 {
		below, above = iv.After, iv.Before
	}
	from := sort.Search(len(groups), func(i int) bool { return !below(groups[i].key[0]) })
	to := sort.Search(len(groups), func(i int) bool { return above(groups[i].key[0]) })
	return from, max(from, to)
}

// keyWithin reports whether the key's other fields are in their bounds.
func (ix *index) keyWithin(key []bson.RawValue, bounds [][]query.Interval) bool {
	for i := 1; i < len(key); i++ {
		if !slices.ContainsFunc(bounds[i], func(iv query.Interval) bool { return iv.Contains(key[i]) }) {
			return false
		}
	}
	return true
}

// unindexed is the slots a transaction or snapshot read may see with a value the index does
// not hold: those it wrote, and those committed after its snapshot (kept in history).
func (c *collection) unindexed(s *store, view *txn) []*doc {
	if view == nil {
		return nil
	}
	var out []*doc
	for d, w := range view.writes {
		if w.coll == c {
			out = append(out, d)
		}
	}
	for _, h := range s.history {
		if h.c == c && h.d.ver > view.snapshot {
			out = append(out, h.d)
		}
	}
	return out
}

// keyOrder sorts slots by the index key of the value view sees (the smallest, for a multikey
// document), in the scan's direction; slots the view does not see go last.
func (a *access) keyOrder(docs []*doc, view *txn) []*doc {
	type keyed struct {
		d   *doc
		key []bson.RawValue
	}
	ks := make([]keyed, len(docs))
	for i, d := range docs {
		ks[i].d = d
		if v := visible(d, view); v != nil {
			if keys, _, _ := a.ix.keysOf(v); len(keys) > 0 {
				ks[i].key = slices.MinFunc(keys, func(x, y []bson.RawValue) int { return query.CompareKeys(x, y, a.ix.dirs) })
			}
		}
	}
	slices.SortStableFunc(ks, func(x, y keyed) int {
		switch {
		case x.key == nil || y.key == nil:
			return boolCmp(x.key == nil, y.key == nil)
		case a.backward:
			return -query.CompareKeys(x.key, y.key, a.ix.dirs)
		}
		return query.CompareKeys(x.key, y.key, a.ix.dirs)
	})
	out := make([]*doc, len(ks))
	for i, k := range ks {
		out[i] = k.d
	}
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
