package integration

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Reads of a sharded collection through the router return exactly what the same reads return on
// an unsharded collection holding the same documents (a differential test, random but seeded).

// hashedSharded shards db.coll on {key: "hashed"} through the router, with chunksPerShard
// chunks on every shard, and inserts docs through it.
func (c *cluster) hashedSharded(t *testing.T, db, coll, key string, chunksPerShard int, docs []bson.D) {
	t.Helper()
	cl := c.client(t)
	shardColl(t, cl, db+"."+coll, key, bson.E{Key: "numInitialChunks", Value: chunksPerShard * len(c.sets)})
	if len(docs) == 0 {
		return
	}
	if _, err := cl.Database(db).Collection(coll).InsertMany(ctxT(t), docs, options.InsertMany().SetOrdered(false)); err != nil {
		t.Fatal(err)
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

// differentialPair is 200 random documents (seeded) in dbName.plain, unsharded, and in
// dbName.sharded, sharded over 3 shards with 2 chunks each, every shard holding some.
func differentialPair(t *testing.T, dbName string, rng *rand.Rand) (plain, sharded *mongo.Collection) {
	t.Helper()
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	docs := differentialDocs(rng, 200)
	db := c.client(t).Database(dbName)
	plain = db.Collection("plain")
	if _, err := plain.InsertMany(ctxT(t), docs); err != nil {
		t.Fatal(err)
	}
	c.hashedSharded(t, dbName, "sharded", "x", 2, docs)
	for i := range c.sets {
		if n := c.countOn(t, i, dbName, "sharded"); n == 0 {
			t.Fatalf("shard %d holds none of the sharded collection", i)
		}
	}
	return plain, db.Collection("sharded")
}

func TestShardedFindDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 1))
	plain, sharded := differentialPair(t, "diff", rng)
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
		countOpts := options.Count()
		if rng.IntN(2) == 0 {
			countOpts.SetSkip(int64(rng.IntN(30)))
		}
		if rng.IntN(2) == 0 {
			countOpts.SetLimit(int64(1 + rng.IntN(40)))
		}
		wantN, err1 := plain.CountDocuments(ctxT(t), filter, countOpts)
		gotN, err2 := sharded.CountDocuments(ctxT(t), filter, countOpts)
		if err1 != nil || err2 != nil || gotN != wantN {
			t.Fatalf("query %d: countDocuments %v: sharded %d (%v), unsharded %d (%v)", i, filter, gotN, err2, wantN, err1)
		}
		field := []string{"y", "s", "a", "x"}[rng.IntN(4)]
		wantV, got2 := distinctOf(t, plain, field, filter), distinctOf(t, sharded, field, filter)
		if !slices.Equal(got2, wantV) {
			t.Fatalf("query %d: distinct %s %v: sharded %v, unsharded %v", i, field, filter, got2, wantV)
		}
	}
	// estimatedDocumentCount is a count without a query, summed over the shards.
	if n, err := sharded.EstimatedDocumentCount(ctxT(t)); err != nil || n != 200 {
		t.Fatalf("estimatedDocumentCount: %d, %v", n, err)
	}
}

// distinctOf is distinct's values in the order the server gives them.
func distinctOf(t *testing.T, coll *mongo.Collection, field string, filter bson.D) []string {
	t.Helper()
	res := coll.Distinct(ctxT(t), field, filter)
	if err := res.Err(); err != nil {
		t.Fatalf("distinct %s: %v", field, err)
	}
	raw, err := res.Raw()
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := raw.Values()
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = v.String()
	}
	return out
}

// randomPipeline is an aggregate from the stages the router splits; ordered reports a result whose
// order is defined (else it is compared as a set).
func randomPipeline(rng *rand.Rand) (pipeline mongo.Pipeline, ordered bool) {
	match := bson.D{{Key: "$match", Value: bson.D{{Key: "y", Value: bson.D{{Key: "$gte", Value: rng.IntN(4)}}}}}}
	switch rng.IntN(8) {
	case 0:
		return mongo.Pipeline{match, {{Key: "$group", Value: bson.D{{Key: "_id", Value: "$y"},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}, {Key: "sx", Value: bson.D{{Key: "$sum", Value: "$x"}}},
			{Key: "avg", Value: bson.D{{Key: "$avg", Value: "$x"}}}, {Key: "avgS", Value: bson.D{{Key: "$avg", Value: "$s"}}},
			{Key: "mn", Value: bson.D{{Key: "$min", Value: "$s"}}}, {Key: "mx", Value: bson.D{{Key: "$max", Value: "$x"}}},
			{Key: "c", Value: bson.D{{Key: "$count", Value: bson.D{}}}},
			{Key: "p", Value: bson.D{{Key: "$push", Value: "$x"}}}, {Key: "st", Value: bson.D{{Key: "$addToSet", Value: "$s"}}}}}},
			{{Key: "$sort", Value: bson.D{{Key: "_id", Value: 1}}}}}, true
	case 1:
		return mongo.Pipeline{{{Key: "$sort", Value: bson.D{{Key: "x", Value: -1}, {Key: "_id", Value: 1}}}},
			{{Key: "$skip", Value: rng.IntN(20)}}, {{Key: "$limit", Value: 1 + rng.IntN(30)}},
			{{Key: "$project", Value: bson.D{{Key: "x", Value: 1}}}}}, true
	case 2:
		return mongo.Pipeline{match, {{Key: "$unwind", Value: "$a"}}, {{Key: "$sort", Value: bson.D{{Key: "a", Value: 1}, {Key: "_id", Value: 1}}}},
			{{Key: "$limit", Value: 1 + rng.IntN(40)}}}, true
	case 3:
		return mongo.Pipeline{match, {{Key: "$count", Value: "total"}}}, true
	case 4:
		return mongo.Pipeline{{{Key: "$sortByCount", Value: "$s"}}}, false
	case 5:
		return mongo.Pipeline{{{Key: "$set", Value: bson.D{{Key: "z", Value: bson.D{{Key: "$add", Value: bson.A{"$x", 1}}}}}}},
			{{Key: "$match", Value: bson.D{{Key: "z", Value: bson.D{{Key: "$gt", Value: rng.IntN(200)}}}}}},
			{{Key: "$sort", Value: bson.D{{Key: "z", Value: 1}, {Key: "_id", Value: 1}}}}}, true
	case 6:
		return mongo.Pipeline{{{Key: "$sort", Value: bson.D{{Key: "x", Value: 1}, {Key: "_id", Value: 1}}}},
			{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$y"}, {Key: "f", Value: bson.D{{Key: "$first", Value: "$_id"}}},
				{Key: "l", Value: bson.D{{Key: "$last", Value: "$_id"}}}}}}, {{Key: "$sort", Value: bson.D{{Key: "_id", Value: -1}}}}}, true
	}
	// Without a sort, a skip would drop documents in whatever order they come: none here.
	return mongo.Pipeline{match, {{Key: "$limit", Value: 500}}, {{Key: "$project", Value: bson.D{{Key: "y", Value: 1}, {Key: "s", Value: 1}}}}}, false
}

// aggregateAll runs an aggregate and returns its documents, each with its arrays sorted (a
// $push or $addToSet across shards may gather in another order).
func aggregateAll(t *testing.T, coll *mongo.Collection, pipeline mongo.Pipeline, batch int32) []string {
	t.Helper()
	cur, err := coll.Aggregate(ctxT(t), pipeline, options.Aggregate().SetBatchSize(batch))
	if err != nil {
		t.Fatalf("aggregate %v: %v", pipeline, err)
	}
	var out []string
	for cur.Next(ctxT(t)) {
		var d bson.D
		if err := bson.Unmarshal(cur.Current, &d); err != nil {
			t.Fatal(err)
		}
		for i, e := range d {
			if arr, ok := e.Value.(bson.A); ok && (e.Key == "p" || e.Key == "st") {
				slices.SortFunc(arr, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
				d[i].Value = arr
			}
		}
		raw, _ := bson.Marshal(d)
		out = append(out, bson.Raw(raw).String())
	}
	if err := cur.Err(); err != nil {
		t.Fatalf("aggregate %v: %v", pipeline, err)
	}
	return out
}

func TestShardedAggregateDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	plain, sharded := differentialPair(t, "diffagg", rng)
	for i := range 120 {
		pipeline, ordered := randomPipeline(rng)
		batch := int32(1 + rng.IntN(20))
		want, got := aggregateAll(t, plain, pipeline, batch), aggregateAll(t, sharded, pipeline, batch)
		if !ordered {
			slices.Sort(want)
			slices.Sort(got)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pipeline %d %v:\nsharded (%d): %s\nunsharded (%d): %s", i, pipeline, len(got),
				strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
		}
	}
	// Stages the router cannot split are refused by name, never answered by one shard.
	_, err := sharded.Aggregate(ctxT(t), mongo.Pipeline{{{Key: "$lookup", Value: bson.D{{Key: "from", Value: "plain"},
		{Key: "localField", Value: "x"}, {Key: "foreignField", Value: "x"}, {Key: "as", Value: "j"}}}}})
	if ce := (mongo.CommandError{}); !errors.As(err, &ce) || ce.Code != 115 || !strings.Contains(ce.Message, "$lookup") {
		t.Fatalf("$lookup on a sharded collection: %v", err)
	}
}

// TestShardedExplain: explain of a read of a sharded collection says how the router merges and
// holds each targeted shard's plan, as mongos's does.
func TestShardedExplain(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	rng := rand.New(rand.NewPCG(15, 3))
	c.hashedSharded(t, "ex", "h", "x", 1, differentialDocs(rng, 50))
	db := c.client(t).Database("ex")
	explain := func(cmd bson.D, verbosity string) bson.Raw {
		t.Helper()
		raw, err := db.RunCommand(ctxT(t), bson.D{{Key: "explain", Value: cmd}, {Key: "verbosity", Value: verbosity}}).Raw()
		if err != nil {
			t.Fatalf("explain %v: %v", cmd, err)
		}
		return raw
	}
	shardsOf := func(plan bson.Raw, path ...string) int {
		vals, _ := plan.Lookup(path...).Array().Values()
		return len(vals)
	}
	sorted := explain(bson.D{{Key: "find", Value: "h"}, {Key: "filter", Value: bson.D{{Key: "y", Value: 3}}},
		{Key: "sort", Value: bson.D{{Key: "y", Value: 1}}}}, "executionStats")
	if sorted.Lookup("queryPlanner", "winningPlan", "stage").StringValue() != "SHARD_MERGE_SORT" ||
		shardsOf(sorted, "queryPlanner", "winningPlan", "shards") != 3 ||
		shardsOf(sorted, "executionStats", "executionStages", "shards") != 3 {
		t.Fatalf("sorted scatter find: %v", sorted)
	}
	targeted := explain(bson.D{{Key: "find", Value: "h"}, {Key: "filter", Value: bson.D{{Key: "x", Value: 7}}}}, "queryPlanner")
	if targeted.Lookup("queryPlanner", "winningPlan", "stage").StringValue() != "SINGLE_SHARD" ||
		shardsOf(targeted, "queryPlanner", "winningPlan", "shards") != 1 {
		t.Fatalf("targeted find: %v", targeted)
	}
	count := explain(bson.D{{Key: "count", Value: "h"}}, "queryPlanner")
	if count.Lookup("queryPlanner", "winningPlan", "stage").StringValue() != "SHARD_MERGE" {
		t.Fatalf("count: %v", count)
	}
	agg := explain(bson.D{{Key: "aggregate", Value: "h"}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$match", Value: bson.D{{Key: "y", Value: bson.D{{Key: "$gt", Value: 1}}}}}},
		bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$y"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}}}},
		{Key: "cursor", Value: bson.D{}}}, "queryPlanner")
	shardsPart, _ := agg.Lookup("splitPipeline", "shardsPart").Array().Values()
	mergerPart, _ := agg.Lookup("splitPipeline", "mergerPart").Array().Values()
	shards, _ := agg.Lookup("shards").Document().Elements()
	if agg.Lookup("mergeType").StringValue() != "mongos" || len(shardsPart) != 2 || len(mergerPart) != 2 || len(shards) != 3 {
		t.Fatalf("aggregate: %v", agg)
	}
}

// shardCursorsOf counts the idle cursors of namespace ns on every shard's primary.
func (c *cluster) shardCursorsOf(t *testing.T, ns string) int {
	t.Helper()
	n := 0
	for i := range c.sets {
		c.onShard(t, i, func(cl *mongo.Client) {
			n += aggregateCount(t, cl.Database("admin"), bson.A{
				bson.D{{Key: "$currentOp", Value: bson.D{{Key: "idleCursors", Value: true}, {Key: "allUsers", Value: true}}}},
				bson.D{{Key: "$match", Value: bson.D{{Key: "type", Value: "idleCursor"}, {Key: "ns", Value: ns}}}},
			})
		})
	}
	return n
}

// TestMergedCursorLifecycle: a merged cursor holds a cursor on every shard; the limit, a single
// batch and killSessions close them all; allowPartialResults leaves a shard that is down out.
func TestMergedCursorLifecycle(t *testing.T) {
	requireMemshard(t, "it stops a shard")
	c := startCluster(t, clusterOptions{shards: 3, members: 1, selectionTimeout: 500 * time.Millisecond})
	rng := rand.New(rand.NewPCG(15, 4))
	c.hashedSharded(t, "life", "h", "x", 1, differentialDocs(rng, 120))
	cl := c.client(t)
	coll := cl.Database("life").Collection("h")
	sorted := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(5)

	sess := startSession(t, cl)
	sctx := mongo.NewSessionContext(ctxT(t), sess)
	cur, err := coll.Find(sctx, bson.D{}, sorted)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.shardCursorsOf(t, "life.h"); n != 3 {
		t.Fatalf("an open merged cursor holds %d shard cursors, want 3", n)
	}
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: sessionUUID(t, sess)}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	for cur.Next(sctx) {
	}
	if ce := (mongo.CommandError{}); !errors.As(cur.Err(), &ce) || ce.Code != 43 {
		t.Fatalf("getMore after killSessions: %v", cur.Err())
	}
	if n := c.shardCursorsOf(t, "life.h"); n != 0 {
		t.Fatalf("killSessions left %d shard cursors", n)
	}

	limited, err := coll.Find(ctxT(t), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(5).SetLimit(7))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.Raw
	if err := limited.All(ctxT(t), &got); err != nil || len(got) != 7 {
		t.Fatalf("limit 7: %d documents, %v", len(got), err)
	}
	single, err := coll.Find(ctxT(t), bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetBatchSize(5).SetLimit(-5))
	if err != nil || single.ID() != 0 {
		t.Fatalf("single batch: cursor %d, %v", single.ID(), err)
	}
	if n := c.shardCursorsOf(t, "life.h"); n != 0 {
		t.Fatalf("a finished limit or a single batch left %d shard cursors", n)
	}

	// Shard 2 goes down: without allowPartialResults the find fails; with it, the others answer.
	onDown := c.countOn(t, 2, "life", "h")
	if err := c.sets[2].mem.Close(); err != nil {
		t.Fatal(err)
	}
	find := bson.D{{Key: "find", Value: "h"}, {Key: "sort", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "batchSize", Value: 1000}}
	if err := cl.Database("life").RunCommand(ctxT(t), find).Err(); err == nil {
		t.Fatal("a find reaching a shard that is down succeeded")
	}
	reply, err := cl.Database("life").RunCommand(ctxT(t), append(find, bson.E{Key: "allowPartialResults", Value: true})).Raw()
	if err != nil {
		t.Fatal(err)
	}
	docs, _ := reply.Lookup("cursor", "firstBatch").Array().Values()
	if !reply.Lookup("cursor", "partialResultsReturned").Boolean() || int64(len(docs)) != 120-onDown {
		t.Fatalf("allowPartialResults: %d documents (want %d), %v", len(docs), 120-onDown, reply.Lookup("cursor", "partialResultsReturned"))
	}
}

// TestShardedReadInTransaction: a transaction reads a sharded collection on every shard its
// filter reaches, each shard joining as a participant: the merged reads (find with getMores,
// count, distinct, aggregate) see the transaction's own write on its one writer, and nothing
// outside sees it before the commit. Every reply carries the recovery token naming the writer.
func TestShardedReadInTransaction(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	rng := rand.New(rand.NewPCG(15, 5))
	c.hashedSharded(t, "tx", "h", "x", 1, differentialDocs(rng, 60))
	var seen replies
	cl := c.client(t, seen.monitor())
	coll := cl.Database("tx").Collection("h")
	sess := startSession(t, cl)
	sctx := mongo.NewSessionContext(ctxT(t), sess)
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	// The first statement reaches every shard and starts the transaction on each.
	if n, err := coll.CountDocuments(sctx, bson.D{}); err != nil || n != 60 {
		t.Fatalf("count in the transaction: %d, %v", n, err)
	}
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: "new"}, {Key: "x", Value: 1000}, {Key: "y", Value: 99}}); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(sctx, bson.D{}, options.Find().SetBatchSize(7).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.Raw
	if err := cur.All(sctx, &all); err != nil {
		t.Fatalf("a merged cursor's getMores in the transaction: %v", err)
	}
	if len(all) != 61 || all[60].Lookup("_id").StringValue() != "new" {
		t.Fatalf("the merged find in the transaction returned %d documents, the last %v", len(all), all[len(all)-1])
	}
	values, err := coll.Distinct(sctx, "y", bson.D{{Key: "y", Value: bson.D{{Key: "$gte", Value: 6}}}}).Raw()
	if err != nil || !strings.Contains(values.String(), "99") {
		t.Fatalf("distinct in the transaction: %v, %v", values, err)
	}
	agg, err := coll.Aggregate(sctx, bson.A{bson.D{{Key: "$match", Value: bson.D{{Key: "y", Value: 99}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var mine []bson.Raw
	if err := agg.All(sctx, &mine); err != nil || len(mine) != 1 {
		t.Fatalf("the aggregate in the transaction found %d of its own writes (%v), want 1", len(mine), err)
	}
	newDoc, _ := bson.Marshal(bson.D{{Key: "x", Value: 1000}})
	writer := owner(c.chunksOf(t, "tx.h", "x"), hashOf(t, newDoc, "x"))
	if token := seen.last("find").Lookup("recoveryToken", "recoveryShardId"); token.StringValue() != writer {
		t.Fatalf("the merged find's recoveryToken %v, want the writer %s", token, writer)
	}
	for i := range c.sets {
		if n := openTxnsOn(t, c, i, sessionUUID(t, sess)); n != 1 {
			t.Fatalf("shard %d holds %d transactions of the session, want 1 (every shard is a participant)", i, n)
		}
	}
	if n, _ := coll.CountDocuments(ctxT(t), bson.D{}); n != 60 {
		t.Fatalf("outside the transaction, %d documents before the commit, want 60", n)
	}
	if err := sess.CommitTransaction(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if n, _ := coll.CountDocuments(ctxT(t), bson.D{}); n != 61 {
		t.Fatalf("after the commit, %d documents, want 61", n)
	}
}
