package memshard

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

func TestCRUDWithDriver(t *testing.T) {
	rs := startSet(t, 3)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("app").Collection("people")
	people := []any{
		bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "ada"}, {Key: "age", Value: 36}, {Key: "tags", Value: bson.A{"math", "code"}}},
		bson.D{{Key: "_id", Value: 2}, {Key: "name", Value: "bob"}, {Key: "age", Value: 25}},
		bson.D{{Key: "_id", Value: 3}, {Key: "name", Value: "cy"}, {Key: "age", Value: 41}, {Key: "tags", Value: bson.A{"code"}}},
	}
	if _, err := coll.InsertMany(ctx, people); err != nil {
		t.Fatal(err)
	}

	// Duplicate _id: a write error with mongod's message, and ordered stops there.
	_, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 4}}, bson.D{{Key: "_id", Value: 1.0}}, bson.D{{Key: "_id", Value: 5}}})
	var we mongo.BulkWriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 || we.WriteErrors[0].Index != 1 ||
		we.WriteErrors[0].Message != "E11000 duplicate key error collection: app.people index: _id_ dup key: { _id: 1.0 }" &&
			we.WriteErrors[0].Message != "E11000 duplicate key error collection: app.people index: _id_ dup key: { _id: 1 }" {
		t.Fatalf("duplicate insert: %v", err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: 5}}); n != 0 {
		t.Fatal("ordered insert went on after the duplicate")
	}

	for _, tc := range []struct {
		name   string
		filter bson.D
		opts   *options.FindOptionsBuilder
		want   []int32
	}{
		{"all", bson.D{}, nil, []int32{1, 2, 3, 4}},
		{"by _id", bson.D{{Key: "_id", Value: 2}}, nil, []int32{2}},
		{"by _id as double", bson.D{{Key: "_id", Value: 2.0}}, nil, []int32{2}},
		{"range sorted desc", bson.D{{Key: "age", Value: bson.D{{Key: "$gt", Value: 30}}}}, options.Find().SetSort(bson.D{{Key: "age", Value: -1}}), []int32{3, 1}},
		{"array element", bson.D{{Key: "tags", Value: "code"}}, nil, []int32{1, 3}},
		{"skip limit", bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetSkip(1).SetLimit(2), []int32{2, 3}},
		{"projection", bson.D{{Key: "_id", Value: 1}}, options.Find().SetProjection(bson.D{{Key: "name", Value: 1}}), []int32{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			if opts == nil {
				opts = options.Find()
			}
			cur, err := coll.Find(ctx, tc.filter, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []bson.Raw
			if err := cur.All(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if ids := idsOf(got); fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Fatalf("ids %v, want %v", ids, tc.want)
			}
			if tc.name == "projection" && (got[0].Lookup("age").Type != 0 || got[0].Lookup("name").StringValue() != "ada") {
				t.Fatalf("projection not applied: %s", got[0])
			}
		})
	}

	// Updates: $set, multi, upsert, replacement.
	res, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "age", Value: 26}}}})
	if err != nil || res.MatchedCount != 1 || res.ModifiedCount != 1 {
		t.Fatalf("updateOne: %+v %v", res, err)
	}
	res, err = coll.UpdateMany(ctx, bson.D{{Key: "tags", Value: "code"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "age", Value: 1}}}})
	if err != nil || res.MatchedCount != 2 || res.ModifiedCount != 2 {
		t.Fatalf("updateMany: %+v %v", res, err)
	}
	res, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 9}}, bson.D{{Key: "$set", Value: bson.D{{Key: "name", Value: "new"}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil || res.UpsertedCount != 1 || res.UpsertedID != int32(9) {
		t.Fatalf("upsert: %+v %v", res, err)
	}
	res, err = coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 4}}, bson.D{{Key: "name", Value: "dee"}})
	if err != nil || res.ModifiedCount != 1 {
		t.Fatalf("replace: %+v %v", res, err)
	}
	var dee bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "name", Value: "dee"}}).Decode(&dee); err != nil || dee.Lookup("_id").Int32() != 4 {
		t.Fatalf("replacement lost its _id: %s %v", dee, err)
	}
	_, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 4}}, bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: 5}}}})
	if !isCode(err, int32(mongoerr.ImmutableField)) {
		t.Fatalf("changing _id: %v", err)
	}

	// findAndModify.
	var before, after bson.Raw
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}).Decode(&before); err != nil || before.Lookup("x").Type != 0 {
		t.Fatalf("findOneAndUpdate (before): %s %v", before, err)
	}
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "x", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&after); err != nil || after.Lookup("x").Int32() != 2 {
		t.Fatalf("findOneAndUpdate (after): %s %v", after, err)
	}
	var oldest bson.Raw
	if err := coll.FindOneAndDelete(ctx, bson.D{{Key: "age", Value: bson.D{{Key: "$exists", Value: true}}}},
		options.FindOneAndDelete().SetSort(bson.D{{Key: "age", Value: -1}})).Decode(&oldest); err != nil || oldest.Lookup("_id").Int32() != 3 {
		t.Fatalf("findOneAndDelete sorted: %s %v", oldest, err)
	}
	if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 77}}, bson.D{{Key: "$set", Value: bson.D{{Key: "u", Value: true}}}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&after); err != nil || after.Lookup("_id").Int32() != 77 {
		t.Fatalf("findOneAndUpdate upsert: %s %v", after, err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1000}}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("findOne of nothing: %v", err)
	}

	// Deletes, count, distinct, aggregate.
	del, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: 77}})
	if err != nil || del.DeletedCount != 1 {
		t.Fatalf("deleteOne: %+v %v", del, err)
	}
	vals := coll.Distinct(ctx, "tags", bson.D{})
	var tags []string
	if err := vals.Decode(&tags); err != nil || fmt.Sprint(tags) != "[code math]" {
		t.Fatalf("distinct tags %v %v", tags, err)
	}
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil || n != 4 {
		t.Fatalf("count %d %v", n, err)
	}
	if est, err := coll.EstimatedDocumentCount(ctx); err != nil || est != 4 {
		t.Fatalf("estimated count %d %v", est, err)
	}
	cur, err := coll.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "age", Value: bson.D{{Key: "$exists", Value: true}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: nil}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var groups []bson.Raw
	if err := cur.All(ctx, &groups); err != nil || len(groups) != 1 || groups[0].Lookup("n").AsInt64() != 2 {
		t.Fatalf("aggregate: %v %v", groups, err)
	}
	del, err = coll.DeleteMany(ctx, bson.D{})
	if err != nil || del.DeletedCount != 4 {
		t.Fatalf("deleteMany: %+v %v", del, err)
	}
}

func idsOf(docs []bson.Raw) []int32 {
	ids := make([]int32, len(docs))
	for i, d := range docs {
		ids[i] = int32(d.Lookup("_id").AsInt64())
	}
	return ids
}

func TestCursorsWithDriver(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("app").Collection("many")
	docs := make([]any, 250)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	before := rs.Member(0).CommandCount("getMore")
	for _, tc := range []struct {
		name      string
		batchSize int32
		getMores  int64
	}{
		{"default first batch of 101", 0, 1},
		{"batchSize 100", 100, 2},
		{"batchSize 7", 7, 35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
			if tc.batchSize > 0 {
				opts.SetBatchSize(tc.batchSize)
			}
			cur, err := coll.Find(ctx, bson.D{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []bson.Raw
			if err := cur.All(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 250 || idsOf(got)[249] != 249 {
				t.Fatalf("got %d documents", len(got))
			}
			after := rs.Member(0).CommandCount("getMore")
			if after-before != tc.getMores {
				t.Fatalf("%d getMores, want %d", after-before, tc.getMores)
			}
			before = after
			if n := rs.Member(0).OpenCursors(); n != 0 {
				t.Fatalf("%d cursors left open", n)
			}
		})
	}

	// Closing a cursor early kills it on the server.
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Member(0).OpenCursors() != 1 {
		t.Fatal("no open cursor")
	}
	if err := cur.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rs.Member(0).OpenCursors() != 0 || rs.Member(0).CommandCount("killCursors") != 1 {
		t.Fatal("killCursors did not close the cursor")
	}
}

func TestRawCursorCommands(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	docs := bson.A{}
	for i := 0; i < 5; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}})
	}
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "db"}}))
	reply := mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "db"}}))
	id := reply.Lookup("cursor", "id").Int64()
	if id == 0 || reply.Lookup("cursor", "ns").StringValue() != "db.c" || len(mustValues(t, reply.Lookup("cursor", "firstBatch").Array())) != 2 {
		t.Fatalf("find reply %s", reply)
	}
	wantCode(t, c.run(bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "other"}, {Key: "$db", Value: "db"}}),
		mongoerr.Unauthorized, "Requested getMore on namespace 'db.other', but cursor belongs to a different namespace db.c")
	reply = mustOK(t, c.run(bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "db"}}))
	if reply.Lookup("cursor", "id").Int64() != id || len(mustValues(t, reply.Lookup("cursor", "nextBatch").Array())) != 2 {
		t.Fatalf("getMore reply %s", reply)
	}
	reply = mustOK(t, c.run(bson.D{{Key: "killCursors", Value: "c"}, {Key: "cursors", Value: bson.A{id, int64(12345)}}, {Key: "$db", Value: "db"}}))
	killed, notFound := mustValues(t, reply.Lookup("cursorsKilled").Array()), mustValues(t, reply.Lookup("cursorsNotFound").Array())
	if len(killed) != 1 || killed[0].Int64() != id || len(notFound) != 1 || notFound[0].Int64() != 12345 {
		t.Fatalf("killCursors reply %s", reply)
	}
	for _, k := range []string{"cursorsAlive", "cursorsUnknown"} {
		if _, ok := reply.Lookup(k).ArrayOK(); !ok {
			t.Errorf("%s missing", k)
		}
	}
	wantCode(t, c.run(bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "db"}}),
		mongoerr.CursorNotFound, fmt.Sprintf("cursor id %d not found", id))
	// singleBatch closes the cursor after the first batch.
	reply = mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "singleBatch", Value: true}, {Key: "$db", Value: "db"}}))
	if reply.Lookup("cursor", "id").Int64() != 0 || rs.Member(0).OpenCursors() != 0 {
		t.Fatalf("singleBatch left a cursor: %s", reply)
	}
	// Insert from an OP_MSG document sequence.
	seq := marshal(t, bson.D{{Key: "_id", Value: 10}})
	seq = append(seq, marshal(t, bson.D{{Key: "_id", Value: 11}})...)
	c.send(0, bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "db"}}, wire.Sequence{Identifier: "documents", Raw: seq})
	msg, err := c.recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if reply := mustOK(t, bson.Raw(msg.Body)); reply.Lookup("n").Int32() != 2 {
		t.Fatalf("sequence insert %s", reply)
	}
}

func TestMetadataCommands(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	db := client.Database("meta")
	if err := db.CreateCollection(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("b").InsertOne(ctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil || fmt.Sprint(names) != "[a b]" {
		t.Fatalf("collections %v %v", names, err)
	}
	dbs, err := client.ListDatabaseNames(ctx, bson.D{{Key: "name", Value: "meta"}})
	if err != nil || fmt.Sprint(dbs) != "[meta]" {
		t.Fatalf("databases %v %v", dbs, err)
	}
	iv := db.Collection("b").Indexes()
	name, err := iv.CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}})
	if err != nil || name != "x_1" {
		t.Fatalf("createIndex %q %v", name, err)
	}
	specs, err := iv.ListSpecifications(ctx)
	if err != nil || len(specs) != 2 || specs[1].Name != "x_1" {
		t.Fatalf("listIndexes %v %v", specs, err)
	}
	if err := iv.DropOne(ctx, "x_1"); err != nil {
		t.Fatal(err)
	}
	if err := iv.DropOne(ctx, "x_1"); !isCode(err, int32(mongoerr.IndexNotFound)) {
		t.Fatalf("dropping a missing index: %v", err)
	}
	if err := db.Collection("a").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if dbs, _ := client.ListDatabaseNames(ctx, bson.D{}); len(dbs) != 0 {
		t.Fatalf("databases after drop: %v", dbs)
	}
}

func TestClientBulkWrite(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	writes := []mongo.ClientBulkWrite{
		{Database: "b1", Collection: "x", Model: mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 1}})},
		{Database: "b2", Collection: "y", Model: mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 1}})},
		{Database: "b1", Collection: "x", Model: mongo.NewClientUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: 1}}).
			SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1}}}})},
		{Database: "b1", Collection: "x", Model: mongo.NewClientUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: 2}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 9}}}}).SetUpsert(true)},
		{Database: "b2", Collection: "y", Model: mongo.NewClientDeleteManyModel().SetFilter(bson.D{})},
	}
	res, err := client.BulkWrite(ctx, writes, options.ClientBulkWrite().SetVerboseResults(true))
	if err != nil {
		t.Fatal(err)
	}
	if res.InsertedCount != 2 || res.MatchedCount != 1 || res.ModifiedCount != 1 || res.UpsertedCount != 1 || res.DeletedCount != 1 ||
		res.UpdateResults[3].UpsertedID != int32(2) {
		t.Fatalf("result %+v", res)
	}
	// A duplicate stops an ordered bulk write and is reported per operation.
	_, err = client.BulkWrite(ctx, []mongo.ClientBulkWrite{
		{Database: "b1", Collection: "x", Model: mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 1}})},
		{Database: "b1", Collection: "x", Model: mongo.NewClientInsertOneModel().SetDocument(bson.D{{Key: "_id", Value: 3}})},
	})
	var bwe mongo.ClientBulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Code != 11000 {
		t.Fatalf("duplicate in a bulk write: %v", err)
	}
	if n, _ := client.Database("b1").Collection("x").CountDocuments(ctx, bson.D{}); n != 2 {
		t.Fatalf("%d documents in b1.x, want 2", n)
	}
}

func TestFindReturnKeyAndShowRecordID(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "rk", obj("_id", 3, "x", 1), obj("_id", 1, "x", 3), obj("_id", 2, "x", 2))
	// Deleting and inserting again makes a new record, with the next id.
	mustOK(t, c.run(bson.D{{Key: "delete", Value: "rk"}, {Key: "deletes", Value: bson.A{obj("q", obj("_id", 1), "limit", 1)}}, {Key: "$db", Value: "test"}}))
	insertDocs(t, c, "test", "rk", obj("_id", 1, "x", 3))
	find := func(extra ...bson.E) bson.D {
		return append(bson.D{{Key: "find", Value: "rk"}, {Key: "$db", Value: "test"}}, extra...)
	}
	for _, tc := range []struct {
		name string
		cmd  bson.D
		want []bson.D
	}{
		{"returnKey over the _id index (sort)", find(bson.E{Key: "sort", Value: obj("_id", 1)}, bson.E{Key: "returnKey", Value: true}),
			[]bson.D{obj("_id", 1), obj("_id", 2), obj("_id", 3)}},
		{"returnKey and showRecordId: keys only", find(bson.E{Key: "sort", Value: obj("_id", 1)}, bson.E{Key: "returnKey", Value: true}, bson.E{Key: "showRecordId", Value: true}),
			[]bson.D{obj("_id", 1), obj("_id", 2), obj("_id", 3)}},
		{"returnKey over the _id index (range)", find(bson.E{Key: "filter", Value: obj("_id", obj("$gte", 2))}, bson.E{Key: "sort", Value: obj("x", -1)},
			bson.E{Key: "returnKey", Value: true}), []bson.D{obj("_id", 2), obj("_id", 3)}},
		{"returnKey without an index", find(bson.E{Key: "filter", Value: obj("x", obj("$gt", 1))}, bson.E{Key: "sort", Value: obj("x", 1)}, bson.E{Key: "returnKey", Value: true}),
			[]bson.D{{}, {}}},
		{"showRecordId", find(bson.E{Key: "showRecordId", Value: true}),
			[]bson.D{obj("_id", 3, "x", 1, "$recordId", int64(1)), obj("_id", 2, "x", 2, "$recordId", int64(3)), obj("_id", 1, "x", 3, "$recordId", int64(4))}},
		{"showRecordId after projection", find(bson.E{Key: "filter", Value: obj("_id", 2)}, bson.E{Key: "projection", Value: obj("x", 1, "_id", 0)}, bson.E{Key: "showRecordId", Value: true}),
			[]bson.D{obj("x", 2, "$recordId", int64(3))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := mustOK(t, c.run(tc.cmd))
			if got, want := reply.Lookup("cursor", "firstBatch").String(), jsonArray(t, tc.want...); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}
