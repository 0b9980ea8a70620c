package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Commands take let, collation, arrayFilters, c and sort as mongod does.
func TestCommandQueryEnvironment(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "env", obj("_id", 1, "x", "ping", "n", 1), obj("_id", 2, "x", "PING", "n", 2), obj("_id", 3, "x", "pong", "n", 3))
	cmd := func(kv ...bson.E) bson.D { return append(bson.D(kv), bson.E{Key: "$db", Value: "test"}) }
	e := func(k string, v any) bson.E { return bson.E{Key: k, Value: v} }
	ci := obj("locale", "en_US", "strength", 2)
	ids := func(reply bson.Raw) []int32 {
		var out []int32
		batch, _ := reply.Lookup("cursor", "firstBatch").Array().Values()
		for _, d := range batch {
			out = append(out, d.Document().Lookup("_id").Int32())
		}
		return out
	}
	same := func(got []int32, want ...int32) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i] != want[i] {
				return false
			}
		}
		return true
	}
	if got := ids(mustOK(t, c.run(cmd(e("find", "env"), e("filter", obj("$expr", obj("$gt", bson.A{"$n", "$$min"}))), e("let", obj("min", 1)))))); !same(got, 2, 3) {
		t.Fatalf("find with let: %v", got)
	}
	if got := ids(mustOK(t, c.run(cmd(e("find", "env"), e("filter", obj("x", "ping")), e("collation", ci))))); !same(got, 1, 2) {
		t.Fatalf("find with a collation: %v", got)
	}
	if n := mustOK(t, c.run(cmd(e("count", "env"), e("query", obj("x", "PING")), e("collation", ci)))).Lookup("n").Int32(); n != 2 {
		t.Fatalf("count with a collation: %d", n)
	}
	if vals := mustOK(t, c.run(cmd(e("distinct", "env"), e("key", "x"), e("collation", ci)))).Lookup("values"); len(mustValues(t, vals.Array())) != 2 {
		t.Fatalf("distinct with a collation: %s", vals)
	}
	agg := mustOK(t, c.run(cmd(e("aggregate", "env"), e("pipeline", bson.A{obj("$match", obj("$expr", obj("$eq", bson.A{"$_id", "$$id"}))), obj("$project", obj("_id", 0, "v", "$$v"))}),
		e("cursor", bson.D{}), e("let", obj("id", 3, "v", obj("$literal", "$x"))))))
	if got := agg.Lookup("cursor", "firstBatch", "0", "v").StringValue(); got != "$x" {
		t.Fatalf("aggregate with let: %s", agg)
	}
	// An update with a pipeline and constants, one with arrayFilters, updateOne's sort, and the
	// positional $.
	mustOK(t, c.run(cmd(e("update", "env"), e("updates", bson.A{obj("q", obj("_id", 1), "u", bson.A{obj("$set", obj("tag", "$$t", "arr", bson.A{1, 5, 9}))}, "c", obj("t", "hot"))}))))
	mustOK(t, c.run(cmd(e("update", "env"), e("updates", bson.A{obj("q", obj("_id", 1), "u", obj("$inc", obj("arr.$[big]", 100)), "arrayFilters", bson.A{obj("big", obj("$gt", 4))})}))))
	mustOK(t, c.run(cmd(e("update", "env"), e("updates", bson.A{obj("q", bson.D{}, "u", obj("$set", obj("first", true)), "sort", obj("n", -1))}))))
	mustOK(t, c.run(cmd(e("update", "env"), e("updates", bson.A{obj("q", obj("arr", 105), "u", obj("$set", obj("arr.$", 0)))}))))
	if got := contents(t, c, "test", "env"); got != `[{"_id": {"$numberInt":"1"},"x": "ping","n": {"$numberInt":"1"},"tag": "hot","arr": [{"$numberInt":"1"},{"$numberInt":"0"},{"$numberInt":"109"}]},`+
		`{"_id": {"$numberInt":"2"},"x": "PING","n": {"$numberInt":"2"}},{"_id": {"$numberInt":"3"},"x": "pong","n": {"$numberInt":"3"},"first": true}]` {
		t.Fatalf("after the updates: %s", got)
	}
	// A collation orders sorts too, also where an index (whose keys compare bytewise) could
	// have given the order.
	insertDocs(t, c, "test", "ord", obj("_id", 1, "x", "B"), obj("_id", 2, "x", "a"))
	mustOK(t, c.run(cmd(e("createIndexes", "ord"), e("indexes", bson.A{obj("key", obj("x", 1), "name", "x_1")}))))
	if got := ids(mustOK(t, c.run(cmd(e("find", "ord"), e("sort", obj("x", 1)), e("collation", ci))))); !same(got, 2, 1) {
		t.Fatalf("collated sort over an index: %v", got)
	}
	if got := ids(mustOK(t, c.run(cmd(e("find", "ord"), e("sort", obj("x", 1)))))); !same(got, 1, 2) {
		t.Fatalf("bytewise sort: %v", got)
	}
	mustOK(t, c.run(cmd(e("update", "ord"), e("updates", bson.A{obj("q", bson.D{}, "u", obj("$set", obj("first", true)), "sort", obj("x", 1), "collation", ci)}))))
	if got := ids(mustOK(t, c.run(cmd(e("find", "ord"), e("filter", obj("first", true)))))); !same(got, 2) {
		t.Fatalf("updateOne's sort by the statement's collation updated %v", got)
	}
	wantCode(t, c.run(cmd(e("find", "env"), e("collation", obj("locale", 5)))), mongoerr.FailedToParse, "Field 'locale' must be of type string in: { locale: 5 }")
	wantCode(t, c.run(cmd(e("find", "env"), e("let", obj("Bad", 1)))), 16867, "")
	reply := mustOK(t, c.run(cmd(e("update", "env"), e("updates", bson.A{obj("q", bson.D{}, "u", obj("$set", obj("a", 1)), "multi", true, "sort", obj("n", 1))}))))
	if reply.Lookup("writeErrors", "0", "code").Int32() != int32(mongoerr.FailedToParse) {
		t.Fatalf("multi with a sort: %s", reply)
	}
}
