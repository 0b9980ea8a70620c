package topology

import (
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// CollectionPlacement is where a collection's data is: the shards a command about the whole
// collection (collStats, $collStats, dataSize) is sent to.
type CollectionPlacement struct {
	Shards  []int // the shards that hold it, in the order of their names
	Sharded bool  // config.collections lists it as sharded
	Chunks  int   // its chunks: 1 when it is not sharded, as mongos counts an unsharded one
	Primary int   // its database's primary shard
}

// CollectionShards says which shards hold db.coll, as mongos's routing table for the namespace
// does (scatterGatherVersionedTargetByRoutingTable with no query, cluster_commands_helpers.cpp):
// a sharded collection is on the shards that own its chunks; any other collection is on its
// database's primary shard. admin, config and local exist on every shard, each set with its own
// collections, so their collections are on all of them. The routing table is the router's
// cached one (Routing).
func (c *Cluster[S]) CollectionShards(ctx context.Context, db, coll string) (CollectionPlacement, error) {
	if isConfigDB([]byte(db)) {
		return CollectionPlacement{Shards: c.byName(), Chunks: 1, Primary: configShard}, nil
	}
	rt, err := c.Routing(ctx, db, coll)
	if err != nil {
		return CollectionPlacement{}, err
	}
	if !rt.Sharded {
		return CollectionPlacement{Shards: []int{rt.Primary}, Chunks: 1, Primary: rt.Primary}, nil
	}
	out := CollectionPlacement{Shards: rt.Shards(), Sharded: true, Chunks: len(rt.Chunks), Primary: rt.Primary}
	slices.SortFunc(out.Shards, func(a, b int) int { return strings.Compare(c.shards[a].Name(), c.shards[b].Name()) })
	return out, nil
}

// byName is every shard's index, in the order of the shards' names.
func (c *Cluster[S]) byName() []int {
	out := make([]int, len(c.shards))
	for i := range out {
		out[i] = i
	}
	slices.SortFunc(out, func(a, b int) int { return strings.Compare(c.shards[a].Name(), c.shards[b].Name()) })
	return out
}

// shardedCollection reads ns's entry in config.collections when it is sharded (mongosh's
// onlyShardedCollectionsInConfigFilter reads the same: not dropped, not unsplittable); nil when
// it is not.
func (p *placement) shardedCollection(ctx context.Context, ns string) (bsoncore.Document, error) {
	docs, err := p.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", "collections").
		AppendDocument("filter", shardedFilter(ns)).
		AppendInt32("limit", 1).
		AppendString("$db", "config").Build())
	if err != nil || len(docs) == 0 {
		return nil, err
	}
	return docs[0], nil
}

// shardedFilter matches the sharded entries of config.collections (ns's only, unless empty).
func shardedFilter(ns string) bsoncore.Document {
	notTrue := bsoncore.NewDocumentBuilder().AppendBoolean("$ne", true).Build()
	b := bsoncore.NewDocumentBuilder()
	if ns != "" {
		b.AppendString("_id", ns)
	}
	return b.AppendDocument("dropped", notTrue).AppendDocument("unsplittable", notTrue).Build()
}

// chunksOf is the filter of a collection's chunks: by uuid for an entry written since 5.0 (it
// has a timestamp), else by ns, as config.chunks was keyed before.
func chunksOf(ns string, entry bsoncore.Document) bsoncore.Document {
	if _, _, hasTS := entry.Lookup("timestamp").TimestampOK(); hasTS {
		if uuid, err := entry.LookupErr("uuid"); err == nil {
			return bsoncore.NewDocumentBuilder().AppendValue("uuid", uuid).Build()
		}
	}
	return bsoncore.NewDocumentBuilder().AppendString("ns", ns).Build()
}

// ShardedCollections lists the namespaces config.collections holds as sharded (neither dropped
// nor unsplittable), in order.
func (c *Cluster[S]) ShardedCollections(ctx context.Context) ([]string, error) {
	docs, err := c.placement.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", "collections").
		AppendDocument("filter", shardedFilter("")).
		AppendDocument("sort", bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).Build()).
		AppendDocument("projection", bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).Build()).
		AppendInt32("batchSize", 1<<20).
		AppendString("$db", "config").Build())
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(docs))
	for _, doc := range docs {
		if ns, ok := doc.Lookup("_id").StringValueOK(); ok {
			names = append(names, ns)
		}
	}
	return names, nil
}
