package memshard

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

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
