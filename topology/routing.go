package topology

import (
	"context"
	"math"
	"slices"
	"sort"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Routing is a collection's routing table: where each range of its hashed shard key lives. An
// unsharded collection is on its database's primary shard. A Routing is shared by every command
// that reads it and never changes; a new version of the metadata is a new Routing.
type Routing struct {
	NS      string
	Sharded bool
	Primary int    // the database's primary shard
	Key     string // the field of the hashed shard key {Key: "hashed"}
	// Chunks cover the whole hash space in order: Chunks[0] starts at MinKey, each next one at
	// its Min, the last ends at MaxKey.
	Chunks []Chunk

	// The collection's identity and version in config.collections and config.chunks, as a
	// mongos's chunk manager holds them (chunk_manager.cpp): a new epoch and timestamp each time
	// the collection is sharded, and the highest chunk lastmod as the collection version.
	UUID      []byte
	Epoch     bson.ObjectID
	Timestamp bson.Timestamp
	Version   bson.Timestamp // {major: T, minor: I}, as config.chunks stores lastmod
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

// Routing is db.coll's routing table as this router holds it: cached, read from
// config.collections and config.chunks on the config shard the first time, and current under
// the routers' agreement (agreement.go, docs/architecture.md "Routers agree"): it waits while a
// change to db.coll is under way, and fails when this router cannot renew its lease. Reads use
// it; a write holds its view with Acquire, so that a change waits for it.
func (c *Cluster[S]) Routing(ctx context.Context, db, coll string) (*Routing, error) {
	rt, _, err := c.acquire(ctx, db, coll, false, false)
	return rt, err
}

// Acquire is db.coll's routing table (db's placement when coll is empty) for a write: with
// create, a database not placed yet is placed (PrimaryShard). The hold keeps a change of the
// metadata from completing until Release: a write sent with a view that is about to go stale
// reaches its shards before any router acts on the new one.
func (c *Cluster[S]) Acquire(ctx context.Context, db, coll string, create bool) (*Routing, *Hold, error) {
	return c.acquire(ctx, db, coll, create, true)
}

func (c *Cluster[S]) acquire(ctx context.Context, db, coll string, create, hold bool) (*Routing, *Hold, error) {
	if len(c.shards) == 1 || isConfigName(db) {
		// Everything is on one shard: no view can be stale.
		if rt := c.cache.get(db, coll); rt != nil {
			return rt, nil, nil
		}
		rt := &Routing{NS: nsOf(db, coll), Primary: configShard}
		c.cache.put(db, coll, rt, c.cache.installed())
		return rt, nil, nil
	}
	var h *Hold
	for {
		if err := c.agree.current(ctx); err != nil {
			return nil, nil, err
		}
		if err := c.agree.waitUnblocked(ctx, c.cache, db, coll); err != nil {
			return nil, nil, err
		}
		if !hold {
			break
		}
		h = c.agree.hold()
		if !c.cache.blocked(db, coll) {
			break
		}
		// A change began between the check and the hold: let it drain, then wait for it.
		h.Release()
	}
	rt, err := c.cachedRouting(ctx, db, coll, create)
	if err != nil {
		h.Release()
		return nil, nil, err
	}
	return rt, h, nil
}

// RoutingHeld is the routing table of another namespace of a command that already holds a
// view (Acquire). It neither renews the lease nor waits for a change: no change completes while
// the hold lasts, and a change that waits for it has not written anything yet.
func (c *Cluster[S]) RoutingHeld(ctx context.Context, db, coll string, create bool) (*Routing, error) {
	if len(c.shards) == 1 || isConfigName(db) {
		rt, _, err := c.acquire(ctx, db, coll, create, false)
		return rt, err
	}
	return c.cachedRouting(ctx, db, coll, create)
}

func nsOf(db, coll string) string {
	if coll == "" {
		return db
	}
	return db + "." + coll
}

// cachedRouting is db.coll's table from the cache, else read and cached. A table read while
// the installed metadata version moved on is used once but not cached: it may predate the change.
func (c *Cluster[S]) cachedRouting(ctx context.Context, db, coll string, create bool) (*Routing, error) {
	if rt := c.cache.get(db, coll); rt != nil {
		return rt, nil
	}
	version := c.cache.installed()
	primary, placed, err := c.placement.primary(ctx, db, create)
	if err != nil {
		return nil, err
	}
	rt := &Routing{NS: nsOf(db, coll), Primary: primary}
	if coll != "" && placed { // sharding a collection places its database
		if err := c.readRouting(ctx, rt); err != nil {
			return nil, err
		}
	}
	if placed {
		// A database not placed yet has no table to keep: its first write places it.
		c.cache.put(db, coll, rt, version)
	}
	return rt, nil
}

// readRouting fills rt from config.collections and config.chunks when they list it as sharded.
func (c *Cluster[S]) readRouting(ctx context.Context, rt *Routing) error {
	entry, err := c.placement.shardedCollection(ctx, rt.NS)
	if err != nil || entry == nil {
		return err
	}
	key, _ := entry.Lookup("key").DocumentOK()
	first, err := key.IndexErr(0)
	if err != nil {
		return mongoerr.New(mongoerr.InternalError, "config.collections entry of %s has no shard key", rt.NS)
	}
	rt.Sharded, rt.Key = true, first.Key()
	if _, uuid, ok := entry.Lookup("uuid").BinaryOK(); ok {
		rt.UUID = uuid
	}
	rt.Epoch, _ = entry.Lookup("lastmodEpoch").ObjectIDOK()
	rt.Timestamp.T, rt.Timestamp.I, _ = entry.Lookup("timestamp").TimestampOK()
	docs, err := c.placement.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", "chunks").
		AppendDocument("filter", chunksOf(rt.NS, entry)).
		AppendDocument("sort", bsoncore.NewDocumentBuilder().AppendInt32("min", 1).Build()).
		AppendInt32("batchSize", 1<<20).
		AppendString("$db", "config").Build())
	if err != nil {
		return err
	}
	for i, doc := range docs {
		name, _ := doc.Lookup("shard").StringValueOK()
		shard := c.Index(name)
		if shard < 0 {
			return mongoerr.New(mongoerr.ShardNotFound, "a chunk of %s is on shard %q, which is not configured", rt.NS, name)
		}
		min := doc.Lookup("min", rt.Key)
		h, isNumber := min.AsInt64OK()
		switch {
		case i == 0 && min.Type == bsoncore.TypeMinKey:
			h = math.MinInt64
		case !isNumber || i == 0:
			return mongoerr.New(mongoerr.InternalError, "config.chunks of %s do not start at MinKey or have a bound that is not a hashed value", rt.NS)
		}
		var lastmod bson.Timestamp
		lastmod.T, lastmod.I, _ = doc.Lookup("lastmod").TimestampOK()
		if lastmod.After(rt.Version) {
			rt.Version = lastmod
		}
		rt.Chunks = append(rt.Chunks, Chunk{Min: h, Shard: shard})
	}
	if len(rt.Chunks) == 0 {
		return mongoerr.New(mongoerr.InternalError, "%s is sharded but has no chunks in config.chunks", rt.NS)
	}
	return nil
}

// ReadRouting reads db.coll's routing table from the config shard, past the cache and the
// critical sections: what a change reads of the namespace whose section it holds.
func (c *Cluster[S]) ReadRouting(ctx context.Context, db, coll string) (*Routing, error) {
	primary, _, err := c.placement.primary(ctx, db, false)
	if err != nil {
		return nil, err
	}
	rt := &Routing{NS: nsOf(db, coll), Primary: primary}
	if err := c.readRouting(ctx, rt); err != nil {
		return nil, err
	}
	return rt, nil
}
