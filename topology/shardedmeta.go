package topology

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
)

// ShardedCollection is what shardCollection records of a collection sharded on a hashed key.
type ShardedCollection struct {
	NS        string
	Key       string         // the hashed field
	UUID      []byte         // the collection's UUID (its primary shard's)
	Chunks    int            // the number of initial chunks
	Timestamp bson.Timestamp // the cluster time of the sharding, the collection's timestamp
}

// chunkBatch is how many chunks one insert writes.
const chunkBatch = 1000

// RecordShardedCollection writes the collection's chunks in config.chunks, then its entry in
// config.collections, in mongos's shapes (config.chunks and config.collections as
// create_collection_coordinator.cpp writes them): the entry is what makes the collection
// sharded, so a change that stops halfway leaves chunks nobody reads. The chunks split the hash
// space at hashkey.SplitPoints and go to the shards in runs of equal length, in configuration
// order (SplitPointsBasedSplitPolicy, initial_split_policy.cpp); each chunk's lastmod is
// {major: 1, minor: its index}, as the initial chunk versions are.
func (c *Cluster[S]) RecordShardedCollection(ctx context.Context, sc ShardedCollection) error {
	epoch := bson.NewObjectID()
	points := hashkey.SplitPoints(sc.Chunks)
	perShard := max(sc.Chunks/len(c.shards), 1)
	bound := func(i int) bsoncore.Document {
		b := bsoncore.NewDocumentBuilder()
		switch {
		case i < 0:
			b.AppendMinKey(sc.Key)
		case i >= len(points):
			b.AppendMaxKey(sc.Key)
		default:
			b.AppendInt64(sc.Key, points[i])
		}
		return b.Build()
	}
	var docs []bsoncore.Value
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		err := c.placement.write(ctx, bsoncore.NewDocumentBuilder().
			AppendString("insert", "chunks").
			AppendArray("documents", bsoncore.BuildArray(nil, docs...)).
			AppendDocument("writeConcern", majority).
			AppendString("$db", "config").Build(), false)
		docs = docs[:0]
		return err
	}
	for i := range sc.Chunks {
		shard := c.shards[(i/perShard)%len(c.shards)].Name()
		history := bsoncore.NewDocumentBuilder().
			AppendTimestamp("validAfter", sc.Timestamp.T, sc.Timestamp.I).
			AppendString("shard", shard).Build()
		docs = append(docs, docValue(bsoncore.NewDocumentBuilder().
			AppendObjectID("_id", bson.NewObjectID()).
			AppendBinary("uuid", bson.TypeBinaryUUID, sc.UUID).
			AppendDocument("min", bound(i-1)).
			AppendDocument("max", bound(i)).
			AppendString("shard", shard).
			AppendTimestamp("lastmod", 1, uint32(i)).
			AppendTimestamp("onCurrentShardSince", sc.Timestamp.T, sc.Timestamp.I).
			AppendArray("history", bsoncore.BuildArray(nil, docValue(history))).Build()))
		if len(docs) == chunkBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	entry := bsoncore.NewDocumentBuilder().
		AppendString("_id", sc.NS).
		AppendObjectID("lastmodEpoch", epoch).
		AppendDateTime("lastmod", time.Now().UnixMilli()).
		AppendTimestamp("timestamp", sc.Timestamp.T, sc.Timestamp.I).
		AppendBinary("uuid", bson.TypeBinaryUUID, sc.UUID).
		AppendDocument("key", bsoncore.NewDocumentBuilder().AppendString(sc.Key, "hashed").Build()).
		AppendBoolean("unique", false).
		// The chunks never move: the balancer skips the collection and migrations are off, as
		// setAllowMigrations and balancer settings record it, so sh.status() says so.
		AppendBoolean("noBalance", true).
		AppendBoolean("permitMigrations", false).Build()
	return c.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", "collections").
		AppendArray("updates", bsoncore.BuildArray(nil, docValue(bsoncore.NewDocumentBuilder().
			AppendDocument("q", bsoncore.NewDocumentBuilder().AppendString("_id", sc.NS).Build()).
			AppendDocument("u", entry).
			AppendBoolean("upsert", true).Build()))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), false)
}

// ForgetShardedCollection removes ns's entry in config.collections, then its chunks (by uuid,
// and by ns for chunks written before 5.0), as dropping a sharded collection does
// (drop_collection_coordinator.cpp). Removing the entry first makes the collection unsharded at
// once; chunks left by a stop halfway are read by nobody.
func (c *Cluster[S]) ForgetShardedCollection(ctx context.Context, ns string) error {
	entry, err := c.placement.shardedCollection(ctx, ns)
	if err != nil || entry == nil {
		return err
	}
	deleteAll := func(coll string, q bsoncore.Document, limit int32) error {
		return c.placement.write(ctx, bsoncore.NewDocumentBuilder().
			AppendString("delete", coll).
			AppendArray("deletes", bsoncore.BuildArray(nil, docValue(bsoncore.NewDocumentBuilder().
				AppendDocument("q", q).
				AppendInt32("limit", limit).Build()))).
			AppendDocument("writeConcern", majority).
			AppendString("$db", "config").Build(), false)
	}
	if err := deleteAll("collections", bsoncore.NewDocumentBuilder().AppendString("_id", ns).Build(), 1); err != nil {
		return err
	}
	return deleteAll("chunks", chunksOf(ns, entry), 0)
}
