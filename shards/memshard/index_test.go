package memshard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestCreateIndexesValidation(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "ix", obj("_id", 1, "x", 1), obj("_id", 2, "x", 1))
	create := func(specs ...bson.D) bson.D {
		a := bson.A{}
		for _, s := range specs {
			a = append(a, s)
		}
		return bson.D{{Key: "createIndexes", Value: "ix"}, {Key: "indexes", Value: a}, {Key: "$db", Value: "test"}}
	}
	mustOK(t, c.run(create(obj("key", obj("y", -1), "name", "y_-1"))))
	for _, tc := range []struct {
		name string
		spec bson.D
		code mongoerr.Code
		msg  string
	}{
		{"empty key", obj("key", bson.D{}, "name", "e"), mongoerr.CannotCreateIndex, "Error in specification { key: {}, name: \"e\" } :: caused by :: Index keys cannot be empty."},
		{"zero", obj("key", obj("a", 0), "name", "a_0"), mongoerr.CannotCreateIndex, "Error in specification { key: { a: 0 }, name: \"a_0\" } :: caused by :: Values in the index key pattern cannot be 0."},
		{"bool", obj("key", obj("a", true), "name", "a"), mongoerr.CannotCreateIndex, ""},
		{"plugin", obj("key", obj("a", "nope"), "name", "a"), mongoerr.CannotCreateIndex, ""},
		{"no name", obj("key", obj("a", 1)), mongoerr.FailedToParse, ""},
		{"unknown option", obj("key", obj("a", 1), "name", "a_1", "color", "red"), mongoerr.InvalidIndexSpecificationOption, ""},
		{"sparse and partial", obj("key", obj("a", 1), "name", "a_1", "sparse", true, "partialFilterExpression", obj("a", 1)), mongoerr.CannotCreateIndex, ""},
		{"partial with $expr", obj("key", obj("a", 1), "name", "a_1", "partialFilterExpression", obj("$expr", true)), mongoerr.CannotCreateIndex,
			"Error in specification { key: { a: 1 }, name: \"a_1\", partialFilterExpression: { $expr: true } } :: caused by :: Expression not supported in partial index: $expr"},
		{"partial with $ne", obj("key", obj("a", 1), "name", "a_1", "partialFilterExpression", obj("a", obj("$ne", 1))), mongoerr.CannotCreateIndex, ""},
		{"same name, other key", obj("key", obj("y", 1), "name", "y_-1"), mongoerr.IndexKeySpecsConflict, ""},
		{"same key, other name", obj("key", obj("y", -1), "name", "other"), mongoerr.IndexOptionsConflict, "Index already exists with a different name: y_-1"},
		{"same name, other options", obj("key", obj("y", -1), "name", "y_-1", "unique", true), mongoerr.IndexOptionsConflict, ""},
		{"unique over duplicates", obj("key", obj("x", 1), "name", "x_1", "unique", true), mongoerr.DuplicateKey,
			"E11000 duplicate key error collection: test.ix index: x_1 dup key: { x: 1 }"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, c.run(create(tc.spec)), tc.code, tc.msg)
		})
	}
	reply := mustOK(t, c.run(create(obj("key", obj("y", -1), "name", "y_-1"))))
	if n := reply.Lookup("numIndexesAfter").Int32(); n != 2 || reply.Lookup("note").StringValue() != "all indexes already exist" {
		t.Fatalf("re-creating an index: %s", reply)
	}
	list := mustOK(t, c.run(bson.D{{Key: "listIndexes", Value: "ix"}, {Key: "$db", Value: "test"}}))
	second := list.Lookup("cursor", "firstBatch", "1").Document()
	if second.String() != `{"v": {"$numberInt":"2"},"key": {"y": {"$numberInt":"-1"}},"name": "y_-1"}` {
		t.Fatalf("listed spec %s", second)
	}
	info := mustOK(t, c.run(bson.D{{Key: "listIndexes", Value: "ix"}, {Key: "includeIndexBuildInfo", Value: true},
		{Key: "cursor", Value: obj("batchSize", 1)}, {Key: "$db", Value: "test"}}))
	if name := info.Lookup("cursor", "firstBatch", "0", "spec", "name").StringValue(); name != "_id_" || info.Lookup("cursor", "id").Int64() == 0 {
		t.Fatalf("listIndexes with build info and batchSize 1: %s", info)
	}
}

func TestUniqueIndexes(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("test").Collection("uq")
	iv := coll.Indexes()
	for _, m := range []mongo.IndexModel{
		{Keys: bson.D{{Key: "email", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 1}}, Options: options.Index().SetUnique(true)},
		{Keys: bson.D{{Key: "nick", Value: 1}}, Options: options.Index().SetUnique(true).SetSparse(true)},
		{Keys: bson.D{{Key: "code", Value: 1}}, Options: options.Index().SetUnique(true).
			SetPartialFilterExpression(bson.D{{Key: "active", Value: true}})},
	} {
		if _, err := iv.CreateOne(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ins := func(d bson.D) error { _, err := coll.InsertOne(ctx, d); return err }
	dup := func(err error, index string) {
		t.Helper()
		var we mongo.WriteException
		var ce mongo.CommandError
		switch {
		case errors.As(err, &we) && len(we.WriteErrors) == 1 && we.WriteErrors[0].Code == 11000:
			if !strings.Contains(we.WriteErrors[0].Message, "index: "+index+" dup key") {
				t.Fatalf("duplicate on the wrong index: %v", err)
			}
		case errors.As(err, &ce) && ce.Code == 11000:
			if !strings.Contains(ce.Message, "index: "+index+" dup key") {
				t.Fatalf("duplicate on the wrong index: %v", err)
			}
		default:
			t.Fatalf("want a duplicate key on %s, got %v", index, err)
		}
	}
	for _, d := range []bson.D{
		{{Key: "_id", Value: 1}, {Key: "email", Value: "a@x"}, {Key: "a", Value: 1}, {Key: "b", Value: 1}},
		{{Key: "_id", Value: 2}, {Key: "email", Value: "b@x"}, {Key: "a", Value: 1}, {Key: "b", Value: 2}, {Key: "code", Value: 7}},
		{{Key: "_id", Value: 3}, {Key: "code", Value: 7}, {Key: "active", Value: true}},
	} {
		if err := ins(d); err != nil {
			t.Fatal(err)
		}
	}
	// Without the field, documents share the null key of a unique index (one of them), but
	// not of a sparse one; outside a partial index's filter, duplicates are fine.
	dup(ins(bson.D{{Key: "_id", Value: 4}, {Key: "email", Value: "a@x"}}), "email_1")
	dup(ins(bson.D{{Key: "_id", Value: 5}, {Key: "email", Value: "c@x"}, {Key: "a", Value: 1}, {Key: "b", Value: 2}}), "a_1_b_1")
	dup(ins(bson.D{{Key: "_id", Value: 6}, {Key: "email", Value: "d@x"}}), "a_1_b_1")
	if err := ins(bson.D{{Key: "_id", Value: 7}, {Key: "email", Value: "e@x"}, {Key: "a", Value: 8}, {Key: "code", Value: 7}}); err != nil {
		t.Fatalf("a duplicate outside the partial filter: %v", err)
	}
	dup(ins(bson.D{{Key: "_id", Value: 8}, {Key: "email", Value: "f@x"}, {Key: "a", Value: 7}, {Key: "code", Value: 7}, {Key: "active", Value: true}}), "code_1")
	// Updates: moving a value onto another document's, and a multi-update that would give two
	// documents one value, fail and change nothing.
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "a@x"}}}})
	dup(err, "email_1")
	_, err = coll.UpdateMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{1, 2}}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "same@x"}}}})
	dup(err, "email_1")
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "email", Value: "same@x"}}); n != 0 {
		t.Fatalf("a failed multi-update wrote %d documents", n)
	}
	// Swapping two values in one statement is allowed, as each document's old key goes.
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "z@x"}}}}); err != nil {
		t.Fatal(err)
	}
	// findAndModify's upsert reports keyPattern and keyValue, as the CRUD spec checks.
	err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 9}}, bson.D{{Key: "$set", Value: bson.D{{Key: "email", Value: "z@x"}}}},
		options.FindOneAndUpdate().SetUpsert(true)).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 11000 || bson.Raw(ce.Raw).Lookup("keyValue", "email").StringValue() != "z@x" ||
		bson.Raw(ce.Raw).Lookup("keyPattern", "email").Int32() != 1 {
		t.Fatalf("findAndModify upsert duplicate: %v", err)
	}
	// A transaction's own writes count.
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 10}, {Key: "email", Value: "t@x"}, {Key: "a", Value: 10}}); err != nil {
			return nil, err
		}
		return coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 11}, {Key: "email", Value: "t@x"}, {Key: "a", Value: 11}})
	})
	dup(err, "email_1")
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "email", Value: "t@x"}}); n != 0 {
		t.Fatalf("an aborted transaction left %d documents", n)
	}
}

func TestParallelArrays(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "pa"}, {Key: "indexes", Value: bson.A{obj("key", obj("a", 1, "b", 1), "name", "a_1_b_1")}}, {Key: "$db", Value: "test"}}))
	reply := mustOK(t, c.run(bson.D{{Key: "insert", Value: "pa"}, {Key: "documents", Value: bson.A{obj("_id", 1, "a", bson.A{1}, "b", bson.A{2})}}, {Key: "$db", Value: "test"}}))
	if code := reply.Lookup("writeErrors", "0", "code").Int32(); code != int32(mongoerr.CannotIndexParallelArrays) {
		t.Fatalf("parallel arrays: %s", reply)
	}
}

// An index with a collation keys by it (a case-insensitive unique index refuses "A@X" beside
// "a@x"); the planner does not scan it. A hidden index is kept but never planned or hinted.
func TestCollatedAndHiddenIndexes(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "ci"}, {Key: "indexes", Value: bson.A{
		obj("key", obj("email", 1), "name", "email_1", "unique", true, "collation", obj("locale", "en", "strength", 2)),
		obj("key", obj("h", 1), "name", "h_1", "hidden", true),
	}}, {Key: "$db", Value: "test"}}))
	insertDocs(t, c, "test", "ci", obj("_id", 1, "email", "a@x", "h", 1))
	reply := mustOK(t, c.run(bson.D{{Key: "insert", Value: "ci"}, {Key: "documents", Value: bson.A{obj("_id", 2, "email", "A@X")}}, {Key: "$db", Value: "test"}}))
	if reply.Lookup("writeErrors", "0", "code").Int32() != int32(mongoerr.DuplicateKey) {
		t.Fatalf("a case-insensitive duplicate: %s", reply)
	}
	for _, filter := range []bson.D{obj("email", "a@x"), obj("h", 1)} {
		if plan, _ := planOf(t, c, bson.D{{Key: "find", Value: "ci"}, {Key: "filter", Value: filter}}); plan != "COLLSCAN" {
			t.Fatalf("%v planned %s", filter, plan)
		}
	}
	wantCode(t, c.run(bson.D{{Key: "find", Value: "ci"}, {Key: "hint", Value: "h_1"}, {Key: "$db", Value: "test"}}), mongoerr.BadValue, "")
}
