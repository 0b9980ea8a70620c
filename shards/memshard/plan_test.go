package memshard

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// planOf explains a find and returns its winning plan's stages (outermost first) and the
// innermost stage.
func planOf(t *testing.T, c *rawClient, find bson.D) (string, bson.Raw) {
	t.Helper()
	reply := mustOK(t, c.run(bson.D{{Key: "explain", Value: find}, {Key: "verbosity", Value: "queryPlanner"}, {Key: "$db", Value: "test"}}))
	var stages []string
	var last bson.Raw
	for stage := reply.Lookup("queryPlanner", "winningPlan"); stage.Type == bson.TypeEmbeddedDocument; stage = stage.Document().Lookup("inputStage") {
		last = stage.Document()
		stages = append(stages, last.Lookup("stage").StringValue())
	}
	return strings.Join(stages, " "), last
}

func TestPlannerUsesIndexes(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "pl", obj("_id", 1, "x", 3, "a", 1, "b", 5, "p", 7), obj("_id", 2, "x", 1, "a", 1, "b", 2, "s", 5),
		obj("_id", 3, "x", 2, "a", 2, "b", 9, "p", 3))
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "pl"}, {Key: "indexes", Value: bson.A{
		obj("key", obj("x", 1), "name", "x_1"),
		obj("key", obj("a", 1, "b", -1), "name", "a_1_b_-1"),
		obj("key", obj("s", 1), "name", "s_1", "sparse", true),
		obj("key", obj("p", 1), "name", "p_1", "partialFilterExpression", obj("p", obj("$gt", 5))),
	}}, {Key: "$db", Value: "test"}}))
	find := func(extra ...bson.E) bson.D { return append(bson.D{{Key: "find", Value: "pl"}}, extra...) }
	filter := func(f bson.D) bson.E { return bson.E{Key: "filter", Value: f} }
	for _, tc := range []struct {
		name   string
		cmd    bson.D
		plan   string
		index  string // the IXSCAN's index
		bounds string // its indexBounds, as JSON
		dir    string
	}{
		{"equality", find(filter(obj("x", 3))), "FETCH IXSCAN", "x_1", `{"x": ["[3, 3]"]}`, "forward"},
		{"range", find(filter(obj("x", obj("$gt", 1, "$lte", 4)))), "FETCH IXSCAN", "x_1", `{"x": ["(1, 4]"]}`, "forward"},
		{"in", find(filter(obj("x", obj("$in", bson.A{2, 1})))), "FETCH IXSCAN", "x_1", `{"x": ["[1, 1]","[2, 2]"]}`, "forward"},
		{"compound", find(filter(obj("a", 1, "b", obj("$gt", 3)))), "FETCH IXSCAN", "a_1_b_-1", `{"a": ["[1, 1]"],"b": ["[inf.0, 3)"]}`, "forward"},
		{"compound prefix", find(filter(obj("a", 2))), "FETCH IXSCAN", "a_1_b_-1", `{"a": ["[2, 2]"],"b": ["[MaxKey, MinKey]"]}`, "forward"},
		{"sort by an index", find(bson.E{Key: "sort", Value: obj("x", -1)}), "FETCH IXSCAN", "x_1", `{"x": ["[MaxKey, MinKey]"]}`, "backward"},
		{"sparse for a value", find(filter(obj("s", 5))), "FETCH IXSCAN", "s_1", `{"s": ["[5, 5]"]}`, "forward"},
		{"sparse not for null", find(filter(obj("s", nil))), "COLLSCAN", "", "", ""},
		{"partial, implied", find(filter(obj("p", 7))), "FETCH IXSCAN", "p_1", `{"p": ["[7, 7]"]}`, "forward"},
		{"partial, not implied", find(filter(obj("p", 3))), "COLLSCAN", "", "", ""},
		{"hint by name", find(filter(obj("y", 1)), bson.E{Key: "hint", Value: "x_1"}), "FETCH IXSCAN", "x_1", `{"x": ["[MinKey, MaxKey]"]}`, "forward"},
		{"hint by key", find(filter(obj("x", 3)), bson.E{Key: "hint", Value: obj("a", 1, "b", -1)}), "FETCH IXSCAN", "a_1_b_-1", "", "forward"},
		{"hint $natural", find(filter(obj("x", 3)), bson.E{Key: "hint", Value: obj("$natural", -1)}), "COLLSCAN", "", "", "backward"},
		{"_id equality", find(filter(obj("_id", 2))), "IDHACK", "", "", ""},
		{"sort not given by an index", find(filter(obj("x", 3)), bson.E{Key: "sort", Value: obj("b", 1)}), "SORT FETCH IXSCAN", "x_1", `{"x": ["[3, 3]"]}`, "forward"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, leaf := planOf(t, c, tc.cmd)
			if plan != tc.plan {
				t.Fatalf("plan %q, want %q", plan, tc.plan)
			}
			if name, _ := leaf.Lookup("indexName").StringValueOK(); tc.index != "" && name != tc.index {
				t.Fatalf("index %s, want %s", leaf.Lookup("indexName"), tc.index)
			}
			if got := leaf.Lookup("indexBounds"); tc.bounds != "" && strings.ReplaceAll(got.String(), " ", "") != strings.ReplaceAll(tc.bounds, " ", "") {
				t.Fatalf("bounds %s, want %s", got, tc.bounds)
			}
			if got, _ := leaf.Lookup("direction").StringValueOK(); tc.dir != "" && got != tc.dir {
				t.Fatalf("direction %s, want %s", got, tc.dir)
			}
		})
	}
	// An index scan returns documents in key order, as mongod's does.
	reply := mustOK(t, c.run(bson.D{{Key: "find", Value: "pl"}, {Key: "filter", Value: obj("x", obj("$gte", 1))}, {Key: "$db", Value: "test"}}))
	var order []int32
	batch, _ := reply.Lookup("cursor", "firstBatch").Array().Values()
	for _, d := range batch {
		order = append(order, d.Document().Lookup("_id").Int32())
	}
	if fmt.Sprint(order) != "[2 3 1]" {
		t.Fatalf("order %v, want x order [2 3 1]", order)
	}
	stats := mustOK(t, c.run(bson.D{{Key: "explain", Value: find(filter(obj("x", 3)))}, {Key: "verbosity", Value: "executionStats"}, {Key: "$db", Value: "test"}}))
	if keys, docs := stats.Lookup("executionStats", "totalKeysExamined").Int32(), stats.Lookup("executionStats", "totalDocsExamined").Int32(); keys != 1 || docs != 1 {
		t.Fatalf("an index equality examined %d keys and %d documents", keys, docs)
	}
	const badHint = "error processing query: ns=test.pl planner returned error :: caused by :: hint provided does not correspond to an existing index"
	wantCode(t, c.run(append(find(bson.E{Key: "hint", Value: "nope"}), bson.E{Key: "$db", Value: "test"})), mongoerr.BadValue, badHint)
	wantCode(t, c.run(append(find(bson.E{Key: "hint", Value: obj("z", 1)}), bson.E{Key: "$db", Value: "test"})), mongoerr.BadValue, badHint)
	wantCode(t, c.run(append(find(bson.E{Key: "hint", Value: 5}), bson.E{Key: "$db", Value: "test"})), mongoerr.FailedToParse, "Hint must be a string or an object")
	upd := mustOK(t, c.run(bson.D{{Key: "update", Value: "pl"}, {Key: "updates", Value: bson.A{obj("q", obj("x", 1), "u", obj("$set", obj("y", 1)), "hint", "nope")}}, {Key: "$db", Value: "test"}}))
	if upd.Lookup("writeErrors", "0", "code").Int32() != int32(mongoerr.BadValue) || upd.Lookup("writeErrors", "0", "errmsg").StringValue() != badHint {
		t.Fatalf("update with a bad hint: %s", upd)
	}
	del := mustOK(t, c.run(bson.D{{Key: "delete", Value: "pl"}, {Key: "deletes", Value: bson.A{obj("q", obj("x", 2), "limit", 1, "hint", obj("x", 1))}}, {Key: "$db", Value: "test"}}))
	if del.Lookup("n").Int32() != 1 {
		t.Fatalf("delete with a hint: %s", del)
	}
	// A missing collection answers nothing, whatever the hint, as mongod's EOF plan does.
	mustOK(t, c.run(bson.D{{Key: "find", Value: "none"}, {Key: "hint", Value: "nope"}, {Key: "$db", Value: "test"}}))
}

// Transactions see their own writes and their snapshot through an index, which holds only
// committed values.
func TestIndexReadsInTransactions(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("test").Collection("tx")
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "v", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "v", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	ids := func(ctx context.Context, filter bson.D) string {
		t.Helper()
		cur, err := coll.Find(ctx, filter, options.Find().SetHint("v_1"))
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		var out []any
		for _, d := range docs {
			out = append(out, d["_id"])
		}
		return fmt.Sprint(out)
	}
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 5}}}}); err != nil {
		t.Fatal(err)
	}
	// Committed meanwhile, after the transaction's snapshot.
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 5}}}}); err != nil {
		t.Fatal(err)
	}
	if got := ids(sctx, bson.D{{Key: "v", Value: 5}}); got != "[1]" {
		t.Fatalf("in the transaction v=5 finds %s, want [1]", got)
	}
	if got := ids(sctx, bson.D{{Key: "v", Value: bson.D{{Key: "$lt", Value: 5}}}}); got != "[2]" {
		t.Fatalf("in the transaction v<5 finds %s, want [2] (its snapshot)", got)
	}
	if got := ids(ctx, bson.D{{Key: "v", Value: 5}}); got != "[2]" {
		t.Fatalf("outside the transaction v=5 finds %s, want [2]", got)
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	var ce mongo.CommandError
	if _, err := coll.Find(ctx, bson.D{}, options.Find().SetHint("nope")); !errors.As(err, &ce) || ce.Code != int32(mongoerr.BadValue) {
		t.Fatalf("a bad hint through the driver: %v", err)
	}
}

// A hashed index keys its field by mongod's hash (internal/hashkey): equalities and $in are
// looked up by the hashes of their values (numbers that hash alike share a key, the filter keeps
// only the matches), ranges and sorts cannot use it, and an array value is refused.
func TestHashedIndex(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "h", obj("_id", 1, "k", 5), obj("_id", 2, "k", 5.5), obj("_id", 3, "k", "x"), obj("_id", 4))
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "h"}, {Key: "indexes", Value: bson.A{obj("key", obj("k", "hashed"), "name", "k_hashed")}}, {Key: "$db", Value: "test"}}))
	find := func(f bson.D, extra ...bson.E) bson.D {
		return append(bson.D{{Key: "find", Value: "h"}, {Key: "filter", Value: f}}, extra...)
	}
	hash := func(x any) string {
		typ, data, _ := bson.MarshalValue(x)
		h, err := hashkey.Hash(bsoncore.Value{Type: bsoncore.Type(typ), Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(h)
	}
	for _, tc := range []struct {
		name   string
		cmd    bson.D
		plan   string
		bounds string
		ids    string
	}{
		{"equality", find(obj("k", 5)), "FETCH IXSCAN", `{"k": ["[` + hash(5) + `, ` + hash(5) + `]"]}`, "[1]"},
		{"same hash, other value", find(obj("k", 5.5)), "FETCH IXSCAN", `{"k": ["[` + hash(5) + `, ` + hash(5) + `]"]}`, "[2]"},
		{"null finds the missing", find(obj("k", nil)), "FETCH IXSCAN", "", "[4]"},
		{"in", find(obj("k", obj("$in", bson.A{"x", 5}))), "FETCH IXSCAN", "", "[1 3]"},
		{"range", find(obj("k", obj("$gt", 1))), "COLLSCAN", "", "[1 2]"},
		{"hint", find(obj("k", "x"), bson.E{Key: "hint", Value: "k_hashed"}), "FETCH IXSCAN", "", "[3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, leaf := planOf(t, c, tc.cmd)
			if plan != tc.plan {
				t.Fatalf("plan %q, want %q", plan, tc.plan)
			}
			if got := leaf.Lookup("indexBounds"); tc.bounds != "" && strings.ReplaceAll(got.String(), " ", "") != strings.ReplaceAll(tc.bounds, " ", "") {
				t.Fatalf("bounds %s, want %s", got, tc.bounds)
			}
			reply := mustOK(t, c.run(append(tc.cmd, bson.E{Key: "sort", Value: obj("_id", 1)}, bson.E{Key: "$db", Value: "test"})))
			var ids []int32
			vals, _ := reply.Lookup("cursor", "firstBatch").Array().Values()
			for _, v := range vals {
				ids = append(ids, v.Document().Lookup("_id").Int32())
			}
			if got := fmt.Sprint(ids); got != tc.ids {
				t.Fatalf("found %s, want %s", got, tc.ids)
			}
		})
	}
	reply := c.run(bson.D{{Key: "insert", Value: "h"}, {Key: "documents", Value: bson.A{obj("_id", 9, "k", bson.A{1})}}, {Key: "$db", Value: "test"}})
	if code, _ := reply.Lookup("writeErrors", "0", "code").AsInt64OK(); code != 16766 {
		t.Fatalf("an array under a hashed index: %s, want 16766", reply)
	}
}
