package integration

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Statistics merged from every shard that holds a database or a collection (docs/commands.md):
// a database lives whole on its primary shard, so these tests put part of one on the other
// shard behind the router's back, as sharded collections will (the next issue), and describe
// a sharded collection in config.collections and config.chunks as shardCollection will.

// direct connects the driver to shard i's set, past the router.
func (c *cluster) direct(t *testing.T, i int) *mongo.Client {
	t.Helper()
	return connectShard(t, c.sets[i].URI())
}

// primaryOf is the index of db's primary shard, from config.databases.
func (c *cluster) primaryOf(t *testing.T, db string) int {
	t.Helper()
	var entry struct {
		Primary string `bson:"primary"`
	}
	if err := c.direct(t, 0).Database("config").Collection("databases").FindOne(ctxT(t), bson.D{{Key: "_id", Value: db}}).Decode(&entry); err != nil {
		t.Fatalf("config.databases entry of %s: %v", db, err)
	}
	for i, rs := range c.sets {
		if rs.shard == entry.Primary {
			return i
		}
	}
	t.Fatalf("%s is placed on %q, not a shard of the cluster", db, entry.Primary)
	return -1
}

// spread puts db.coll on both shards: n documents through the router (on the database's
// primary shard) and m more written straight to the other shard, as a sharded collection's
// chunks would hold them. It returns the primary's index.
func (c *cluster) spread(t *testing.T, db, coll string, n, m int) int {
	t.Helper()
	ctx := ctxT(t)
	docs := func(from, count int) []any {
		out := make([]any, count)
		for i := range out {
			out[i] = bson.D{{Key: "_id", Value: from + i}, {Key: "pad", Value: strings.Repeat("x", from+i)}}
		}
		return out
	}
	if _, err := c.client(t).Database(db).Collection(coll).InsertMany(ctx, docs(0, n)); err != nil {
		t.Fatal(err)
	}
	p := c.primaryOf(t, db)
	if _, err := c.direct(t, 1-p).Database(db).Collection(coll).InsertMany(ctx, docs(n, m)); err != nil {
		t.Fatal(err)
	}
	return p
}

// simulateSharded describes db.coll as sharded, with chunks[i] chunks on shard i, in
// config.collections and config.chunks on the config shard (mongos 8.0's shapes, keyed by uuid
// as since 5.0), and removes them when the test ends; flushRouterConfig makes the router read
// them, as it would after a change behind its back.
func (c *cluster) simulateSharded(t *testing.T, db, coll string, chunks []int) {
	t.Helper()
	ctx := ctxT(t)
	cfg := c.direct(t, 0).Database("config")
	ns := db + "." + coll
	uuid := bson.Binary{Subtype: 4, Data: []byte(fmt.Sprintf("%-16.16s", ns))}
	epoch := bson.NewObjectID()
	ts := bson.Timestamp{T: uint32(time.Now().Unix()), I: 1}
	if _, err := cfg.Collection("collections").InsertOne(ctx, bson.D{
		{Key: "_id", Value: ns}, {Key: "lastmodEpoch", Value: epoch}, {Key: "lastmod", Value: time.Now()},
		{Key: "timestamp", Value: ts}, {Key: "uuid", Value: uuid}, {Key: "key", Value: bson.D{{Key: "_id", Value: "hashed"}}},
		{Key: "unique", Value: false}, {Key: "noBalance", Value: true}, {Key: "permitMigrations", Value: false},
	}); err != nil {
		t.Fatal(err)
	}
	var docs []any
	k := 0
	for i, n := range chunks {
		for range n {
			var min any = int64(k)
			if k == 0 {
				min = bson.MinKey{}
			}
			docs = append(docs, bson.D{{Key: "_id", Value: bson.NewObjectID()}, {Key: "uuid", Value: uuid},
				{Key: "min", Value: bson.D{{Key: "_id", Value: min}}}, {Key: "max", Value: bson.D{{Key: "_id", Value: int64(k + 1)}}},
				{Key: "shard", Value: c.sets[i].shard}, {Key: "lastmod", Value: bson.Timestamp{T: 1, I: uint32(k)}}})
			k++
		}
	}
	if _, err := cfg.Collection("chunks").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	flush := func() { runCmd(t, c.client(t).Database("admin"), bson.D{{Key: "flushRouterConfig", Value: ns}}) }
	flush()
	t.Cleanup(func() {
		ctx := ctxT(t)
		_, _ = cfg.Collection("collections").DeleteOne(ctx, bson.D{{Key: "_id", Value: ns}})
		_, _ = cfg.Collection("chunks").DeleteMany(ctx, bson.D{{Key: "uuid", Value: uuid}})
		flush()
	})
}

func runCmd(t *testing.T, db *mongo.Database, cmd bson.D) bson.Raw {
	t.Helper()
	raw, err := db.RunCommand(ctxT(t), cmd).Raw()
	if err != nil {
		t.Fatalf("%v: %v", cmd[0].Key, err)
	}
	return raw
}

func num(t *testing.T, doc bson.Raw, path ...string) float64 {
	t.Helper()
	v, err := doc.LookupErr(path...)
	if err != nil {
		t.Fatalf("%v: no %v", doc, path)
	}
	f, ok := v.AsFloat64OK()
	if !ok {
		n, ok := v.AsInt64OK()
		if !ok {
			t.Fatalf("%v: %v is not a number", doc, path)
		}
		f = float64(n)
	}
	return f
}

// TestDBStatsEveryShard: dbStats asks every shard, as mongos 8.0 does, and sums what they hold of
// the database; raw has each shard's own reply by its connection string, and the average object
// size is over every object.
func TestDBStatsEveryShard(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	p := c.spread(t, "stats", "c", 3, 5)
	if _, err := c.direct(t, 1-p).Database("stats").Collection("other").InsertOne(ctxT(t), bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, scale := range []int32{1, 7} {
		got := runCmd(t, c.client(t).Database("stats"), bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: scale}})
		var own [2]bson.Raw
		var objects, data, indexes, collections float64
		var bytes float64
		for i := range c.sets {
			own[i] = runCmd(t, c.direct(t, i).Database("stats"), bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: scale}})
			objects += num(t, own[i], "objects")
			bytes += num(t, own[i], "avgObjSize") * num(t, own[i], "objects")
			data += num(t, own[i], "dataSize")
			indexes += num(t, own[i], "indexes")
			collections += num(t, own[i], "collections")
			raw := got.Lookup("raw", c.sets[i].Name()+"/"+strings.Join(slices.Sorted(slices.Values(c.sets[i].Hosts())), ","))
			if d, ok := raw.DocumentOK(); !ok || num(t, d, "objects") != num(t, own[i], "objects") {
				t.Fatalf("scale %d: raw of shard %s is %v, want its own dbStats %v", scale, c.sets[i].shard, raw, own[i])
			}
		}
		if objects != 9 || num(t, got, "objects") != objects || num(t, got, "collections") != collections || collections != 3 ||
			num(t, got, "indexes") != indexes || num(t, got, "dataSize") != data || num(t, got, "scaleFactor") != float64(scale) {
			t.Fatalf("scale %d: dbStats %v, want the sums of %v and %v", scale, got, own[0], own[1])
		}
		if avg := num(t, got, "avgObjSize"); math.Abs(avg-bytes/objects) > 1e-9 {
			t.Fatalf("avgObjSize %v, want %v over every object", avg, bytes/objects)
		}
		if db, _ := got.Lookup("db").StringValueOK(); db != "stats" {
			t.Fatalf("db %q", db)
		}
	}
	err := c.client(t).Database("stats").RunCommand(ctxT(t), bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: 0}}).Err()
	wantCommandError(t, err, 2) // BadValue "Scale must be greater than zero"
	err = c.client(t).Database("stats").RunCommand(ctxT(t), bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: "x"}}).Err()
	wantCommandError(t, err, 14)
}

// TestCollStatsUnshardedOnItsPrimary: an unsharded collection is on its database's primary shard
// only, as mongos targets it, and collStats names that shard.
func TestCollStatsUnshardedOnItsPrimary(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	p := c.spread(t, "stats", "c", 4, 3) // the 3 on the other shard are not the collection's
	got := runCmd(t, c.client(t).Database("stats"), bson.D{{Key: "collStats", Value: "c"}})
	own := runCmd(t, c.direct(t, p).Database("stats"), bson.D{{Key: "collStats", Value: "c"}})
	primary, _ := got.Lookup("primary").StringValueOK()
	sharded, _ := got.Lookup("sharded").BooleanOK()
	shardsDoc, _ := got.Lookup("shards").DocumentOK()
	elems, _ := shardsDoc.Elements()
	if sharded || primary != c.sets[p].shard || len(elems) != 1 || elems[0].Key() != primary ||
		num(t, got, "count") != 4 || num(t, got, "size") != num(t, own, "size") || num(t, got, "nchunks") != 1 {
		t.Fatalf("collStats %v, want the primary %s's alone: %v", got, c.sets[p].shard, own)
	}
	if ns, _ := got.Lookup("ns").StringValueOK(); ns != "stats.c" {
		t.Fatalf("ns %q", ns)
	}
}

// TestCollStatsShardedMerged: a collection whose chunks are on both shards is asked of both, and
// merged as mongos merges: counts and sizes summed and scaled once summed, the average object
// size over every document, index sizes summed per index, and each shard's own figures scaled
// under shards.
func TestCollStatsShardedMerged(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	c.spread(t, "stats", "c", 3, 4)
	c.simulateSharded(t, "stats", "c", []int{2, 3})
	const scale = 2
	got := runCmd(t, c.client(t).Database("stats"), bson.D{{Key: "collStats", Value: "c"}, {Key: "scale", Value: scale}})
	var count, size, storage, index, idIndex, bytes float64
	shardsDoc := got.Lookup("shards").Document()
	for i := range c.sets {
		own := runCmd(t, c.direct(t, i).Database("stats"), bson.D{{Key: "collStats", Value: "c"}})
		count += num(t, own, "count")
		size += num(t, own, "size")
		storage += num(t, own, "storageSize")
		index += num(t, own, "totalIndexSize")
		idIndex += num(t, own, "indexSizes", "_id_")
		bytes += num(t, own, "avgObjSize") * num(t, own, "count")
		mine, err := shardsDoc.LookupErr(c.sets[i].shard)
		if err != nil {
			t.Fatalf("shards %v has no %s", shardsDoc, c.sets[i].shard)
		}
		if d := mine.Document(); num(t, d, "size") != math.Floor(num(t, own, "size")/scale) || num(t, d, "count") != num(t, own, "count") ||
			num(t, d, "scaleFactor") != scale {
			t.Fatalf("shards.%s = %v, want %v scaled by %d", c.sets[i].shard, d, own, scale)
		}
	}
	sharded, _ := got.Lookup("sharded").BooleanOK()
	if _, hasPrimary := got.LookupErr("primary"); !sharded || hasPrimary == nil || num(t, got, "nchunks") != 5 {
		t.Fatalf("collStats %v, want sharded with 5 chunks and no primary", got)
	}
	if num(t, got, "count") != 7 || count != 7 || num(t, got, "size") != math.Floor(size/scale) ||
		num(t, got, "storageSize") != math.Floor(storage/scale) || num(t, got, "totalIndexSize") != math.Floor(index/scale) ||
		num(t, got, "indexSizes", "_id_") != math.Floor(idIndex/scale) || num(t, got, "scaleFactor") != scale {
		t.Fatalf("collStats %v, want the sums (size %v, storage %v, index %v) divided by %d once summed", got, size, storage, index, scale)
	}
	if avg := num(t, got, "avgObjSize"); math.Abs(avg-bytes/count) > 1e-9 {
		t.Fatalf("avgObjSize %v, want %v", avg, bytes/count)
	}
}

// TestCollStatsStagePerShard: $collStats answers one document per shard that holds the
// collection, each with its shard's name after ns, and the stages after it run over those.
func TestCollStatsStagePerShard(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	p := c.spread(t, "stats", "c", 2, 5)
	coll := c.client(t).Database("stats").Collection("c")
	read := func(pipeline mongo.Pipeline) []bson.Raw { return aggregateDocs(t, coll, pipeline) }
	stage := bson.D{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{}}, {Key: "count", Value: bson.D{}}}}}
	docs := read(mongo.Pipeline{stage})
	if len(docs) != 1 || docs[0].Lookup("shard").StringValue() != c.sets[p].shard || num(t, docs[0], "count") != 2 {
		t.Fatalf("unsharded: %v, want one document from %s", docs, c.sets[p].shard)
	}
	c.simulateSharded(t, "stats", "c", []int{1, 1})
	docs = read(mongo.Pipeline{stage})
	if len(docs) != 2 {
		t.Fatalf("sharded: %d documents, want one per shard: %v", len(docs), docs)
	}
	counts := map[string]float64{}
	for _, d := range docs {
		elems, _ := d.Elements()
		if elems[0].Key() != "ns" || elems[1].Key() != "shard" || d.Lookup("ns").StringValue() != "stats.c" {
			t.Fatalf("%v: want ns, then shard", d)
		}
		counts[d.Lookup("shard").StringValue()] = num(t, d, "storageStats", "count")
	}
	if counts[c.sets[p].shard] != 2 || counts[c.sets[1-p].shard] != 5 {
		t.Fatalf("counts by shard %v", counts)
	}
	docs = read(mongo.Pipeline{stage, {{Key: "$group", Value: bson.D{{Key: "_id", Value: nil},
		{Key: "total", Value: bson.D{{Key: "$sum", Value: "$storageStats.count"}}}}}}})
	if len(docs) != 1 || num(t, docs[0], "total") != 7 {
		t.Fatalf("$group after $collStats: %v, want the total of both shards", docs)
	}
	_, err := coll.Aggregate(ctxT(t), mongo.Pipeline{{{Key: "$collStats", Value: 1}}})
	wantCommandError(t, err, 40166)
}

// TestDataSizeSummed: dataSize sums size and numObjects over the shards that hold the
// namespace, within the key range when one is given.
func TestDataSizeSummed(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	c.spread(t, "stats", "c", 3, 4)
	c.simulateSharded(t, "stats", "c", []int{1, 1})
	admin := c.client(t).Database("admin")
	got := runCmd(t, admin, bson.D{{Key: "dataSize", Value: "stats.c"}})
	var size float64
	for i := range c.sets {
		size += num(t, runCmd(t, c.direct(t, i).Database("stats"), bson.D{{Key: "collStats", Value: "c"}}), "size")
	}
	if num(t, got, "numObjects") != 7 || num(t, got, "size") != size {
		t.Fatalf("dataSize %v, want 7 objects of %v bytes", got, size)
	}
	ranged := runCmd(t, admin, bson.D{{Key: "dataSize", Value: "stats.c"}, {Key: "keyPattern", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "min", Value: bson.D{{Key: "_id", Value: 2}}}, {Key: "max", Value: bson.D{{Key: "_id", Value: 5}}}})
	if num(t, ranged, "numObjects") != 3 {
		t.Fatalf("dataSize of [2, 5): %v, want 3 objects, one from the primary and two from the other shard", ranged)
	}
	err := admin.RunCommand(ctxT(t), bson.D{{Key: "dataSize", Value: "nodot"}}).Err()
	wantCommandError(t, err, 73)
}
