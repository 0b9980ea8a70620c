package topology

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestCollectionShards: an unsharded collection is on its database's primary shard; a sharded
// one (config.collections, not dropped nor unsplittable) on the shards of its chunks, by uuid or,
// for an entry without a timestamp, by ns; admin and config on every shard; a chunk on a shard
// that is not configured is an error.
func TestCollectionShards(t *testing.T) {
	c := memCluster(t, 3)
	ctx := ctxOf(t)
	primary, err := c.PrimaryShard(ctx, []byte("d"), true)
	if err != nil {
		t.Fatal(err)
	}
	check := func(coll string, want CollectionPlacement) {
		t.Helper()
		got, err := c.CollectionShards(ctx, "d", coll)
		if err != nil || got.Sharded != want.Sharded || got.Chunks != want.Chunks || got.Primary != want.Primary || !slices.Equal(got.Shards, want.Shards) {
			t.Fatalf("d.%s: %+v, %v; want %+v", coll, got, err, want)
		}
	}
	check("plain", CollectionPlacement{Shards: []int{primary}, Chunks: 1, Primary: primary})
	uuid := bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}
	insert := func(coll string, docs ...any) {
		run(t, c, bson.D{{Key: "insert", Value: coll}, {Key: "documents", Value: docs}, {Key: "$db", Value: "config"}})
	}
	key := bson.D{{Key: "x", Value: "hashed"}}
	insert("collections",
		bson.D{{Key: "_id", Value: "d.byuuid"}, {Key: "key", Value: key}, {Key: "uuid", Value: uuid}, {Key: "timestamp", Value: bson.Timestamp{T: 1}}},
		bson.D{{Key: "_id", Value: "d.byns"}, {Key: "key", Value: key}},
		bson.D{{Key: "_id", Value: "d.dropped"}, {Key: "key", Value: key}, {Key: "dropped", Value: true}},
		bson.D{{Key: "_id", Value: "d.unsplittable"}, {Key: "key", Value: key}, {Key: "unsplittable", Value: true}},
		bson.D{{Key: "_id", Value: "d.lost"}, {Key: "key", Value: key}})
	min := func(v any) bson.D { return bson.D{{Key: "x", Value: v}} }
	insert("chunks",
		bson.D{{Key: "uuid", Value: uuid}, {Key: "min", Value: min(int64(10))}, {Key: "shard", Value: "rs2"}},
		bson.D{{Key: "uuid", Value: uuid}, {Key: "min", Value: min(bson.MinKey{})}, {Key: "shard", Value: "rs0"}},
		bson.D{{Key: "uuid", Value: uuid}, {Key: "min", Value: min(int64(20))}, {Key: "shard", Value: "rs2"}},
		bson.D{{Key: "ns", Value: "d.byns"}, {Key: "min", Value: min(bson.MinKey{})}, {Key: "shard", Value: "rs1"}},
		bson.D{{Key: "ns", Value: "d.lost"}, {Key: "min", Value: min(bson.MinKey{})}, {Key: "shard", Value: "rs9"}})
	check("byuuid", CollectionPlacement{Shards: []int{0, 2}, Sharded: true, Chunks: 3, Primary: primary})
	check("byns", CollectionPlacement{Shards: []int{1}, Sharded: true, Chunks: 1, Primary: primary})
	check("dropped", CollectionPlacement{Shards: []int{primary}, Chunks: 1, Primary: primary})
	check("unsplittable", CollectionPlacement{Shards: []int{primary}, Chunks: 1, Primary: primary})
	if _, err := c.CollectionShards(ctx, "d", "lost"); err == nil {
		t.Fatal("a chunk on an unknown shard was accepted")
	}
	for _, db := range []string{"admin", "config"} {
		got, err := c.CollectionShards(ctx, db, "system.sessions")
		if err != nil || !slices.Equal(got.Shards, []int{0, 1, 2}) {
			t.Fatalf("%s: %+v, %v, want every shard", db, got, err)
		}
	}
	names, err := c.ShardedCollections(ctx)
	if err != nil || !slices.Equal(names, []string{"d.byns", "d.byuuid", "d.lost"}) {
		t.Fatalf("ShardedCollections %v, %v", names, err)
	}
}
