package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
)

var long = flag.Bool("long", false, "run the long variants of the reliability tests (60 s of load)")

// A slow member (blocked past the per-host deadline) and a shard that is down entirely: the kill
// answers within the deadline, names the failing hosts in raw, and the healthy shard's kills apply.
func TestKillFanoutWithSlowMemberAndDownShard(t *testing.T) {
	c := startCluster(t, clusterOptions{configure: func(cfg *router.Config) {
		cfg.KillSessionsPerHostTimeout = 300 * time.Millisecond
	}})
	cl := c.client(t)
	sess := startSession(t, cl)
	curs := openCursors(t, c, cl, sess)
	slowSet := c.sets[1-shardOf(t, c, "kone")]

	// One member of the other shard blocks killAllSessionsByPattern for 2 s.
	slowHost := slowSet.Hosts()[slowSet.Primary()]
	direct := connect(t, "mongodb://"+slowHost+"/?directConnection=true")
	if err := direct.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"killAllSessionsByPattern"}},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 2000}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err()
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("kill took %v with a 300ms per-host deadline", took)
	}
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 6 {
		t.Fatalf("kill with a slow member: %v, want HostUnreachable", err)
	}
	entry, lerr := ce.Raw.Lookup("raw").Document().LookupErr(slowSet.Name() + "/" + slowHost)
	if lerr != nil {
		t.Fatalf("raw does not name the slow host: %s", ce.Raw)
	}
	if code, _ := entry.Document().Lookup("code").AsInt64OK(); code != 89 {
		t.Fatalf("slow host's entry %s, want NetworkTimeout (89)", entry)
	}
	// The healthy shard's cursor (kone's) was killed.
	wantCursorNotFound(t, sess, curs[:1])

	// Now the whole slow shard goes down: every one of its hosts is named, the other shard works.
	for i := range slowSet.Hosts() {
		if err := slowSet.StopMember(i); err != nil {
			t.Fatal(err)
		}
	}
	err = cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err()
	if !errors.As(err, &ce) || ce.Code != 6 {
		t.Fatalf("kill with a shard down: %v, want HostUnreachable", err)
	}
	raw := ce.Raw.Lookup("raw").Document()
	for _, h := range slowSet.Hosts() {
		if _, err := raw.LookupErr(slowSet.Name() + "/" + h); err != nil {
			t.Fatalf("raw %s does not name down host %s", raw, h)
		}
	}
	if _, err := cl.Database("kone").Collection("c").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatalf("CRUD on the healthy shard: %v", err)
	}
}

// shardOf is the index of the shard holding db.c.
func shardOf(t *testing.T, c *cluster, db string) int {
	t.Helper()
	for i := range c.sets {
		if c.countOn(t, i, db, "c") > 0 {
			return i
		}
	}
	t.Fatalf("database %s not found on any shard", db)
	return -1
}

// A refresh that fails on a shard keeps its sessions for the next cycle: once the shard is back,
// they are refreshed there.
func TestRefreshRetriedAfterShardFailure(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1, selectionTimeout: 300 * time.Millisecond, configure: func(cfg *router.Config) {
		cfg.SessionRefresh = 100 * time.Millisecond
		cfg.KillSessionsPerHostTimeout = 300 * time.Millisecond
	}})
	cl := c.client(t)
	sess := startSession(t, cl)
	sctx := mongo.NewSessionContext(ctxT(t), sess)
	for _, db := range []string{"ra", "rb"} {
		if _, err := cl.Database(db).Collection("c").InsertOne(sctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	down := c.sets[1]
	if err := down.StopMember(0); err != nil {
		t.Fatal(err)
	}
	status := func() bson.Raw {
		var st bson.Raw
		if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "serverStatus", Value: 1}}).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st.Lookup("logicalSessionRecordCache").Document()
	}
	jobs := func() int64 {
		n, _ := status().Lookup("sessionsCollectionJobCount").AsInt64OK()
		return n
	}
	// Two whole cycles run while the shard is down (each clears the last one's figures as it
	// starts, as on mongod, so the failure itself is not left to read).
	downSince := jobs()
	waitFor(t, func() bool { return jobs() >= downSince+2 })
	member := down.Member(0)
	before := member.CommandCount("refreshSessions")
	if err := down.StartMember(0); err != nil {
		t.Fatal(err)
	}
	// The session was not used again: only a refresh that kept it through the failures can
	// reach the restarted shard.
	waitFor(t, func() bool { return member.CommandCount("refreshSessions") > before })
}

// workers runs n goroutines that call write(w, i) for i = 0, 1, ... until stop, which waits
// for them; acked counts what the writes report as written.
func workers(n int, write func(w, i int) int64) (acked *atomic.Int64, stop func()) {
	acked = new(atomic.Int64)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				acked.Add(write(w, i))
			}
		}()
	}
	return acked, func() { close(done); wg.Wait() }
}

// The primary steps down in the middle of a retryable-write workload: every acknowledged write
// is there exactly once.
func TestFailoverKeepsRetryableWritesExactlyOnce(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1})
	cl := c.client(t, options.Client().SetMaxPoolSize(16))
	coll := cl.Database("failover").Collection("c")
	ctx := ctxT(t)
	acked, stop := workers(8, func(w, i int) int64 {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d", w, i)}}); err != nil {
			return 0
		}
		return 1
	})
	waitFor(t, func() bool { return acked.Load() > 50 })
	if err := c.sets[0].StepDown(1); err != nil {
		t.Fatal(err)
	}
	before := acked.Load()
	waitFor(t, func() bool { return acked.Load() > before+50 }) // writes flow to the new primary
	stop()
	n, err := coll.CountDocuments(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != acked.Load() {
		t.Fatalf("%d documents for %d acknowledged inserts", n, acked.Load())
	}
}

// The same with batches split over the shards of a sharded collection while each shard's
// primary steps down in turn: every acknowledged document is there exactly once.
func TestFailoverKeepsSplitRetryableBatchesExactlyOnce(t *testing.T) {
	requireMemshard(t, "steps primaries down")
	c := startCluster(t, clusterOptions{shards: 2})
	cl := c.client(t, options.Client().SetMaxPoolSize(16))
	shardColl(t, cl, "failover.c", "_id")
	coll := cl.Database("failover").Collection("c")
	ctx := ctxT(t)
	acked, stop := workers(8, func(w, i int) int64 {
		docs := make([]any, 10)
		for k := range docs {
			docs[k] = bson.D{{Key: "_id", Value: fmt.Sprintf("%d-%d-%d", w, i, k)}}
		}
		if _, err := coll.InsertMany(ctx, docs); err != nil {
			return 0
		}
		return int64(len(docs))
	})
	for i := range c.sets {
		before := acked.Load()
		waitFor(t, func() bool { return acked.Load() > before+500 })
		if err := c.sets[i].StepDown(1); err != nil {
			t.Fatal(err)
		}
	}
	before := acked.Load()
	waitFor(t, func() bool { return acked.Load() > before+500 }) // writes flow to the new primaries
	stop()
	var n int64
	for i := range c.sets {
		n += c.countOn(t, i, "failover", "c")
	}
	if n != acked.Load() {
		t.Fatalf("%d documents for %d acknowledged inserts", n, acked.Load())
	}
	c.checkPlacement(t, "failover", "c", "_id")
}

// A transaction whose primary steps down fails with a label the driver acts on, not silently,
// and not with a code that makes the driver take the router for the member that stepped down:
// the client's next operation runs at once.
func TestFailoverFailsTransactionsWithLabels(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("failtx").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	sess, sctx := inTransaction(t, cl, coll, "tx")
	start := time.Now()
	if err := c.sets[0].StepDown(1); err != nil {
		t.Fatal(err)
	}
	_, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: "tx2"}})
	if err == nil {
		err = sess.CommitTransaction(ctx)
	}
	var le mongo.LabeledError
	if err == nil || !errors.As(err, &le) ||
		!(le.HasErrorLabel("TransientTransactionError") || le.HasErrorLabel("UnknownTransactionCommitResult")) {
		t.Fatalf("transaction across a step-down: %v; want an error labelled for retry", err)
	}
	wantNoStateChange(t, err)
	if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
		t.Fatalf("the next operation: %v", err)
	}
	if took := time.Since(start); took > notStalled {
		t.Fatalf("the step-down stalled the client for %v", took)
	}
}

// Many clients write in sessions while a killer loop kills sessions: no acknowledged write is
// lost, nothing panics, and the router's memory stays bounded.
func TestLoadWithKillerLoop(t *testing.T) { loadWithKillerLoop(t, false) }

// The same on sharded collections: each batch split per shard, each kill on every shard.
func TestLoadWithKillerLoopSharded(t *testing.T) { loadWithKillerLoop(t, true) }

func loadWithKillerLoop(t *testing.T, sharded bool) {
	conns, dur := 1000, 2*time.Second
	if *long {
		dur = 60 * time.Second
	}
	if raceEnabled {
		conns = 200 // the race detector makes each goroutine ~10x heavier; the shape is the same
	}
	c := startCluster(t, clusterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), dur+60*time.Second)
	defer cancel()
	if sharded {
		for _, db := range []string{"loada", "loadb"} {
			shardColl(t, c.client(t), db+".c", "w")
		}
	}
	var acked atomic.Int64
	var wg sync.WaitGroup
	var deadline time.Time
	start := make(chan struct{}) // the clock starts once every connection is open
	for i := 0; i < conns; i++ {
		wg.Add(1)
		conn := dialRaw(t, c)
		go func() {
			defer wg.Done()
			<-start
			id := make([]byte, 16)
			id[0], id[1] = byte(i), byte(i>>8)
			lsid := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id}}}
			for n := 0; time.Now().Before(deadline); n++ {
				db := []string{"loada", "loadb"}[n%2]
				if err := conn.trySend(msg(t, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "w", Value: i}}}},
					{Key: "lsid", Value: lsid}, {Key: "$db", Value: db}})); err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				reply, err := conn.tryReply()
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				if ok, _ := reply.Lookup("ok").AsFloat64OK(); ok == 1 {
					if k, _ := reply.Lookup("n").AsInt64OK(); k == 1 {
						acked.Add(1)
					}
				}
				if err := conn.trySend(msg(t, bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "w", Value: i}}},
					{Key: "batchSize", Value: 1}, {Key: "lsid", Value: lsid}, {Key: "$db", Value: db}})); err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
				if _, err := conn.tryReply(); err != nil {
					t.Errorf("worker %d: %v", i, err)
					return
				}
			}
		}()
	}
	killer := c.client(t)
	deadline = time.Now().Add(dur)
	close(start)
	var kills int
	for time.Now().Before(deadline) {
		cmd := bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{}}}
		if kills%2 == 0 {
			cmd = bson.D{{Key: "killSessions", Value: bson.A{}}}
		}
		if err := killer.Database("admin").RunCommand(ctx, cmd).Err(); err != nil {
			t.Errorf("kill %d: %v", kills, err)
		}
		kills++
	}
	wg.Wait()
	var total int64
	for _, db := range []string{"loada", "loadb"} {
		for i := range c.sets {
			total += c.countOn(t, i, db, "c")
		}
	}
	if sharded {
		for _, db := range []string{"loada", "loadb"} {
			c.checkPlacement(t, db, "c", "w")
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d connections for %v: %d acknowledged inserts, %d kills, heap in use %d MiB", conns, dur, acked.Load(), kills, ms.HeapInuse>>20)
	if total != acked.Load() || acked.Load() == 0 {
		t.Fatalf("%d documents for %d acknowledged inserts", total, acked.Load())
	}
	if ms.HeapInuse > 1<<30 {
		t.Fatalf("heap in use %d MiB: memory is not bounded", ms.HeapInuse>>20)
	}
}
