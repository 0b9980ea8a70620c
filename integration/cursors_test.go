package integration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Router cursors through the official driver: ids the router mints, batches as asked, change
// streams with their resume tokens and awaitData, and the commands that answer for the whole
// cluster with a cursor.

func TestDriverCursorsThroughTheRouter(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	coll := cl.Database("cursors").Collection("c")
	docs := make([]any, 25)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctxT(t), docs); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctxT(t), bson.D{}, options.Find().SetBatchSize(4).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	if cur.ID() == 0 || cur.RemainingBatchLength() != 4 {
		t.Fatalf("first batch: id %d, %d documents", cur.ID(), cur.RemainingBatchLength())
	}
	// The id is the router's: the shard holding the collection has no cursor of that id.
	shard := connectShard(t, c.sets[shardOf(t, c, "cursors")].URI())
	err = shard.Database("cursors").RunCommand(ctxT(t), bson.D{{Key: "getMore", Value: cur.ID()}, {Key: "collection", Value: "c"}}).Err()
	if ce := (mongo.CommandError{}); !errors.As(err, &ce) || ce.Code != 43 {
		t.Fatalf("the shard knows the router's cursor id %d: %v", cur.ID(), err)
	}
	n := 0
	for cur.Next(ctxT(t)) {
		if got := cur.Current.Lookup("_id").Int32(); got != int32(n) {
			t.Fatalf("document %d is %d", n, got)
		}
		n++
	}
	if cur.Err() != nil || n != 25 || cur.ID() != 0 {
		t.Fatalf("read %d documents, cursor %d: %v", n, cur.ID(), cur.Err())
	}
}

func TestDriverChangeStreamThroughTheRouter(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	coll := cl.Database("streams").Collection("c")
	if _, err := coll.InsertOne(ctxT(t), bson.D{{Key: "x", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	cs, err := coll.Watch(ctxT(t), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctxT(t))
	// awaitData: an empty getMore waits maxAwaitTimeMS and keeps the stream open.
	if cs.TryNext(ctxT(t)) || cs.Err() != nil || cs.ID() == 0 {
		t.Fatalf("an idle stream: %v (cursor %d)", cs.Err(), cs.ID())
	}
	empty := cs.ResumeToken() // the postBatchResumeToken of an empty batch
	if empty == nil {
		t.Fatal("no postBatchResumeToken")
	}
	if _, err := coll.InsertOne(ctxT(t), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if !cs.Next(ctxT(t)) {
		t.Fatal(cs.Err())
	}
	if cs.Current.Lookup("operationType").StringValue() != "insert" || cs.Current.Lookup("fullDocument", "x").Int32() != 1 {
		t.Fatalf("event: %v", cs.Current)
	}
	if tok := cs.ResumeToken(); tok == nil || string(tok) == string(empty) {
		t.Fatalf("resume token did not move: %v", tok)
	}
	// A whole-cluster stream is merged across the shards (mergedstream_test.go): its tokens are
	// the router's, not one shard's.
	all, err := cl.Watch(ctxT(t), mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(50*time.Millisecond))
	if err != nil {
		t.Fatalf("client watch: %v", err)
	}
	defer all.Close(ctxT(t))
	if all.TryNext(ctxT(t)) || all.Err() != nil || !strings.HasSuffix(bson.Raw(all.ResumeToken()).Lookup("_data").StringValue(), "F1") {
		t.Fatalf("client watch: %v, token %v", all.Err(), all.ResumeToken())
	}
}

// TestCheckMetadataConsistency: a cursor of the collections found on a shard that is not their
// database's primary, read with getMore through the driver's run-cursor-command helper.
func TestCheckMetadataConsistency(t *testing.T) {
	requireMemshard(t, "it writes around the router onto a shard")
	c := startCluster(t, clusterOptions{members: 1})
	cl := c.client(t)
	admin := cl.Database("admin")
	readAll := func(db *mongo.Database, cmd bson.D) []bson.Raw {
		t.Helper()
		cur, err := db.RunCommandCursor(ctxT(t), cmd)
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.Raw
		if err := cur.All(ctxT(t), &docs); err != nil {
			t.Fatal(err)
		}
		return docs
	}
	if _, err := cl.Database("meta").Collection("ok").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	if docs := readAll(admin, bson.D{{Key: "checkMetadataConsistency", Value: 1}}); len(docs) != 0 {
		t.Fatalf("a consistent cluster: %v", docs)
	}
	// Three collections of meta written straight onto the shard that is not its primary.
	other := connectShard(t, c.sets[1-shardOfColl(t, c, "meta", "ok")].URI())
	for _, name := range []string{"m1", "m2", "m3"} {
		if _, err := other.Database("meta").Collection(name).InsertOne(ctxT(t), bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	docs := readAll(admin, bson.D{{Key: "checkMetadataConsistency", Value: 1}, {Key: "cursor", Value: bson.D{{Key: "batchSize", Value: 1}}}})
	if len(docs) != 3 {
		t.Fatalf("inconsistencies: %v", docs)
	}
	for _, d := range docs {
		if d.Lookup("type").StringValue() != "MisplacedCollection" || !strings.HasPrefix(d.Lookup("details", "namespace").StringValue(), "meta.m") {
			t.Fatalf("inconsistency: %v", d)
		}
	}
	if docs := readAll(cl.Database("meta"), bson.D{{Key: "checkMetadataConsistency", Value: "m2"}}); len(docs) != 1 {
		t.Fatalf("collection level: %v", docs)
	}
}

// shardOfColl is the index of the shard holding db.coll.
func shardOfColl(t *testing.T, c *cluster, db, coll string) int {
	t.Helper()
	for i := range c.sets {
		if c.countOn(t, i, db, coll) > 0 {
			return i
		}
	}
	t.Fatalf("%s.%s not found on any shard", db, coll)
	return -1
}

// TestCurrentOpEveryShard: $currentOp through the router shows operations from every shard, on
// memshard and on real replica sets.
func TestCurrentOpEveryShard(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	cur, err := cl.Database("admin").Aggregate(ctxT(t), mongo.Pipeline{
		{{Key: "$currentOp", Value: bson.D{{Key: "allUsers", Value: true}, {Key: "idleConnections", Value: true}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var ops []bson.Raw
	if err := cur.All(ctxT(t), &ops); err != nil {
		t.Fatal(err)
	}
	shards := map[string]bool{}
	for _, op := range ops {
		shards[op.Lookup("shard").StringValue()] = true
		if id, ok := op.Lookup("opid").StringValueOK(); ok && !strings.HasPrefix(id, op.Lookup("shard").StringValue()+":") {
			t.Fatalf("opid %q of %v", id, op)
		}
	}
	for _, rs := range c.sets {
		if !shards[rs.shard] {
			t.Fatalf("no operation from shard %s: %v", rs.shard, shards)
		}
	}
}
