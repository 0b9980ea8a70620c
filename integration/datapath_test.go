package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// commandLog records the commands a client sends, for tests that count getMores.
type commandLog struct {
	mu    sync.Mutex
	names []string
}

func (l *commandLog) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		l.mu.Lock()
		l.names = append(l.names, e.CommandName)
		l.mu.Unlock()
	}}
}

func (l *commandLog) count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.names {
		if c == name {
			n++
		}
	}
	return n
}

func TestDriverSeesShardedTopology(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	var mu sync.Mutex
	var kinds []string
	mon := &event.ServerMonitor{TopologyDescriptionChanged: func(e *event.TopologyDescriptionChangedEvent) {
		mu.Lock()
		kinds = append(kinds, e.NewDescription.Kind)
		mu.Unlock()
	}}
	cl := c.client(t, options.Client().SetServerMonitor(mon))
	if err := cl.Ping(ctxT(t), readpref.Primary()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(kinds) == 0 || kinds[len(kinds)-1] != "Sharded" {
		t.Fatalf("topology kinds seen %v, want the last to be Sharded", kinds)
	}
	var hello bson.M
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		t.Fatal(err)
	}
	if hello["msg"] != "isdbgrid" || hello["isWritablePrimary"] != true || hello["maxWireVersion"] != int32(25) {
		t.Fatalf("hello = %v", hello)
	}
	if hello["logicalSessionTimeoutMinutes"] != int32(30) {
		t.Fatalf("logicalSessionTimeoutMinutes = %v, want 30", hello["logicalSessionTimeoutMinutes"])
	}
}

func TestDatabasesLandOnDifferentShards(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	for _, db := range []string{"alpha", "beta"} {
		if _, err := cl.Database(db).Collection("c").InsertOne(ctx, bson.D{{Key: "db", Value: db}}); err != nil {
			t.Fatal(err)
		}
		n, err := cl.Database(db).Collection("c").CountDocuments(ctx, bson.D{})
		if err != nil || n != 1 {
			t.Fatalf("count in %s through the router = %d, %v", db, n, err)
		}
	}
	where := map[string]int{}
	for i := range c.sets {
		for _, db := range []string{"alpha", "beta"} {
			if c.countOn(t, i, db, "c") == 1 {
				where[db] = i + 1
			}
		}
	}
	if where["alpha"] == 0 || where["beta"] == 0 || where["alpha"] == where["beta"] {
		t.Fatalf("placement (shard+1 per db) = %v; want the two databases on two different shards", where)
	}
}

func TestFindIteratesWithGetMoreAndKillCursors(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	log := &commandLog{}
	cl := c.client(t, options.Client().SetMonitor(log.monitor()))
	ctx := ctxT(t)
	coll := cl.Database("iter").Collection("c")
	docs := make([]any, 10)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(2).SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.M
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || got[9]["_id"] != int32(9) {
		t.Fatalf("got %d documents: %v", len(got), got)
	}
	if n := log.count("getMore"); n < 4 {
		t.Fatalf("%d getMores for 10 documents in batches of 2; want at least 4", n)
	}

	// A cursor closed early is killed on its shard: its id is then unknown to getMore.
	cur, err = coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	id := cur.ID()
	if id == 0 {
		t.Fatal("want an open cursor")
	}
	if err := cur.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if log.count("killCursors") != 1 {
		t.Fatalf("killCursors sent %d times", log.count("killCursors"))
	}
	err = cl.Database("iter").RunCommand(ctx, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 43 {
		t.Fatalf("getMore on a killed cursor: %v, want CursorNotFound (43)", err)
	}
}

func TestListDatabasesMerged(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	for _, db := range []string{"one", "two", "three"} {
		if _, err := cl.Database(db).Collection("c").InsertOne(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	names, err := cl.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for _, db := range []string{"one", "two", "three"} {
		if seen[db] != 1 {
			t.Fatalf("listDatabases names %v: want %s exactly once", names, db)
		}
	}
	for n, k := range seen {
		if k != 1 {
			t.Fatalf("database %s listed %d times", n, k)
		}
	}
}

func TestSecondaryGetMoresStayOnTheirSecondary(t *testing.T) {
	requireMemshard(t, "counts the commands each member ran")
	c := startCluster(t, clusterOptions{shards: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("sec").Collection("c")
	docs := make([]any, 10)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	secColl := cl.Database("sec", options.Database().SetReadPreference(readpref.Secondary())).Collection("c")
	cur, err := secColl.Find(ctx, bson.D{}, options.Find().SetBatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	var got []bson.M
	if err := cur.All(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Fatalf("read %d documents from a secondary, want 10", len(got))
	}
	rs := c.sets[0]
	served := -1
	for i := range rs.Hosts() {
		m := rs.Member(i)
		if m.CommandCount("getMore") > 0 {
			if served >= 0 {
				t.Fatalf("getMores ran on members %d and %d; a cursor lives on one member", served, i)
			}
			served = i
			if m.CommandCount("find") == 0 {
				t.Fatalf("member %d served getMores but not the find", i)
			}
		}
	}
	if served < 0 || served == rs.Primary() {
		t.Fatalf("getMores served by member %d (primary %d); want a secondary", served, rs.Primary())
	}
}

func TestShardErrorReachesClientUnchanged(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("dup").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
	if !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("second insert: %v, want DuplicateKey", err)
	}
	var we mongo.WriteException
	if !errors.As(err, &we) || len(we.WriteErrors) != 1 || we.WriteErrors[0].Code != 11000 {
		t.Fatalf("write errors %+v, want one with code 11000", we.WriteErrors)
	}
	err = cl.Database("dup").RunCommand(ctx, bson.D{{Key: "noSuchCommandAnywhere", Value: 1}}).Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 59 {
		t.Fatalf("unknown command: %v, want CommandNotFound (59)", err)
	}
}

func TestStoppedShardFailsFastWithClearError(t *testing.T) {
	requireMemshard(t, "stops every member of a shard")
	c := startCluster(t, clusterOptions{selectionTimeout: time.Second})
	cl := c.client(t)
	ctx := ctxT(t)
	// Place a database on each shard, then take shard 1 down entirely.
	dbs := []string{"up", "down"}
	for _, db := range dbs {
		if _, err := cl.Database(db).Collection("c").InsertOne(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	downShard := -1
	for i := range c.sets {
		if c.countOn(t, i, "down", "c") == 1 {
			downShard = i
		}
	}
	if downShard < 0 {
		t.Fatal("database 'down' not found on any shard")
	}
	for i := range c.sets[downShard].Hosts() {
		if err := c.sets[downShard].StopMember(i); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	_, err := cl.Database("down").Collection("c").InsertOne(ctx, bson.D{})
	if err == nil {
		t.Fatal("insert into a stopped shard succeeded")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("the error took %v; want it within the selection timeout", took)
	}
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code == 0 {
		t.Fatalf("error %v carries no MongoDB code", err)
	}
	upDB := dbs[0]
	if _, err := cl.Database(upDB).Collection("c").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatalf("the healthy shard failed too: %v", err)
	}
}

// Each compressor the router negotiates carries whole commands and replies both ways.
func TestCompressedConversations(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1})
	for _, compressor := range []string{"zstd", "snappy", "zlib"} {
		t.Run(compressor, func(t *testing.T) {
			cl := c.client(t, options.Client().SetCompressors([]string{compressor}))
			ctx := ctxT(t)
			coll := cl.Database("compressed").Collection(compressor)
			big := strings.Repeat("x", 64*1024) // compressible, and larger than one read buffer
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "big", Value: big}}); err != nil {
				t.Fatal(err)
			}
			var got struct{ Big string }
			if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil || got.Big != big {
				t.Fatalf("round trip through %s: %d bytes back, err %v", compressor, len(got.Big), err)
			}
			var hello bson.M
			if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1},
				{Key: "compression", Value: bson.A{compressor}}}).Decode(&hello); err != nil {
				t.Fatal(err)
			}
			if got, _ := hello["compression"].(bson.A); len(got) != 1 || got[0] != compressor {
				t.Fatalf("hello negotiated %v, want [%s]", hello["compression"], compressor)
			}
		})
	}
}
