package topology

import (
	"context"
	"math"
	"slices"
	"sort"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Routing is a collection's routing table: where each range of its hashed shard key lives. An
// unsharded collection is on its database's primary shard.
type Routing struct {
	NS      string
	Sharded bool
	Primary int    // the database's primary shard
	Key     string // the field of the hashed shard key {Key: "hashed"}
	// Chunks cover the whole hash space in order: Chunks[0] starts at MinKey, each next one at
	// its Min, the last ends at MaxKey.
	Chunks []Chunk
}

// Chunk is a range of hashed key values [Min, next chunk's Min) and the shard that owns it.
type Chunk struct {
	Min   int64 // ignored for the first chunk, which starts at MinKey
	Shard int
}

// ShardOf is the shard that owns the documents whose hashed key is h.
func (r *Routing) ShardOf(h int64) int {
	if !r.Sharded {
		return r.Primary
	}
	// The last chunk whose Min is at most h; the first starts at MinKey.
	i := sort.Search(len(r.Chunks)-1, func(i int) bool { return r.Chunks[i+1].Min > h })
	return r.Chunks[i].Shard
}

// Shards are the shards that own a chunk (the primary shard for an unsharded collection), in
// index order.
func (r *Routing) Shards() []int {
	if !r.Sharded {
		return []int{r.Primary}
	}
	var out []int
	for _, c := range r.Chunks {
		if !slices.Contains(out, c.Shard) {
			out = append(out, c.Shard)
		}
	}
	slices.Sort(out)
	return out
}

// Routing reads db.coll's routing table from config.collections and config.chunks on the config
// shard.
func (c *Cluster[S]) Routing(ctx context.Context, db, coll string) (*Routing, error) {
	primary, err := c.PrimaryShard(ctx, []byte(db), false)
	if err != nil {
		return nil, err
	}
	ns := db + "." + coll
	r := &Routing{NS: ns, Primary: primary}
	if len(c.shards) == 1 || isConfigDB([]byte(db)) {
		return r, nil
	}
	entry, err := c.placement.shardedCollection(ctx, ns)
	if err != nil || entry == nil {
		return r, err
	}
	key, _ := entry.Lookup("key").DocumentOK()
	first, err := key.IndexErr(0)
	if err != nil {
		return nil, mongoerr.New(mongoerr.InternalError, "config.collections entry of %s has no shard key", ns)
	}
	r.Sharded, r.Key = true, first.Key()
	reply, err := c.placement.command(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", "chunks").
		AppendDocument("filter", chunksOf(ns, entry)).
		AppendDocument("sort", bsoncore.NewDocumentBuilder().AppendInt32("min", 1).Build()).
		AppendInt32("batchSize", 1<<20).
		AppendString("$db", "config").Build())
	if err != nil {
		return nil, err
	}
	batch, _ := reply.Lookup("cursor", "firstBatch").ArrayOK()
	vals, _ := batch.Values()
	for i, v := range vals {
		doc, _ := v.DocumentOK()
		name, _ := doc.Lookup("shard").StringValueOK()
		shard := c.Index(name)
		if shard < 0 {
			return nil, mongoerr.New(mongoerr.ShardNotFound, "a chunk of %s is on shard %q, which is not configured", ns, name)
		}
		min := doc.Lookup("min", r.Key)
		h, isNumber := min.AsInt64OK()
		switch {
		case i == 0 && min.Type == bsoncore.TypeMinKey:
			h = math.MinInt64
		case !isNumber || i == 0:
			return nil, mongoerr.New(mongoerr.InternalError, "config.chunks of %s do not start at MinKey or have a bound that is not a hashed value", ns)
		}
		r.Chunks = append(r.Chunks, Chunk{Min: h, Shard: shard})
	}
	if len(r.Chunks) == 0 {
		return nil, mongoerr.New(mongoerr.InternalError, "%s is sharded but has no chunks in config.chunks", ns)
	}
	return r, nil
}
