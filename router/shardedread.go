package router

import (
	"bytes"
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
	"github.com/mongos-lite/mongos-lite/topology"
)

// Reads of a collection follow its routing table (topology.Routing): an unsharded collection is
// on its database's primary shard; a sharded one's read goes to the shards its filter can reach
// (targetShards), merged by the router when there are several (merge.go).

// readTargets are the shards a read of db.coll with filter must reach, with the collection's
// routing table; collation is the read's (a non-simple one cannot target by string values).
func (c *conn) readTargets(ctx context.Context, r *request, coll string, filter, collation bsoncore.Document) (*topology.Routing, []int, error) {
	rt, err := c.s.cluster.Routing(ctx, string(r.DB), coll)
	if err != nil {
		return nil, nil, mongoerr.As(err)
	}
	if !rt.Sharded {
		return rt, []int{rt.Primary}, nil
	}
	return rt, targetShards(rt, filter, simpleCollation(collation)), nil
}

// simpleCollation reports a collation that compares strings by their bytes.
func simpleCollation(collation bsoncore.Document) bool {
	if len(collation) <= 5 {
		return true
	}
	locale, _ := collation.Lookup("locale").StringValueOK()
	return locale == "simple"
}

// targetShards are the shards a filter can reach, as mongos's targeter finds them for a hashed
// key (collection_routing_info_targeter.cpp): when the filter pins the key to values (an
// equality, $eq or $in, at the top level or in a top-level $and), the owners of their hashes;
// else every shard that owns a chunk. String values pin nothing under a non-simple collation,
// whose equal strings may hash apart.
func targetShards(rt *topology.Routing, filter bsoncore.Document, simple bool) []int {
	values, ok := pinnedValues(filter, rt.Key)
	if !ok {
		return rt.Shards()
	}
	var out []int
	for _, v := range values {
		if !simple && hasCollatable(v) {
			return rt.Shards()
		}
		s, err := ownerOf(rt, v)
		if err != nil {
			return rt.Shards()
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	if len(out) == 0 { // $in: [] matches nothing; one shard answers that
		out = rt.Shards()[:1]
	}
	return out
}

// pinnedValues are the values filter pins key to, if it does.
func pinnedValues(filter bsoncore.Document, key string) ([]bsoncore.Value, bool) {
	if v, ok := bsonview.Lookup(filter, key); ok {
		return equalityValues(v)
	}
	and, ok := bsonview.Lookup(filter, "$and")
	clauses, isArray := and.ArrayOK()
	if !ok || !isArray {
		return nil, false
	}
	var found []bsoncore.Value
	pinned := false
	bsonview.Each(bsoncore.Document(clauses), func(el bsoncore.Element) bool {
		clause, _ := el.Value().DocumentOK()
		if vals, ok := pinnedValues(clause, key); ok && !pinned {
			found, pinned = vals, true
		}
		return true
	})
	return found, pinned
}

// equalityValues are the values a key's condition allows when it is an equality, {$eq: v} or
// {$in: [...]} (and nothing else), of values a document's key can hold.
func equalityValues(v bsoncore.Value) ([]bsoncore.Value, bool) {
	doc, isDoc := v.DocumentOK()
	if !isDoc || !isOperatorDoc(doc) {
		return []bsoncore.Value{v}, targetable(v)
	}
	elems, _ := doc.Elements()
	if len(elems) != 1 {
		return nil, false
	}
	switch op := elems[0]; op.Key() {
	case "$eq":
		return []bsoncore.Value{op.Value()}, targetable(op.Value())
	case "$in":
		arr, ok := op.Value().ArrayOK()
		if !ok {
			return nil, false
		}
		vals, _ := arr.Values()
		for _, x := range vals {
			if !targetable(x) {
				return nil, false
			}
		}
		return vals, true
	}
	return nil, false
}

// targetable: an equality to v finds only documents whose key hashes as v does. Regular
// expressions match many values; arrays and null also match documents whose key holds them as
// an element or misses it.
func targetable(v bsoncore.Value) bool {
	switch v.Type {
	case bsoncore.TypeRegex, bsoncore.TypeArray, bsoncore.TypeNull, bsoncore.TypeUndefined, bsoncore.TypeMinKey, bsoncore.TypeMaxKey:
		return false
	}
	return true
}

func isOperatorDoc(doc bsoncore.Document) bool {
	k := bsonview.FirstKey(doc)
	return len(k) > 0 && k[0] == '$'
}

// findShape is what the router must know of a find to merge it.
type findShape struct {
	sort, projection, collation bsoncore.Document
	skip, limit                 int64 // limit 0: none
	batchSize                   int64 // the first batch's
	singleBatch, allowPartial   bool
	noTimeout                   bool
}

func parseFindShape(r *request) (findShape, error) {
	s := findShape{batchSize: defaultBatchSize}
	var err error
	read := func(key string) int64 {
		v, ok := bsonview.Lookup(r.Body, key)
		if !ok || err != nil {
			return -1
		}
		n, isNum := v.AsInt64OK()
		switch {
		case !isNum:
			err = mongoerr.WrongType("find."+key, v.Type, "long")
		case n < 0:
			err = mongoerr.New(51024, "BSON field '%s' value must be >= 0, actual value '%d'", key, n)
		}
		return n
	}
	if n := read("skip"); n > 0 {
		s.skip = n
	}
	if n := read("limit"); n > 0 {
		s.limit = n
	}
	if n := read("batchSize"); n >= 0 {
		s.batchSize = n
	}
	if err != nil {
		return s, err
	}
	s.sort, _ = docField(r.Body, "sort")
	s.projection, _ = docField(r.Body, "projection")
	s.collation, _ = docField(r.Body, "collation")
	s.singleBatch = trueFlag(r.Body, "singleBatch")
	s.allowPartial = trueFlag(r.Body, "allowPartialResults")
	s.noTimeout = trueFlag(r.Body, "noCursorTimeout")
	return s, nil
}

func docField(body bsoncore.Document, key string) (bsoncore.Document, bool) {
	v, ok := bsonview.Lookup(body, key)
	doc, isDoc := v.DocumentOK()
	return doc, ok && isDoc
}

func trueFlag(body bsoncore.Document, key string) bool {
	b, _ := command.TrueValue(body, key, "find")
	return b
}

// findRouted routes a find by its collection's routing table.
func (c *conn) findRouted(ctx context.Context, r *request, coll string) (bsoncore.Document, error) {
	filter, _ := docField(r.Body, "filter")
	collation, _ := docField(r.Body, "collation")
	rt, targets, err := c.readTargets(ctx, r, coll, filter, collation)
	if err != nil {
		return nil, err
	}
	if len(targets) == 1 {
		return c.forwardTo(ctx, r, targets[0])
	}
	return c.scatterFind(ctx, r, rt, targets)
}

// scatterFind sends the find to every target with mongos's rewrite (transformQueryForShards in
// cluster_find.cpp: the skip is the router's, each shard returns up to limit+skip, and the sort
// key of every document) and merges the cursors.
func (c *conn) scatterFind(ctx context.Context, r *request, rt *topology.Routing, targets []int) (bsoncore.Document, error) {
	shape, err := parseFindShape(r)
	if err != nil {
		return nil, err
	}
	// In a transaction a shard that fails aborts it: no partial results (settleCalls).
	m := &merger{db: string(r.DB), skip: shape.skip, limit: -1, allowPartial: shape.allowPartial && !r.op.Autocommit}
	m.coll = rt.NS[len(m.db)+1:]
	if shape.limit > 0 {
		m.limit = shape.limit
	}
	if len(shape.sort) > 5 {
		coll, err := query.NewCollation(bson.Raw(shape.collation))
		if err != nil {
			return nil, err
		}
		env, _ := query.NewEnv(nil, coll, time.Now())
		if m.sort, err = env.Sort(bson.Raw(shape.sort)); err != nil {
			return nil, err
		}
	}
	ns := rt.NS
	if err := c.openParts(ctx, r, m, ns, targets, shardFind(r.Body, shape)); err != nil {
		return nil, err
	}
	var docs []bsoncore.Document
	if shape.batchSize != 0 { // batchSize 0: an empty first batch, the cursor only
		if docs, err = m.next(ctx, c, r, shape.batchSize); err != nil {
			c.s.killParts(ns, m.parts)
			return nil, err
		}
	}
	var id int64
	switch {
	case shape.singleBatch || m.done():
		c.s.killParts(ns, m.parts)
	default:
		if id, err = c.s.cursors.Register(clustercursor.Spec{NS: ns, Binding: binding(r), Remotes: remotesOf(m.parts),
			NoTimeout: shape.noTimeout, Originating: bytes.Clone(r.Body), Merge: m}); err != nil {
			return nil, err
		}
		c.addSessionCursor(r, id)
	}
	return cursorBatchReply(ns, "firstBatch", id, docs, m.partial), nil
}

// openParts sends body to every target at once and makes each reply's cursor a part of m. A
// failure fails them all (the cursors opened killed), unless m allows partial results.
func (c *conn) openParts(ctx context.Context, r *request, m *merger, ns string, targets []int, body bsoncore.Document) error {
	calls, err := c.sendToTargets(ctx, r, targets, body)
	if err != nil {
		return err
	}
	var failed error
	for _, call := range calls {
		if err := call.failure(); err != nil {
			if !m.allowPartial && failed == nil {
				failed = err
			}
			m.partial = true
			continue
		}
		m.parts = append(m.parts, &shardPart{shard: call.shard, name: call.name, host: call.host,
			id: call.reply.Status.Cursor.ID, docs: ownBatch(call.reply.Body, "firstBatch")})
	}
	if failed != nil {
		c.s.killParts(ns, m.parts)
	}
	return failed
}

// shardFind is the find each shard runs: without skip, limited to limit+skip, asking for the
// sort key when there is a sort.
func shardFind(body bsoncore.Document, s findShape) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(body, func(el bsoncore.Element) bool {
		switch string(el.KeyBytes()) {
		case "skip", "limit", "projection", "singleBatch":
		default:
			dst = append(dst, el...)
		}
		return true
	})
	if s.limit > 0 {
		dst = bsoncore.AppendInt64Element(dst, "limit", s.limit+s.skip)
	}
	if len(s.sort) > 5 {
		pidx, d := bsoncore.AppendDocumentElementStart(dst, "projection")
		if len(s.projection) > 5 {
			d = append(d, s.projection[4:len(s.projection)-1]...)
		}
		d = bsoncore.AppendDocumentElement(d, sortKeyField,
			bsoncore.NewDocumentBuilder().AppendString("$meta", "sortKey").Build())
		dst, _ = bsoncore.AppendDocumentEnd(d, pidx)
	} else if len(s.projection) > 0 {
		dst = bsoncore.AppendDocumentElement(dst, "projection", s.projection)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// remotesOf are the shard cursors behind a merged cursor, for killing them.
func remotesOf(parts []*shardPart) []clustercursor.Remote {
	out := make([]clustercursor.Remote, 0, len(parts))
	for _, p := range parts {
		if p.id != 0 {
			out = append(out, clustercursor.Remote{Shard: p.shard, Host: p.host, ID: p.id})
		}
	}
	return out
}

// killParts kills the shard cursors a merge left open.
func (s *Server) killParts(ns string, parts []*shardPart) {
	if remotes := remotesOf(parts); len(remotes) > 0 {
		s.killRemotes(ns, remotes)
	}
}

// nextMerged is a getMore of a merged cursor.
func (c *conn) nextMerged(ctx context.Context, r *request, cur *clustercursor.Cursor, m *merger, g getMoreRequest) (bsoncore.Document, error) {
	docs, err := m.next(ctx, c, r, g.batchSize)
	state, id := clustercursor.Open, g.id
	switch {
	case err != nil:
		state = clustercursor.Abandoned
	case m.done() && m.open():
		state, id = clustercursor.Abandoned, 0 // the limit is reached: the open shard cursors go
	case m.done():
		state, id = clustercursor.Exhausted, 0
	}
	if c.s.cursors.Return(cur, state, len(docs)) {
		return nil, clustercursor.Killed()
	}
	if err != nil {
		return nil, cursorError(cur, err)
	}
	return cursorBatchReply(cur.NS, "nextBatch", id, docs, m.partial), nil
}
