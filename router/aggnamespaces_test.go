package router

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestOtherNamespaces(t *testing.T) {
	stage := func(d bson.D) bsoncore.Document { return bsoncore.Document(mustMarshal(t, d)) }
	stages := []bsoncore.Document{
		stage(bson.D{{Key: "$match", Value: bson.D{{Key: "a", Value: 1}}}}),
		stage(bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: "l"}, {Key: "as", Value: "x"},
			{Key: "pipeline", Value: bson.A{bson.D{{Key: "$unionWith", Value: "u1"}}}}}}}),
		stage(bson.D{{Key: "$graphLookup", Value: bson.D{{Key: "from", Value: "g"}}}}),
		stage(bson.D{{Key: "$facet", Value: bson.D{{Key: "f", Value: bson.A{
			bson.D{{Key: "$unionWith", Value: bson.D{{Key: "coll", Value: "u2"}, {Key: "pipeline", Value: bson.A{
				bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: bson.D{{Key: "db", Value: "d2"}, {Key: "coll", Value: "l2"}}}}}}}}}}}}}}}}),
		stage(bson.D{{Key: "$merge", Value: bson.D{{Key: "into", Value: bson.D{{Key: "db", Value: "d3"}, {Key: "coll", Value: "m"}}}}}}),
		stage(bson.D{{Key: "$out", Value: "o"}}),
		stage(bson.D{}), // refused by the shard, read past here
	}
	var got []string
	for _, ns := range otherNamespaces("d", stages) {
		got = append(got, ns.stage+" "+ns.db+"."+ns.coll)
	}
	want := []string{"$lookup d.l", "$unionWith d.u1", "$graphLookup d.g", "$unionWith d.u2", "$lookup d2.l2",
		"$merge d3.m", "$out d.o"}
	if !slices.Equal(got, want) {
		t.Fatalf("otherNamespaces:\n got %q\nwant %q", got, want)
	}
}
