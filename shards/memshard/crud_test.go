package memshard

import (
	"errors"
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
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
