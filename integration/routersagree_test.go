package integration

import (
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongos-lite/mongos-lite/router"
)

// Two routers over the same shards (docs/architecture.md, "Routers agree"): what one changes
// of the routing metadata, the other acts on before the change completes, for writes and reads.

// fastAgreement makes the routers read the routing state often, so that a change waits little.
func fastAgreement(cfg *router.Config) { cfg.RoutingPollInterval = 10 * time.Millisecond }

func TestRoutersAgreeOnShardedCollections(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1, configure: fastAgreement})
	_, uriB := c.serveRouter(t, fastAgreement)
	a, b := c.client(t), connect(t, uriB)
	ctx := ctxT(t)
	collB := b.Database("agree").Collection("c")
	// B places the database and knows agree.c as an unsharded collection on its primary shard.
	if _, err := b.Database("agree").Collection("other").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	stats := func(cl *mongo.Client) bson.Raw {
		return runCmd(t, cl.Database("agree"), bson.D{{Key: "collStats", Value: "c"}})
	}
	if stats(b).Lookup("sharded").Boolean() {
		t.Fatal("agree.c is sharded before anyone sharded it")
	}
	// A shards it: B's writes follow the chunks, and B reads every shard's part.
	shardColl(t, a, "agree.c", "k")
	if _, err := collB.InsertMany(ctx, kDocs(0, 90)); err != nil {
		t.Fatal(err)
	}
	if n := c.checkPlacement(t, "agree", "c", "k"); n != 90 {
		t.Fatalf("%d documents placed, want 90", n)
	}
	for i, rs := range c.sets {
		if c.countOn(t, i, "agree", "c") == 0 {
			t.Fatalf("B wrote nothing to shard %s: it used the unsharded view", rs.shard)
		}
	}
	if s := stats(b); !s.Lookup("sharded").Boolean() || s.Lookup("count").AsInt64() != 90 {
		t.Fatalf("B's collStats %v, want sharded with 90 documents", s)
	}
	// A drops it; B's writes to the name go to the primary shard, not to the dropped chunks.
	if err := a.Database("agree").Collection("c").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := collB.InsertMany(ctx, kDocs(0, 30)); err != nil {
		t.Fatal(err)
	}
	p := c.primaryOf(t, "agree")
	for i := range c.sets {
		want := int64(0)
		if i == p {
			want = 30
		}
		if n := c.countOn(t, i, "agree", "c"); n != want {
			t.Fatalf("shard %d holds %d documents of the new agree.c, want %d", i, n, want)
		}
	}
	// B drops the new, unsharded one and A shards the name again: B sees the new epoch.
	if err := collB.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	shardColl(t, a, "agree.c", "k")
	if !stats(b).Lookup("sharded").Boolean() {
		t.Fatal("B does not see the collection sharded again")
	}
	// dropDatabase through A: B places the database afresh, where A's enableSharding says.
	if err := a.Database("agree").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	next := c.sets[(p+1)%len(c.sets)].shard
	runCmd(t, a.Database("admin"), bson.D{{Key: "enableSharding", Value: "agree"}, {Key: "primaryShard", Value: next}})
	if _, err := collB.InsertOne(ctx, bson.D{{Key: "k", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := c.sets[c.primaryOf(t, "agree")].shard; got != next {
		t.Fatalf("agree is on %s, want %s", got, next)
	}
	for i, rs := range c.sets {
		want := int64(0)
		if rs.shard == next {
			want = 1
		}
		if n := c.countOn(t, i, "agree", "c"); n != want {
			t.Fatalf("shard %s holds %d documents of agree.c after the database moved, want %d", rs.shard, n, want)
		}
	}
}

// B writes to a sharded collection without pause while A drops it: no write of B lands on the
// dropped collection's chunks once the drop is done (each is either dropped with it or written
// to the name's new, unsharded collection on the primary shard), and none fails.
func TestRoutersAgreeUnderLoad(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1, configure: fastAgreement})
	_, uriB := c.serveRouter(t, fastAgreement)
	a, b := c.client(t), connect(t, uriB)
	ctx := ctxT(t)
	shardColl(t, a, "load.c", "k")
	collB := b.Database("load").Collection("c")
	var failed atomic.Int64
	written, stop := workers(4, func(w, i int) int64 {
		if _, err := collB.InsertOne(ctx, bson.D{{Key: "k", Value: w*1_000_000 + i}}); err != nil {
			failed.Add(1)
			return 0
		}
		return 1
	})
	waitFor(t, func() bool { return written.Load() > 200 })
	if err := a.Database("load").Collection("c").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	after := written.Load()
	waitFor(t, func() bool { return written.Load() > after+200 })
	stop()
	p := c.primaryOf(t, "load")
	for i := range c.sets {
		if n := c.countOn(t, i, "load", "c"); i != p && n != 0 {
			t.Fatalf("shard %d holds %d documents written after the drop: B used the dropped chunks", i, n)
		}
	}
	if n := c.countOn(t, p, "load", "c"); n < 200 {
		t.Fatalf("the primary shard holds %d documents written after the drop, want at least 200", n)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d of B's writes failed", failed.Load())
	}
}

// A write B sent with the sharded view is answered before A's drop of the collection reaches
// the shards: the drop waits for it, so it is dropped with the collection instead of landing in
// the dropped chunk's shard afterwards.
func TestDropWaitsForAnotherRoutersWriteInFlight(t *testing.T) {
	requireMemshard(t, "failCommand blockConnection and a member's command counts")
	c := startCluster(t, clusterOptions{shards: 3, members: 1, configure: fastAgreement})
	_, uriB := c.serveRouter(t, fastAgreement)
	a, b := c.client(t), connect(t, uriB)
	ctx := ctxT(t)
	shardColl(t, a, "inflight.c", "k")
	p := c.primaryOf(t, "inflight")
	chunks := c.chunksOf(t, "inflight.c", "k")
	// A document whose chunk is not on the primary shard.
	var doc bson.Raw
	x := -1
	for k := int32(0); x < 0; k++ {
		d, _ := bson.Marshal(bson.D{{Key: "k", Value: k}})
		owner := owner(chunks, hashOf(t, d, "k"))
		for i, rs := range c.sets {
			if rs.shard == owner && i != p {
				doc, x = d, i
			}
		}
	}
	member := c.sets[x].Member(0)
	before := member.CommandCount("insert")
	setFailCommand(t, c.direct(t, x), "insert", bson.D{{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 500}})
	inserted := make(chan error, 1)
	go func() {
		_, err := b.Database("inflight").Collection("c").InsertOne(ctx, doc)
		inserted <- err
	}()
	waitFor(t, func() bool { return member.CommandCount("insert") > before }) // held at the shard
	if err := a.Database("inflight").Collection("c").Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-inserted; err != nil {
		t.Fatalf("B's insert: %v", err)
	}
	if n := c.countOn(t, x, "inflight", "c"); n != 0 {
		t.Fatalf("shard %d holds %d documents after the drop: B's write landed after it", x, n)
	}
}
