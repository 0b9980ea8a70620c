package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
)

// blockFinds makes the router hold every find for d before running it. The returned function
// waits until a find is held: configuring the fail point again reports how often it fired.
func blockFinds(t *testing.T, cl *mongo.Client, d time.Duration) (waitHeld func()) {
	t.Helper()
	cmd := bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"find"}},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: d.Milliseconds()}}}}
	if err := cl.Database("admin").RunCommand(ctxT(t), cmd).Err(); err != nil {
		t.Fatal(err)
	}
	return func() {
		waitFor(t, func() bool {
			var reply struct{ Count int64 }
			if err := cl.Database("admin").RunCommand(ctxT(t), cmd).Decode(&reply); err != nil {
				t.Fatal(err)
			}
			return reply.Count >= 1
		})
	}
}

func TestShutdownQuiescesThenDrains(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1, configure: func(cfg *router.Config) { cfg.EnableTestCommands = true }})
	cl := c.client(t, options.Client().SetServerSelectionTimeout(2*time.Second)) // cleanup after quiesce
	waitHeld := blockFinds(t, cl, 700*time.Millisecond)
	inFlight := dialRaw(t, c)
	inFlight.send(msg(t, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}}))
	waitHeld() // the find is admitted before shutdown starts

	shutdownDone := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdownDone <- c.router.Shutdown(ctx)
	}()
	late := dialRaw(t, c)
	waitFor(t, func() bool {
		late.send(msg(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
		reply := late.reply()
		code, _ := reply.Lookup("code").AsInt32OK()
		return code == 91
	})
	late.send(msg(t, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}))
	hello := late.reply()
	wantCode(t, hello, 91, "quiesce")
	if counter, _ := hello.Lookup("topologyVersion", "counter").AsInt64OK(); counter != 1 {
		t.Fatalf("quiesce reply topologyVersion %v, want counter 1", hello.Lookup("topologyVersion"))
	}
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned (%v) while a find was still running", err)
	default:
	}
	if ok, _ := inFlight.reply().Lookup("ok").AsFloat64OK(); ok != 1 {
		t.Fatal("the in-flight find did not complete")
	}
	if err := <-shutdownDone; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

func TestShutdownDeadline(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1, configure: func(cfg *router.Config) { cfg.EnableTestCommands = true }})
	waitHeld := blockFinds(t, c.client(t, options.Client().SetServerSelectionTimeout(2*time.Second)), 3*time.Second)
	slow := dialRaw(t, c)
	slow.send(msg(t, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}}))
	waitHeld()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.router.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a find blocked past the deadline: %v, want DeadlineExceeded", err)
	}
}

func TestMaxConnsRejectsExcess(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1, configure: func(cfg *router.Config) { cfg.MaxConns = 2 }})
	a, b := dialRaw(t, c), dialRaw(t, c)
	for _, conn := range []*rawConn{a, b} {
		conn.send(msg(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
		if ok, _ := conn.reply().Lookup("ok").AsFloat64OK(); ok != 1 {
			t.Fatal("a connection under the cap was not served")
		}
	}
	dialRaw(t, c).closed()
	a.send(msg(t, bson.D{{Key: "serverStatus", Value: 1}, {Key: "$db", Value: "admin"}}))
	if n, _ := a.reply().Lookup("connections", "rejected").AsInt64OK(); n != 1 {
		t.Fatalf("serverStatus connections.rejected = %d, want 1", n)
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1, configure: func(cfg *router.Config) { cfg.IdleTimeout = 300 * time.Millisecond }})
	idle := dialRaw(t, c)
	// The router starts its idle clock after replying, so timing from before the ping bounds it
	// from below whatever the machine's load.
	start := time.Now()
	idle.send(msg(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
	idle.reply()
	idle.closed()
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", took)
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
