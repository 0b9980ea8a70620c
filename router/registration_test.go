package router

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// pingOf reads the router's config.mongos entry on the config shard: its ping, zero when absent.
func pingOf(t *testing.T, c *benchCluster) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := c.shards[0].Command(ctx, mustMarshal(t, bson.D{{Key: "find", Value: "mongos"},
		{Key: "filter", Value: bson.D{{Key: "_id", Value: c.srv.instanceID()}}}, {Key: "$db", Value: "config"}}))
	if err != nil {
		t.Fatal(err)
	}
	batch, _ := reply.Body.Lookup("cursor", "firstBatch").ArrayOK()
	first, err := batch.IndexErr(0)
	if err != nil {
		return time.Time{}
	}
	doc, _ := first.DocumentOK()
	ms, _ := doc.Lookup("ping").DateTimeOK()
	return time.UnixMilli(ms)
}

// TestRegistrationPingsUntilClose: the server's goroutine pings config.mongos every interval and
// stops with Close, leaving the entry with its last ping.
func TestRegistrationPingsUntilClose(t *testing.T) {
	checkLeaks(t)
	c := startBenchCluster(t, 1, 1, func(cfg *Config) { cfg.PingInterval = 10 * time.Millisecond })
	var first time.Time
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		p := pingOf(t, c)
		if first.IsZero() {
			first = p
		} else if p.After(first) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ping never moved past %v", first)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if pingOf(t, c).IsZero() {
		t.Fatal("the entry of a stopped router was removed; mongos keeps it with its last ping")
	}
}

// TestRegistrationWritesHaveADeadline: a config shard that does not answer a ping's write holds
// neither the registration nor Close: each write is bounded by the ping interval.
func TestRegistrationWritesHaveADeadline(t *testing.T) {
	checkLeaks(t)
	c := startBenchCluster(t, 1, 1, func(cfg *Config) { cfg.PingInterval = 50 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	block := mustMarshal(t, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"update", "insert"}}, {Key: "blockConnection", Value: true},
			{Key: "blockTimeMS", Value: 60_000}}}, {Key: "$db", Value: "admin"}})
	if reply, err := c.shards[0].Command(ctx, block); err != nil || reply.Err() != nil {
		t.Fatalf("failCommand: %v %v", err, reply.Err())
	}
	t.Cleanup(func() {
		off := mustMarshal(t, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}, {Key: "$db", Value: "admin"}})
		_, _ = c.shards[0].Command(context.Background(), off)
	})
	waitBlockedWrite(t, c)
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelClose()
	if err := c.srv.Close(closeCtx); err != nil {
		t.Fatalf("Close while the config shard blocks every write: %v", err)
	}
}

// waitBlockedWrite waits until the config shard shows one of the router's writes in progress.
func waitBlockedWrite(t *testing.T, c *benchCluster) {
	t.Helper()
	current := mustMarshal(t, bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$currentOp", Value: bson.D{{Key: "allUsers", Value: true}}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "command.insert", Value: "version"}}, bson.D{{Key: "command.update", Value: bson.D{{Key: "$exists", Value: true}}}}}}}}},
	}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		reply, err := c.shards[0].Command(ctx, current)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if batch, _ := reply.Body.Lookup("cursor", "firstBatch").ArrayOK(); len(batch) > 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no write of the router's registration reached the config shard")
		}
	}
}
