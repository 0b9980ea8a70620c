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

func TestViews(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	db := client.Database("vw")
	src := db.Collection("src")
	if _, err := src.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}, bson.D{{Key: "_id", Value: 2}, {Key: "x", Value: 2}},
		bson.D{{Key: "_id", Value: 3}, {Key: "x", Value: 3}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateView(ctx, "big", "src", bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: 1}}}}}}}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateView(ctx, "bigger", "big", bson.A{bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: bson.D{{Key: "$multiply", Value: bson.A{"$x", 10}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	view := db.Collection("bigger")
	if n, err := view.EstimatedDocumentCount(ctx); err != nil || n != 2 {
		t.Fatalf("count over a view of a view: %d %v", n, err)
	}
	var got []struct{ Y int32 }
	cur, err := view.Find(ctx, bson.D{{Key: "y", Value: bson.D{{Key: "$gte", Value: 30}}}}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "y", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &got); err != nil || fmt.Sprint(got) != "[{30}]" {
		t.Fatalf("find on a view: %v %v", got, err)
	}
	vals, err := view.Distinct(ctx, "x", bson.D{}).Raw()
	if err != nil || vals.String() != `[{"$numberInt":"2"},{"$numberInt":"3"}]` {
		t.Fatalf("distinct on a view: %s %v", vals, err)
	}
	_, err = view.InsertOne(ctx, bson.D{{Key: "x", Value: 9}})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != int32(mongoerr.CommandNotSupportedOnView) || ce.Message != "Namespace vw.bigger is a view, not a collection" {
		t.Fatalf("insert into a view: %v", err)
	}
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{{Key: "type", Value: "view"}})
	if err != nil || len(specs) != 2 || specs[0].Name != "big" || !specs[0].ReadOnly || specs[0].Options.Lookup("viewOn").StringValue() != "src" {
		t.Fatalf("listCollections of views: %+v %v", specs, err)
	}
	names, err := db.ListCollectionNames(ctx, bson.D{{Key: "name", Value: bson.D{{Key: "$regex", Value: "^b"}}}}, options.ListCollections().SetAuthorizedCollections(true))
	if err != nil || fmt.Sprint(names) != "[big bigger]" {
		t.Fatalf("listCollections with a filter: %v %v", names, err)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "create", Value: "v2"}, {Key: "pipeline", Value: bson.A{}}}).Err(); !isCode(err, int32(mongoerr.InvalidOptions)) {
		t.Fatalf("a pipeline without viewOn: %v", err)
	}
}

func TestValidators(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	db := client.Database("val")
	coll := db.Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: "ok"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "validator", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$type", Value: "string"}}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != int32(mongoerr.DocumentValidationFailure) {
		t.Fatalf("findAndModify against the validator: %v", err)
	}
	info := bson.Raw(ce.Raw).Lookup("errInfo")
	if info.Document().Lookup("failingDocumentId").Int32() != 1 ||
		info.Document().Lookup("details", "clausesNotSatisfied", "0", "details", "operatorName").StringValue() != "$type" {
		t.Fatalf("errInfo %s", info)
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "x", Value: 2}})
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != int(mongoerr.DocumentValidationFailure) || we.WriteErrors[0].Details == nil {
		t.Fatalf("insert against the validator: %v", err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "x", Value: 2}}, options.InsertOne().SetBypassDocumentValidation(true)); err != nil {
		t.Fatalf("bypassDocumentValidation: %v", err)
	}
	specs, err := db.ListCollectionSpecifications(ctx, bson.D{})
	if err != nil || specs[0].Options.Lookup("validationLevel").StringValue() != "strict" || specs[0].Options.Lookup("validator", "x").Type != bson.TypeEmbeddedDocument {
		t.Fatalf("options after collMod: %+v %v", specs, err)
	}
	// moderate: documents that did not pass before may still be updated.
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "validationLevel", Value: "moderate"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "x", Value: 2}}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}); err != nil {
		t.Fatalf("moderate validation of an invalid document: %v", err)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "c"}, {Key: "validationLevel", Value: "sometimes"}}).Err(); !isCode(err, int32(mongoerr.BadValue)) {
		t.Fatalf("a bad validationLevel: %v", err)
	}
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "nope"}, {Key: "validator", Value: bson.D{}}}).Err(); !isCode(err, int32(mongoerr.NamespaceNotFound)) {
		t.Fatalf("collMod of a missing collection: %v", err)
	}
}

func TestCollStatsStage(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "cs", obj("_id", 1, "x", "aaaa"), obj("_id", 2, "x", "b"))
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "cs"}, {Key: "indexes", Value: bson.A{obj("key", obj("x", 1), "name", "x_1")}}, {Key: "$db", Value: "test"}}))
	reply := mustOK(t, c.run(aggregate("cs", obj("$collStats", obj("count", bson.D{}, "storageStats", obj("scale", 1))), obj("$project", obj("host", 0, "localTime", 0)))))
	stats := reply.Lookup("cursor", "firstBatch", "0").Document()
	size := int64(len(marshal(t, obj("_id", 1, "x", "aaaa"))) + len(marshal(t, obj("_id", 2, "x", "b"))))
	if stats.Lookup("ns").StringValue() != "test.cs" || stats.Lookup("count").Int32() != 2 ||
		int64(stats.Lookup("storageStats", "size").Int32()) != size || stats.Lookup("storageStats", "count").Int32() != 2 ||
		stats.Lookup("storageStats", "nindexes").Int32() != 2 || stats.Lookup("storageStats", "indexSizes", "x_1").Int32() <= 0 ||
		int64(stats.Lookup("storageStats", "avgObjSize").Int32()) != size/2 {
		t.Fatalf("$collStats %s", stats)
	}
	wantCode(t, c.run(aggregate("none", obj("$collStats", obj("storageStats", bson.D{})))), mongoerr.NamespaceNotFound,
		"PlanExecutor error during aggregation :: caused by :: Unable to retrieve storageStats in $collStats stage :: caused by :: Collection [test.none] not found.")
	wantCode(t, c.run(aggregate("cs", obj("$match", bson.D{}), obj("$collStats", bson.D{}))), 40602, "$collStats is only valid as the first stage in a pipeline")
}
