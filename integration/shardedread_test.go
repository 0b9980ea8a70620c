package integration

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
)

// Reads of a sharded collection through the router return exactly what the same reads return on
// an unsharded collection holding the same documents (a differential test, random but seeded).

// hashedByHand shards db.coll on {key: "hashed"} with chunksPerShard chunks on every shard,
// written into config.collections and config.chunks as shardCollection writes them, and puts
// each of docs on the shard its chunk names.
func (c *cluster) hashedByHand(t *testing.T, db, coll, key string, chunksPerShard int, docs []bson.D) {
	t.Helper()
	ctx := ctxT(t)
	cfg := c.direct(t, 0).Database("config")
	ns := db + "." + coll
	uuid := bson.Binary{Subtype: 4, Data: []byte(fmt.Sprintf("%-16.16s", ns))}
	if _, err := cfg.Collection("collections").InsertOne(ctx, bson.D{{Key: "_id", Value: ns},
		{Key: "uuid", Value: uuid}, {Key: "timestamp", Value: bson.Timestamp{T: 1, I: 1}},
		{Key: "key", Value: bson.D{{Key: key, Value: "hashed"}}}}); err != nil {
		t.Fatal(err)
	}
	n := len(c.sets) * chunksPerShard
	splits := hashkey.SplitPoints(n)
	bound := func(i int) any {
		switch {
		case i == 0:
			return bson.MinKey{}
		case i == n:
			return bson.MaxKey{}
		}
		return splits[i-1]
	}
	var chunks []any
	owner := func(h int64) int {
		i, _ := slices.BinarySearch(splits, h+1)
		return i % len(c.sets)
	}
	for i := range n {
		chunks = append(chunks, bson.D{{Key: "uuid", Value: uuid}, {Key: "min", Value: bson.D{{Key: key, Value: bound(i)}}},
			{Key: "max", Value: bson.D{{Key: key, Value: bound(i + 1)}}}, {Key: "shard", Value: c.sets[i%len(c.sets)].shard}})
	}
	if _, err := cfg.Collection("chunks").InsertMany(ctx, chunks); err != nil {
		t.Fatal(err)
	}
	perShard := make([][]any, len(c.sets))
	for _, d := range docs {
		raw, _ := bson.Marshal(d)
		v := bsoncore.Document(raw).Lookup(key)
		if v.Type == 0 {
			v = bsoncore.Value{Type: bsoncore.TypeNull}
		}
		h, err := hashkey.Hash(v)
		if err != nil {
			t.Fatal(err)
		}
		perShard[owner(h)] = append(perShard[owner(h)], d)
	}
	for i, part := range perShard {
		if len(part) > 0 {
			if _, err := c.direct(t, i).Database(db).Collection(coll).InsertMany(ctx, part); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// differentialDocs are n documents with a hashed key x, small-range fields to filter and sort
// on, strings, arrays and missing fields.
func differentialDocs(rng *rand.Rand, n int) []bson.D {
	words := []string{"apple", "Banana", "cherry", "date", "Elder", "fig"}
	docs := make([]bson.D, n)
	for i := range docs {
		d := bson.D{{Key: "_id", Value: i}, {Key: "x", Value: rng.IntN(n)}, {Key: "y", Value: rng.IntN(7)}}
		if rng.IntN(5) > 0 {
			d = append(d, bson.E{Key: "s", Value: words[rng.IntN(len(words))]})
		}
		if rng.IntN(4) == 0 {
			d = append(d, bson.E{Key: "a", Value: bson.A{rng.IntN(10), rng.IntN(10)}})
		}
		docs[i] = d
	}
	return docs
}

// randomFind is a find with a random filter, sort, projection, skip, limit and batch size. The
// sorts end with _id, so that the order is total and the two collections must agree on it.
func randomFind(rng *rand.Rand) (filter bson.D, opts *options.FindOptionsBuilder, sorted bool) {
	filters := []bson.D{
		{},
		{{Key: "y", Value: rng.IntN(7)}},
		{{Key: "x", Value: rng.IntN(200)}},
		{{Key: "x", Value: bson.D{{Key: "$in", Value: bson.A{rng.IntN(200), rng.IntN(200), rng.IntN(200)}}}}},
		{{Key: "y", Value: bson.D{{Key: "$gte", Value: rng.IntN(7)}}}},
		{{Key: "$and", Value: bson.A{bson.D{{Key: "x", Value: rng.IntN(200)}}, bson.D{{Key: "y", Value: bson.D{{Key: "$lt", Value: 5}}}}}}},
		{{Key: "s", Value: bson.D{{Key: "$exists", Value: true}}}},
	}
	sorts := []bson.D{
		nil,
		{{Key: "y", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "x", Value: -1}, {Key: "_id", Value: 1}},
		{{Key: "s", Value: 1}, {Key: "_id", Value: -1}},
		{{Key: "a", Value: 1}, {Key: "_id", Value: 1}},
		{{Key: "y", Value: -1}, {Key: "s", Value: -1}, {Key: "_id", Value: 1}},
	}
	projections := []bson.D{nil, {{Key: "y", Value: 1}}, {{Key: "_id", Value: 0}, {Key: "s", Value: 1}}, {{Key: "a", Value: 0}}}
	filter = filters[rng.IntN(len(filters))]
	opts = options.Find()
	sort := sorts[rng.IntN(len(sorts))]
	if sort != nil {
		opts.SetSort(sort)
	}
	if p := projections[rng.IntN(len(projections))]; p != nil {
		opts.SetProjection(p)
	}
	if sort != nil && rng.IntN(2) == 0 { // a skip or a limit without a total order picks any documents
		opts.SetSkip(int64(rng.IntN(30)))
	}
	if sort != nil && rng.IntN(2) == 0 {
		opts.SetLimit(int64(1 + rng.IntN(40)))
	}
	opts.SetBatchSize(int32(rng.IntN(25)))
	return filter, opts, sort != nil
}

func readAll(t *testing.T, coll *mongo.Collection, filter bson.D, opts *options.FindOptionsBuilder) []string {
	t.Helper()
	cur, err := coll.Find(ctxT(t), filter, opts)
	if err != nil {
		t.Fatalf("find %v: %v", filter, err)
	}
	var out []string
	for cur.Next(ctxT(t)) {
		out = append(out, cur.Current.String())
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("find %v: %v", filter, err)
	}
	return out
}

func TestShardedFindDifferential(t *testing.T) {
	requireMemshard(t, "it writes a sharded collection's metadata and chunks by hand")
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	rng := rand.New(rand.NewPCG(15, 1))
	docs := differentialDocs(rng, 200)
	db := cl.Database("diff")
	plain := db.Collection("plain")
	if _, err := plain.InsertMany(ctxT(t), docs); err != nil {
		t.Fatal(err)
	}
	c.hashedByHand(t, "diff", "sharded", "x", 2, docs)
	for i := range c.sets {
		if n := c.countOn(t, i, "diff", "sharded"); n == 0 {
			t.Fatalf("shard %d holds none of the sharded collection", i)
		}
	}
	sharded := db.Collection("sharded")
	for i := range 300 {
		filter, opts, sorted := randomFind(rng)
		want := readAll(t, plain, filter, opts)
		got := readAll(t, sharded, filter, opts)
		if !sorted {
			slices.Sort(want)
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d: find %v %+v:\nsharded (%d): %s\nunsharded (%d): %s", i, filter, opts, len(got),
				strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
		}
	}
}
