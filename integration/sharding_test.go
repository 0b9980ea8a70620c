package integration

import (
	"errors"
	"math"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
)

// Sharding a collection (docs/architecture.md, "Sharded collections"): shardCollection through
// the driver, the metadata in mongos's shapes, the collection and its hashed index on every
// shard, documents on the shard their chunk names, and every refusal with its reason.

// shardColl shards ns on {key: "hashed"} through cl, with extra options.
func shardColl(t *testing.T, cl *mongo.Client, ns, key string, extra ...bson.E) bson.Raw {
	t.Helper()
	cmd := append(bson.D{{Key: "shardCollection", Value: ns}, {Key: "key", Value: bson.D{{Key: key, Value: "hashed"}}}}, extra...)
	return runCmd(t, cl.Database("admin"), cmd)
}

// chunk is a config.chunks entry: its hashed lower bound (MinInt64 for MinKey) and its shard.
type chunk struct {
	min   int64
	shard string
}

// chunksOf reads ns's chunks from the config shard, in order.
func (c *cluster) chunksOf(t *testing.T, ns, key string) []chunk {
	t.Helper()
	ctx := ctxT(t)
	cfg := c.direct(t, 0).Database("config")
	var entry struct {
		UUID bson.Binary `bson:"uuid"`
	}
	if err := cfg.Collection("collections").FindOne(ctx, bson.D{{Key: "_id", Value: ns}}).Decode(&entry); err != nil {
		t.Fatalf("config.collections entry of %s: %v", ns, err)
	}
	cur, err := cfg.Collection("chunks").Find(ctx, bson.D{{Key: "uuid", Value: entry.UUID}})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	var out []chunk
	for _, d := range docs {
		min := d.Lookup("min", key)
		h, ok := min.AsInt64OK()
		if min.Type == bson.TypeMinKey {
			h, ok = math.MinInt64, true
		}
		if !ok {
			t.Fatalf("chunk %v: min is not a hashed value", d)
		}
		out = append(out, chunk{min: h, shard: d.Lookup("shard").StringValue()})
	}
	slices.SortFunc(out, func(a, b chunk) int {
		switch {
		case a.min < b.min:
			return -1
		case a.min > b.min:
			return 1
		}
		return 0
	})
	return out
}

// owner is the shard whose chunk holds hash h: the last chunk that starts at or below it.
func owner(chunks []chunk, h int64) string {
	shard := ""
	for _, ch := range chunks {
		if ch.min <= h {
			shard = ch.shard
		}
	}
	return shard
}

// hashOf is mongod's hashed-index key of doc's key field (null when missing).
func hashOf(t *testing.T, doc bson.Raw, key string) int64 {
	t.Helper()
	v, err := doc.LookupErr(key)
	val := bsoncore.Value{Type: bsoncore.TypeNull}
	if err == nil {
		val = bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}
	}
	h, err := hashkey.Hash(val)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// docsOn reads every document of db.coll on shard i directly.
func (c *cluster) docsOn(t *testing.T, i int, db, coll string) []bson.Raw {
	t.Helper()
	ctx := ctxT(t)
	cur, err := c.direct(t, i).Database(db).Collection(coll).Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// checkPlacement fails unless every document of db.coll on every shard is on the shard its
// key's chunk names, and returns how many there are in all.
func (c *cluster) checkPlacement(t *testing.T, db, coll, key string) int {
	t.Helper()
	chunks := c.chunksOf(t, db+"."+coll, key)
	total := 0
	for i, rs := range c.sets {
		for _, d := range c.docsOn(t, i, db, coll) {
			if want := owner(chunks, hashOf(t, d, key)); want != rs.shard {
				t.Errorf("%v is on shard %s, its chunk is on %s", d, rs.shard, want)
			}
			total++
		}
	}
	return total
}

func TestShardCollection(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "enableSharding", Value: "shop"}}).Err(); err != nil {
		t.Fatal(err)
	}
	reply := shardColl(t, cl, "shop.orders", "customer")
	if got := reply.Lookup("collectionsharded").StringValue(); got != "shop.orders" {
		t.Fatalf("reply %v", reply)
	}
	// mongos's shapes in config.collections and config.chunks.
	var entry bson.Raw
	cfg := c.direct(t, 0).Database("config")
	if err := cfg.Collection("collections").FindOne(ctx, bson.D{{Key: "_id", Value: "shop.orders"}}).Decode(&entry); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"lastmodEpoch", "lastmod", "timestamp", "uuid", "key", "unique"} {
		if _, err := entry.LookupErr(f); err != nil {
			t.Errorf("config.collections entry %v lacks %s", entry, f)
		}
	}
	if k := entry.Lookup("key", "customer").StringValue(); k != "hashed" {
		t.Fatalf("key %v", entry)
	}
	// 2 chunks per shard, splitting the hash space evenly, each shard holding 2.
	chunks := c.chunksOf(t, "shop.orders", "customer")
	if len(chunks) != 6 || chunks[0].min != math.MinInt64 {
		t.Fatalf("chunks %v, want 6 from MinKey", chunks)
	}
	perShard := map[string]int{}
	for i, ch := range chunks {
		perShard[ch.shard]++
		if i >= 2 {
			width := float64(ch.min) - float64(chunks[i-1].min)
			if want := float64(math.MaxInt64) / 3; math.Abs(width-want) > 2 {
				t.Errorf("chunk %d is %.0f wide, want %.0f", i-1, width, want)
			}
		}
	}
	for _, rs := range c.sets {
		if perShard[rs.shard] != 2 {
			t.Fatalf("chunks per shard %v, want 2 on each", perShard)
		}
	}
	var first bson.Raw
	if err := cfg.Collection("chunks").FindOne(ctx, bson.D{}).Decode(&first); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"uuid", "min", "max", "shard", "lastmod"} {
		if _, err := first.LookupErr(f); err != nil {
			t.Errorf("config.chunks entry %v lacks %s", first, f)
		}
	}
	if !entry.Lookup("uuid").Equal(first.Lookup("uuid")) {
		t.Errorf("chunk uuid %v, collection uuid %v", first.Lookup("uuid"), entry.Lookup("uuid"))
	}
	// The collection and its hashed index on every shard.
	for i, rs := range c.sets {
		specs, err := c.direct(t, i).Database("shop").Collection("orders").Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatalf("shard %s: %v", rs.shard, err)
		}
		if !slices.ContainsFunc(specs, func(s mongo.IndexSpecification) bool {
			return s.Name == "customer_hashed" && bson.Raw(s.KeysDocument).Lookup("customer").StringValue() == "hashed"
		}) {
			t.Errorf("shard %s has no hashed index: %v", rs.shard, specs)
		}
	}
	// Documents land on the shard of their chunk, on every shard.
	var docs []any
	for i := range 300 {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "customer", Value: i * 7}})
	}
	docs = append(docs, bson.D{{Key: "_id", Value: "nokey"}}) // a missing key hashes as null
	if _, err := cl.Database("shop").Collection("orders").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if n := c.checkPlacement(t, "shop", "orders", "customer"); n != len(docs) {
		t.Fatalf("%d documents on the shards, %d inserted", n, len(docs))
	}
	for i, rs := range c.sets {
		if n := c.countOn(t, i, "shop", "orders"); n < 50 {
			t.Errorf("shard %s holds %d of 301 documents", rs.shard, n)
		}
	}
	// Sharding again on the same key succeeds; on another it does not.
	shardColl(t, cl, "shop.orders", "customer")
	err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "shardCollection", Value: "shop.orders"},
		{Key: "key", Value: bson.D{{Key: "other", Value: "hashed"}}}}).Err()
	wantCodeName(t, err, "AlreadyInitialized")
}

// wantCodeName fails unless err is a server error named name.
func wantCodeName(t *testing.T, err error, name string) {
	t.Helper()
	if !hasCodeName(err, name) {
		t.Fatalf("%v, want %s", err, name)
	}
}

func TestShardCollectionRefusals(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	if _, err := cl.Database("r").Collection("full").InsertOne(ctx, bson.D{{Key: "a", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cmd  bson.D
		code string
	}{
		{"range key", bson.D{{Key: "shardCollection", Value: "r.c"}, {Key: "key", Value: bson.D{{Key: "a", Value: 1}}}}, "InvalidOptions"},
		{"compound key", bson.D{{Key: "shardCollection", Value: "r.c"}, {Key: "key", Value: bson.D{{Key: "a", Value: "hashed"}, {Key: "b", Value: 1}}}}, "InvalidOptions"},
		{"unique", bson.D{{Key: "shardCollection", Value: "r.c"}, {Key: "key", Value: bson.D{{Key: "a", Value: "hashed"}}}, {Key: "unique", Value: true}}, "InvalidOptions"},
		{"not empty", bson.D{{Key: "shardCollection", Value: "r.full"}, {Key: "key", Value: bson.D{{Key: "a", Value: "hashed"}}}}, "IllegalOperation"},
		{"bad pattern", bson.D{{Key: "shardCollection", Value: "r.c"}, {Key: "key", Value: bson.D{{Key: "a", Value: "text"}}}}, "BadValue"},
		{"too many chunks", bson.D{{Key: "shardCollection", Value: "r.c"}, {Key: "key", Value: bson.D{{Key: "a", Value: "hashed"}}}, {Key: "numInitialChunks", Value: 20000}}, "InvalidOptions"},
		{"system namespace", bson.D{{Key: "shardCollection", Value: "r.system.x"}, {Key: "key", Value: bson.D{{Key: "a", Value: "hashed"}}}}, "IllegalOperation"},
		{"no key", bson.D{{Key: "shardCollection", Value: "r.c"}}, "Location40414"},
	} {
		err := cl.Database("admin").RunCommand(ctx, tc.cmd).Err()
		var ce mongo.CommandError
		if !errors.As(err, &ce) || ce.Name != tc.code && !(tc.code == "Location40414" && ce.Code == 40414) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	// Nothing was sharded, and the non-empty collection kept its document where it was.
	if n, err := c.direct(t, 0).Database("config").Collection("collections").CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
		t.Fatalf("config.collections holds %d entries (%v)", n, err)
	}
	err := cl.Database("r").RunCommand(ctx, bson.D{{Key: "shardCollection", Value: "r.c"}, {Key: "key", Value: bson.D{{Key: "a", Value: "hashed"}}}}).Err()
	wantCodeName(t, err, "Unauthorized") // admin only
	// numInitialChunks is honoured.
	shardColl(t, cl, "r.five", "a", bson.E{Key: "numInitialChunks", Value: 5})
	if n := len(c.chunksOf(t, "r.five", "a")); n != 5 {
		t.Fatalf("%d chunks, want 5", n)
	}
}

// Dropping a sharded collection, and its database, removes the documents on every shard and
// the metadata; the name can then be used again, unsharded.
func TestDropShardedCollection(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	insertN := func(coll string, n int) {
		t.Helper()
		var docs []any
		for i := range n {
			docs = append(docs, bson.D{{Key: "k", Value: i}})
		}
		if _, err := cl.Database("d").Collection(coll).InsertMany(ctx, docs); err != nil {
			t.Fatal(err)
		}
	}
	shardColl(t, cl, "d.a", "k")
	shardColl(t, cl, "d.b", "k")
	insertN("a", 100)
	insertN("b", 100)
	for i := range c.sets {
		if c.countOn(t, i, "d", "a") == 0 {
			t.Fatalf("shard %d holds nothing of d.a", i)
		}
	}
	if err := cl.Database("d").Collection("a").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := c.direct(t, 0).Database("config")
	for i := range c.sets {
		if n := c.countOn(t, i, "d", "a"); n != 0 {
			t.Fatalf("shard %d still holds %d documents of the dropped d.a", i, n)
		}
	}
	if n, _ := cfg.Collection("collections").CountDocuments(ctx, bson.D{{Key: "_id", Value: "d.a"}}); n != 0 {
		t.Fatal("d.a is still in config.collections")
	}
	// d.b's chunks are all that is left.
	if n, _ := cfg.Collection("chunks").CountDocuments(ctx, bson.D{}); n != 4 {
		t.Fatalf("%d chunks left, want d.b's 4", n)
	}
	// The name again, unsharded: everything on the database's primary shard.
	insertN("a", 10)
	p := c.primaryOf(t, "d")
	if n := c.countOn(t, p, "d", "a"); n != 10 {
		t.Fatalf("the primary shard holds %d of 10 documents of the new d.a", n)
	}
	if err := cl.Database("d").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range c.sets {
		if n := c.countOn(t, i, "d", "b"); n != 0 {
			t.Fatalf("shard %d still holds %d documents of d.b after dropDatabase", i, n)
		}
	}
	for _, coll := range []string{"collections", "chunks", "databases"} {
		if n, _ := cfg.Collection(coll).CountDocuments(ctx, bson.D{}); n != 0 {
			t.Fatalf("config.%s holds %d entries after dropDatabase", coll, n)
		}
	}
}

// A cluster of one shard shards a collection as mongos does (every chunk on it), and a drop
// removes the metadata even though the router routes everything to the one shard.
func TestShardCollectionOnOneShard(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	shardColl(t, cl, "one.c", "k")
	chunks := c.chunksOf(t, "one.c", "k")
	if len(chunks) != 2 || chunks[0].shard != c.sets[0].shard || chunks[1].shard != c.sets[0].shard {
		t.Fatalf("chunks %v, want 2 on the one shard", chunks)
	}
	if _, err := cl.Database("one").Collection("c").InsertMany(ctx, kDocs(0, 10)); err != nil {
		t.Fatal(err)
	}
	if err := cl.Database("one").Collection("c").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := c.direct(t, 0).Database("config")
	for _, coll := range []string{"collections", "chunks"} {
		if n, _ := cfg.Collection(coll).CountDocuments(ctx, bson.D{}); n != 0 {
			t.Fatalf("config.%s holds %d entries after the drop", coll, n)
		}
	}
}
