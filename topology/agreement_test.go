package topology

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// The routers' agreement, several Clusters over the same shards standing for several routers.

// memSets starts n one-member memshard sets and opens them, the first the config shard.
func memSets(t testing.TB, n int) ([]*shards.Shard, []*memshard.ReplicaSet) {
	t.Helper()
	var list []*shards.Shard
	var sets []*memshard.ReplicaSet //nolint:prealloc
	for i := range n {
		name := fmt.Sprintf("rs%d", i)
		rs, err := memshard.StartReplicaSet(name, 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		sh, err := shards.Open(shards.Config{Name: name, SetName: name, Hosts: rs.Hosts(), Logger: zerolog.Nop(),
			ServerSelectionTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = sh.Close(ctx)
		})
		list = append(list, sh)
		sets = append(sets, rs)
	}
	return list, sets
}

// router joins c to the agreement as id and renews its lease every poll interval, as the server
// does, until the returned stop (or the test's end).
func router(t *testing.T, c *Cluster[*shards.Shard], id string, cfg Agreement) (stop func()) {
	t.Helper()
	c.Join(RouterEntry{ID: id, Created: time.Now()}, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(c.PollInterval())
		defer tick.Stop()
		for {
			_ = c.Renew(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}

var fast = Agreement{PollInterval: 10 * time.Millisecond, Lease: 2 * time.Second}

// A change waits for a write that another router sent with the view it replaces, and that
// router's commands on the namespace wait for the change to end; then they see its metadata.
func TestChangeWaitsForHoldsAndBlocksCommands(t *testing.T) {
	list, _ := memSets(t, 2)
	a, b := New(list), New(list)
	router(t, a, "a:1", fast)
	router(t, b, "b:1", fast)
	ctx := ctxOf(t)
	if _, err := a.PrimaryShard(ctx, []byte("d"), true); err != nil {
		t.Fatal(err)
	}
	rt, hold, err := b.Acquire(ctx, "d", "c", false)
	if err != nil || rt.Sharded {
		t.Fatalf("b's view: %+v %v", rt, err)
	}
	began := make(chan *Change, 1)
	go func() {
		ch, err := a.BeginChange(ctx, "d.c", "shardCollection")
		if err != nil {
			t.Error(err)
		}
		began <- ch
	}()
	select {
	case <-began:
		t.Fatal("the change began while b had a write in flight with the old view")
	case <-time.After(300 * time.Millisecond):
	}
	hold.Release()
	var ch *Change
	select {
	case ch = <-began:
	case <-time.After(5 * time.Second):
		t.Fatal("the change did not begin once b's write was answered")
	}
	// b's commands on d.c wait for the change; its other namespaces do not.
	if _, err := b.Routing(ctx, "d", "other"); err != nil {
		t.Fatal(err)
	}
	seen := make(chan *Routing, 1)
	go func() {
		rt, err := b.Routing(ctx, "d", "c")
		if err != nil {
			t.Error(err)
		}
		seen <- rt
	}()
	select {
	case <-seen:
		t.Fatal("b routed d.c during its change")
	case <-time.After(200 * time.Millisecond):
	}
	uuid := make([]byte, 16)
	if err := a.RecordShardedCollection(ctx, ShardedCollection{NS: "d.c", Key: "k", UUID: uuid, Chunks: 4, Timestamp: bson.Timestamp{T: 1}}); err != nil {
		t.Fatal(err)
	}
	ch.End(ctx)
	select {
	case rt := <-seen:
		if !rt.Sharded || rt.Key != "k" || len(rt.Chunks) != 4 || !rt.Version.Equal(bson.Timestamp{T: 1, I: 3}) {
			t.Fatalf("b's view after the change: %+v", rt)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b's command still waits after the change ended")
	}
}

// A router that stopped renewing holds a change up for its lease at most; one that left (at
// shutdown) not at all.
func TestChangeOutlivesStoppedRouters(t *testing.T) {
	cfg := Agreement{PollInterval: 10 * time.Millisecond, Lease: 400 * time.Millisecond}
	change := func(leave bool) time.Duration {
		list, _ := memSets(t, 2)
		a, other := New(list), New(list)
		router(t, a, "a:1", cfg)
		other.Join(RouterEntry{ID: "other:1", Created: time.Now()}, cfg)
		if err := other.Renew(ctxOf(t)); err != nil { // one renewal, then nothing
			t.Fatal(err)
		}
		if leave {
			if err := other.Leave(ctxOf(t)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		ch, err := a.BeginChange(ctxOf(t), "d.c", "dropCollection")
		if err != nil {
			t.Fatal(err)
		}
		ch.End(ctxOf(t))
		return time.Since(start)
	}
	if took := change(true); took > cfg.Lease/2 {
		t.Fatalf("a change took %v with the other router gone", took)
	}
	// The stopped router's lease was renewed just before: the change waits it out.
	if took := change(false); took > 3*cfg.Lease || took < cfg.Lease/2 {
		t.Fatalf("the change took %v with a stopped router whose lease is %v", took, cfg.Lease)
	}
}

// A router cut off from the config shard stops routing once its lease expires, and routes again
// when it can renew it.
func TestRoutingStopsWithoutLease(t *testing.T) {
	list, _ := memSets(t, 2)
	c := New(list)
	router(t, c, "r:1", Agreement{PollInterval: 10 * time.Millisecond, Lease: 300 * time.Millisecond})
	ctx := ctxOf(t)
	if _, err := c.PrimaryShard(ctx, []byte("d"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Routing(ctx, "d", "c"); err != nil { // cached from now on
		t.Fatal(err)
	}
	fail := func(mode any) {
		t.Helper()
		body, err := bson.Marshal(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode},
			{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"update", "find"}}, {Key: "errorCode", Value: 91}}},
			{Key: "$db", Value: "admin"}})
		if err != nil {
			t.Fatal(err)
		}
		if reply, err := list[0].Command(ctx, body); err != nil || reply.Err() != nil {
			t.Fatalf("configureFailPoint: %v %v", err, reply.Err())
		}
	}
	fail("alwaysOn")
	deadline := time.Now().Add(5 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = c.Routing(ctx, "d", "c"); err != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	var me *mongoerr.Error
	if !errors.As(err, &me) || me.Code != mongoerr.HostUnreachable {
		t.Fatalf("routing without a lease: %v, want HostUnreachable", err)
	}
	fail("off")
	deadline = time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err = c.Routing(ctx, "d", "c"); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("routing once the config shard is back: %v", err)
}

// A critical section left by a router that stopped in the middle of its change is broken once
// that router's lease has expired; the namespace's commands then run again.
func TestAbandonedSectionIsBroken(t *testing.T) {
	list, _ := memSets(t, 2)
	crashed, b := New(list), New(list)
	cfg := Agreement{PollInterval: 10 * time.Millisecond, Lease: 300 * time.Millisecond}
	stop := router(t, crashed, "crashed:1", cfg)
	router(t, b, "b:1", cfg)
	ctx := ctxOf(t)
	if _, err := crashed.BeginChange(ctx, "d", "dropDatabase"); err != nil {
		t.Fatal(err)
	}
	stop() // and never End
	start := time.Now()
	if _, err := b.Routing(ctx, "d", "c"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < cfg.Lease/2 {
		t.Fatalf("b routed after %v, while the crashed router's lease still held", took)
	}
	st, err := b.placement.readState(ctx)
	if err != nil || len(st.Sections) != 0 {
		t.Fatalf("state after the break: %+v %v", st, err)
	}
}

// Concurrent changes of one namespace from two routers run one after the other.
func TestChangesSerialise(t *testing.T) {
	list, _ := memSets(t, 2)
	a, b := New(list), New(list)
	router(t, a, "a:1", fast)
	router(t, b, "b:1", fast)
	ctx := ctxOf(t)
	first, err := a.BeginChange(ctx, "d.c", "shardCollection")
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan *Change, 1)
	go func() {
		ch, err := b.BeginChange(ctx, "d", "dropDatabase")
		if err != nil {
			t.Error(err)
		}
		second <- ch
	}()
	select {
	case <-second:
		t.Fatal("a database's change began during a change of one of its collections")
	case <-time.After(200 * time.Millisecond):
	}
	first.End(ctx)
	select {
	case ch := <-second:
		ch.End(ctx)
	case <-time.After(5 * time.Second):
		t.Fatal("the second change never began")
	}
	// Changes of two collections do not wait for each other.
	x, err := a.BeginChange(ctx, "d.x", "shardCollection")
	if err != nil {
		t.Fatal(err)
	}
	y, err := b.BeginChange(ctx, "d.y", "shardCollection")
	if err != nil {
		t.Fatal(err)
	}
	x.End(ctx)
	y.End(ctx)
}

func TestRoutingStateLog(t *testing.T) {
	st := routingState{Version: 3, Changes: []change{{2, "d.a"}, {3, "e"}}}
	if nss, ok := st.changedSince(1); !ok || len(nss) != 2 {
		t.Fatalf("since 1: %v %v", nss, ok)
	}
	if _, ok := st.changedSince(0); ok {
		t.Fatal("the log does not reach back to version 0")
	}
	if _, ok := (routingState{Version: 1}).changedSince(5); ok {
		t.Fatal("a state that went back was taken as complete")
	}
	for i := range 2 * maxChanges {
		st = st.withChange(fmt.Sprint(i))
	}
	if len(st.Changes) != maxChanges || st.Changes[len(st.Changes)-1].Version != st.Version {
		t.Fatalf("log of %d, last %v, version %d", len(st.Changes), st.Changes[len(st.Changes)-1], st.Version)
	}
	s := criticalSection{NS: "d.c"}
	if !s.covers("d", "c") || s.covers("d", "cc") || s.covers("dd", "c") || s.covers("d", "") {
		t.Fatal("a collection's section covers the wrong namespaces")
	}
	if db := (criticalSection{NS: "d"}); !db.covers("d", "x") || !db.covers("d", "") || db.covers("dd", "x") {
		t.Fatal("a database's section covers the wrong namespaces")
	}
	if !s.conflicts("d") || !s.conflicts("d.c") || s.conflicts("d.x") || s.conflicts("e.c") {
		t.Fatal("conflicts")
	}
}
