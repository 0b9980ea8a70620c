package router

import (
	"context"
	"math"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// count and distinct of a sharded collection, merged as mongos merges them
// (cluster_count_cmd.h, cluster_distinct_cmd.cpp).

// countRouted counts on the shards the query reaches: each counts up to limit+skip without the
// skip, and the router sums, then applies the skip and the limit.
func (c *conn) countRouted(ctx context.Context, r *request) (bsoncore.Document, error) {
	coll, _ := bsonview.Lookup(r.Body, "count")
	name, _ := coll.StringValueOK()
	filter, _ := docField(r.Body, "query")
	collation, _ := docField(r.Body, "collation")
	_, targets, err := c.readTargets(ctx, r, name, filter, collation)
	if err != nil {
		return nil, err
	}
	if len(targets) == 1 {
		return c.forwardTo(ctx, r, targets[0])
	}
	skip, limit, err := countWindow(r.Body)
	if err != nil {
		return nil, err
	}
	idx, own := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(r.Body, func(el bsoncore.Element) bool {
		if k := string(el.KeyBytes()); k != "skip" && k != "limit" {
			own = append(own, el...)
		}
		return true
	})
	if limit > 0 {
		own = bsoncore.AppendInt64Element(own, "limit", limit+skip)
	}
	own, _ = bsoncore.AppendDocumentEnd(own, idx)
	calls, err := c.callTargets(ctx, r, targets, own)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, call := range calls {
		n, _ := call.reply.Body.Lookup("n").AsInt64OK()
		total += n
	}
	total = max(total-skip, 0)
	if limit > 0 {
		total = min(total, limit)
	}
	b := bsoncore.NewDocumentBuilder()
	if total <= math.MaxInt32 {
		b.AppendInt32("n", int32(total))
	} else {
		b.AppendInt64("n", total)
	}
	return b.AppendDouble("ok", 1).Build(), nil
}

// countWindow reads count's skip and limit (a negative limit counts as its absolute value, as
// mongod's count reads it).
func countWindow(body bsoncore.Document) (skip, limit int64, err error) {
	read := func(key string) (int64, error) {
		v, ok := bsonview.Lookup(body, key)
		if !ok {
			return 0, nil
		}
		n, isNum := v.AsInt64OK()
		if !isNum {
			return 0, mongoerr.WrongType("count."+key, v.Type, "long")
		}
		return n, nil
	}
	if skip, err = read("skip"); err != nil {
		return 0, 0, err
	}
	if skip < 0 {
		return 0, 0, mongoerr.New(51024, "BSON field 'skip' value must be >= 0, actual value '%d'", skip)
	}
	limit, err = read("limit")
	if limit < 0 {
		limit = -limit
	}
	return skip, limit, err
}

// callTargets runs own (with the client's generic arguments) on every target and returns the
// replies, or the first failure.
func (c *conn) callTargets(ctx context.Context, r *request, targets []int, own bsoncore.Document) ([]*shardCall, error) {
	calls, err := c.sendToTargets(ctx, r, targets, own)
	if err != nil {
		return nil, err
	}
	for _, call := range calls {
		if err := call.failure(); err != nil {
			return nil, err
		}
	}
	return calls, nil
}

// distinctRouted unions the shards' distinct values, each once by the command's collation, in
// its order, as mongos's BSONObj set of them gives them.
func (c *conn) distinctRouted(ctx context.Context, r *request) (bsoncore.Document, error) {
	coll, _ := bsonview.Lookup(r.Body, "distinct")
	name, _ := coll.StringValueOK()
	filter, _ := docField(r.Body, "query")
	collationSpec, _ := docField(r.Body, "collation")
	_, targets, err := c.readTargets(ctx, r, name, filter, collationSpec)
	if err != nil {
		return nil, err
	}
	if len(targets) == 1 {
		return c.forwardTo(ctx, r, targets[0])
	}
	collation, err := query.NewCollation(bson.Raw(collationSpec))
	if err != nil {
		return nil, err
	}
	calls, err := c.callTargets(ctx, r, targets, r.Body)
	if err != nil {
		return nil, err
	}
	var values []bson.RawValue
	for _, call := range calls {
		arr, _ := call.reply.Body.Lookup("values").ArrayOK()
		bsonview.Each(bsoncore.Document(arr), func(el bsoncore.Element) bool {
			v := el.Value()
			values = append(values, bson.RawValue{Type: bson.Type(v.Type), Value: v.Data})
			return true
		})
	}
	compare := func(a, b bson.RawValue) int { return collation.Compare(a, b) }
	slices.SortStableFunc(values, compare)
	values = slices.CompactFunc(values, func(a, b bson.RawValue) bool { return compare(a, b) == 0 })
	idx, arr := bsoncore.AppendArrayStart(nil)
	for i, v := range values {
		arr = bsoncore.AppendValueElement(arr, strconv.Itoa(i), bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, idx)
	return bsoncore.NewDocumentBuilder().AppendArray("values", arr).AppendDouble("ok", 1).Build(), nil
}
