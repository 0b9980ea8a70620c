package router

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestConnPoolStats: connPoolStats shows the router's connections to each shard member, as
// mongos's does: after a forwarded command the primary's pool has a connection it created,
// available again, and the totals add up.
func TestConnPoolStats(t *testing.T) {
	c := startBenchCluster(t, 1, 1, func(cfg *Config) { cfg.PingInterval, cfg.RoutingPollInterval = time.Hour, time.Hour })
	cl := dialBench(t, c.srv.Addr())
	waitRegistered(t, cl)
	cl.run(t, marshalBench(t, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}}))
	type counts struct {
		InUse     int64 `bson:"inUse"`
		Available int64 `bson:"available"`
		Created   int64 `bson:"created"`
	}
	var stats struct {
		TotalInUse     int64             `bson:"totalInUse"`
		TotalAvailable int64             `bson:"totalAvailable"`
		TotalCreated   int64             `bson:"totalCreated"`
		Hosts          map[string]counts `bson:"hosts"`
	}
	host := c.sets[0].Hosts()[0]
	// The router's own background work (its lease, registration, session refresh) may hold a
	// connection for a moment: wait for it to come back, never past the deadline.
	deadline := time.Now().Add(10 * time.Second)
	for {
		reply := cl.run(t, marshalBench(t, bson.D{{Key: "connPoolStats", Value: 1}, {Key: "$db", Value: "admin"}}))
		if err := bson.Unmarshal(reply, &stats); err != nil {
			t.Fatal(err)
		}
		h, ok := stats.Hosts[host]
		if ok && h.Created >= 1 && h.Available >= 1 && h.InUse == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hosts[%s] = %+v in %v, want a created connection, available, none in use", host, h, reply)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var inUse, available, created int64
	for _, h := range stats.Hosts {
		inUse, available, created = inUse+h.InUse, available+h.Available, created+h.Created
	}
	if stats.TotalInUse != inUse || stats.TotalAvailable != available || stats.TotalCreated != created {
		t.Errorf("totals %+v do not add up the hosts (%d, %d, %d)", stats, inUse, available, created)
	}
}

// waitRegistered waits until the router has registered in config.mongos: its first ping, whose
// writes to the config shard borrow pooled connections, is over.
func waitRegistered(t *testing.T, cl *benchClient) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		reply := cl.run(t, marshalBench(t, bson.D{{Key: "find", Value: "mongos"}, {Key: "$db", Value: "config"}}))
		if batch, _ := reply.Lookup("cursor", "firstBatch").ArrayOK(); len(batch) > 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the router never registered in config.mongos")
		}
	}
}
