package topology

import (
	"math"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestRouting: a sharded collection's chunks, read in hash order from config.chunks, route each
// hashed key value to its owner; an unsharded one is on its database's primary shard.
func TestRouting(t *testing.T) {
	c := memCluster(t, 3)
	ctx := ctxOf(t)
	primary, err := c.PrimaryShard(ctx, []byte("d"), true)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.Routing(ctx, "d", "plain")
	if err != nil || plain.Sharded || plain.ShardOf(42) != primary || !slices.Equal(plain.Shards(), []int{primary}) {
		t.Fatalf("unsharded: %+v %v", plain, err)
	}
	run(t, c, bson.D{{Key: "insert", Value: "collections"}, {Key: "documents", Value: bson.A{
		bson.D{{Key: "_id", Value: "d.h"}, {Key: "key", Value: bson.D{{Key: "x", Value: "hashed"}}}}}}, {Key: "$db", Value: "config"}})
	bound := func(v any) bson.D { return bson.D{{Key: "x", Value: v}} }
	run(t, c, bson.D{{Key: "insert", Value: "chunks"}, {Key: "documents", Value: bson.A{ // out of order on purpose
		bson.D{{Key: "ns", Value: "d.h"}, {Key: "min", Value: bound(int64(100))}, {Key: "max", Value: bound(bson.MaxKey{})}, {Key: "shard", Value: "rs2"}},
		bson.D{{Key: "ns", Value: "d.h"}, {Key: "min", Value: bound(bson.MinKey{})}, {Key: "max", Value: bound(int64(-100))}, {Key: "shard", Value: "rs0"}},
		bson.D{{Key: "ns", Value: "d.h"}, {Key: "min", Value: bound(int64(-100))}, {Key: "max", Value: bound(int64(100))}, {Key: "shard", Value: "rs1"}},
	}}, {Key: "$db", Value: "config"}})
	r, err := c.Routing(ctx, "d", "h")
	if err != nil || !r.Sharded || r.Key != "x" || len(r.Chunks) != 3 {
		t.Fatalf("sharded: %+v %v", r, err)
	}
	for h, want := range map[int64]int{math.MinInt64: 0, -101: 0, -100: 1, 99: 1, 100: 2, math.MaxInt64: 2} {
		if got := r.ShardOf(h); got != want {
			t.Errorf("hash %d on shard %d, want %d", h, got, want)
		}
	}
	if !slices.Equal(r.Shards(), []int{0, 1, 2}) {
		t.Fatalf("owners %v", r.Shards())
	}
}
