package memshard

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

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
