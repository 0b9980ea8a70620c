package integration

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestAggregateOtherNamespaces: a pipeline that runs on one shard may read or write another
// collection only when that one is unsharded and on the same shard; otherwise it is refused,
// never answered from one shard's part. A view is held to the same rule.
func TestAggregateOtherNamespaces(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 2, members: 1})
	cl := c.client(t)
	db := cl.Database("joins")
	for _, coll := range []string{"plain", "other"} {
		if _, err := db.Collection(coll).InsertMany(ctxT(t), []any{bson.D{{Key: "x", Value: 1}}, bson.D{{Key: "x", Value: 2}}}); err != nil {
			t.Fatal(err)
		}
	}
	primary := c.sets[shardOfColl(t, c, "joins", "plain")].shard
	shardColl(t, cl, "joins.h", "x")
	chunks := c.chunksOf(t, "joins.h", "x")
	onPrimary, elsewhere := -1, -1
	for k := 1; k < 100 && (onPrimary < 0 || elsewhere < 0); k++ {
		key, _ := bson.Marshal(bson.D{{Key: "x", Value: k}})
		if owner(chunks, hashOf(t, key, "x")) == primary {
			onPrimary = k
		} else {
			elsewhere = k
		}
		if _, err := db.Collection("h").InsertOne(ctxT(t), bson.D{{Key: "x", Value: k}}); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(from string) bson.D {
		return bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: from}, {Key: "localField", Value: "x"},
			{Key: "foreignField", Value: "x"}, {Key: "as", Value: "j"}}}}
	}
	refused := []struct {
		name     string
		coll     string
		pipeline bson.A
	}{
		{"$lookup from a sharded collection", "plain", bson.A{lookup("h")}},
		{"$merge into a sharded collection", "plain", bson.A{bson.D{{Key: "$merge", Value: bson.D{{Key: "into", Value: "h"}}}}}},
		{"$out to a sharded collection", "plain", bson.A{bson.D{{Key: "$out", Value: "h"}}}},
		{"$unionWith a sharded collection in $facet", "plain", bson.A{bson.D{{Key: "$facet", Value: bson.D{{Key: "f", Value: bson.A{
			bson.D{{Key: "$unionWith", Value: "h"}}}}}}}}},
		{"a targeted aggregate's $lookup on another shard", "h", bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "x", Value: elsewhere}}}}, lookup("plain")}},
		{"a targeted aggregate's $out to another shard", "h", bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "x", Value: elsewhere}}}}, bson.D{{Key: "$out", Value: "plain"}}}},
	}
	for _, tc := range refused {
		_, err := db.Collection(tc.coll).Aggregate(ctxT(t), tc.pipeline)
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Code != 115 {
			t.Errorf("%s: %v, want CommandNotSupported", tc.name, err)
		}
	}
	joined := func(coll string, pipeline bson.A) []bson.Raw { return aggregateDocs(t, db.Collection(coll), pipeline) }
	merge := func(into string) bson.D { return bson.D{{Key: "$merge", Value: bson.D{{Key: "into", Value: into}}}} }
	joined("plain", bson.A{merge("copy")})
	joined("h", bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "x", Value: onPrimary}}}}, merge("copy")})
	if n, err := db.Collection("copy").CountDocuments(ctxT(t), bson.D{}); err != nil || n != 3 {
		t.Fatalf("$merge into an unsharded collection on the pipeline's shard: %d documents, %v; want 3", n, err)
	}
	// A view lives on its database's primary shard, which resolves it over its own collections.
	views := []struct {
		name string
		cmd  bson.D
	}{
		{"a view on a sharded collection", bson.D{{Key: "create", Value: "vh"}, {Key: "viewOn", Value: "h"}, {Key: "pipeline", Value: bson.A{}}}},
		{"a view that unions a sharded collection", bson.D{{Key: "create", Value: "vu"}, {Key: "viewOn", Value: "plain"},
			{Key: "pipeline", Value: bson.A{bson.D{{Key: "$unionWith", Value: "h"}}}}}},
		{"a view moved onto a sharded collection", bson.D{{Key: "collMod", Value: "vp"}, {Key: "viewOn", Value: "h"}, {Key: "pipeline", Value: bson.A{}}}},
	}
	if err := db.RunCommand(ctxT(t), bson.D{{Key: "create", Value: "vp"}, {Key: "viewOn", Value: "plain"}, {Key: "pipeline", Value: bson.A{}}}).Err(); err != nil {
		t.Fatalf("a view on an unsharded collection: %v", err)
	}
	for _, v := range views {
		var ce mongo.CommandError
		if err := db.RunCommand(ctxT(t), v.cmd).Err(); !errors.As(err, &ce) || ce.Code != 115 {
			t.Errorf("%s: %v, want CommandNotSupported", v.name, err)
		}
	}
	if n, err := db.Collection("vp").CountDocuments(ctxT(t), bson.D{}); err != nil || n != 2 {
		t.Fatalf("the view on the unsharded collection counts %d, %v; want 2", n, err)
	}
	// $out to another database that is not placed yet places it where the pipeline writes it.
	joined("plain", bson.A{bson.D{{Key: "$out", Value: bson.D{{Key: "db", Value: "joinsout"}, {Key: "coll", Value: "o"}}}}})
	if n, err := cl.Database("joinsout").Collection("o").CountDocuments(ctxT(t), bson.D{}); err != nil || n != 2 {
		t.Fatalf("reading $out's new database through the router: %d, %v", n, err)
	}
}
