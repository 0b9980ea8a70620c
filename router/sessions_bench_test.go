//go:build linux

package router

// Session benchmarks that need real shards (issue 4 "Measure", issue 8 targets). The cache's own
// benchmarks (vivify, heap per session, kill by pattern, refresh with no-op I/O) live in
// sessioncache, the broadcast engine's (fan-out, aggregation) in sessionfanout.

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// refreshSessions is the cache size of the issue-4 target: one refresh cycle of 1,000,000
// sessions to 4 memshard sets in at most 10 s.
const refreshSessions = 1_000_000

// benchSessionID makes distinct ids cheaply (no crypto/rand), spread like random ones.
func benchSessionID(i uint64) sessionid.ID {
	id := sessionid.ID{UID: sessionid.NoAuthUID}
	binary.LittleEndian.PutUint64(id.ID[:8], i*0x9E3779B97F4A7C15)
	binary.LittleEndian.PutUint64(id.ID[8:], i)
	return id
}

// BenchmarkSessionRefreshCycle runs the router's periodic session job over 1,000,000 used
// sessions, each seen by one of 4 memshard sets: the router's own cache and I/O (sessionIO:
// refreshSessions to each set's primary through shards.Shard.Command, batches of 10,000, sets in
// parallel). The first cycle, in which the sets create their session records, is reported apart
// as first-cycle-s; ns/op is the steady state, refreshing records the sets already hold, as a
// router does every 5 minutes.
func BenchmarkSessionRefreshCycle(b *testing.B) {
	const nShards = 4
	c := startBenchCluster(b, nShards, 1, func(cfg *Config) { cfg.MaxSessions = 2 * refreshSessions })
	ids := make([]sessionid.ID, refreshSessions)
	for i := range ids {
		ids[i] = benchSessionID(uint64(i))
	}
	vivifyAll := func() {
		for i, id := range ids {
			if err := c.srv.sessions.Vivify(id, ""); err != nil {
				b.Fatal(err)
			}
			if err := c.srv.sessions.MarkSeen(id, i%nShards); err != nil {
				b.Fatal(err)
			}
		}
	}
	io := c.srv.sessionIO()
	ctx := context.Background()
	cycle := func() {
		res := c.srv.sessions.Refresh(ctx, io)
		if res.Refreshed != refreshSessions || len(res.ShardErrors) > 0 {
			b.Fatalf("refreshed %d of %d, shard errors %v", res.Refreshed, refreshSessions, res.ShardErrors)
		}
	}
	vivifyAll()
	start := time.Now()
	cycle()
	first := time.Since(start)
	// The shards really hold them: each set's primary has its quarter.
	for i, rs := range c.sets {
		if n := len(rs.Member(0).Sessions()); n < refreshSessions/nShards {
			b.Fatalf("set %d holds %d sessions, want %d", i, n, refreshSessions/nShards)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		vivifyAll()
		b.StartTimer()
		cycle()
	}
	b.ReportMetric(first.Seconds(), "first-cycle-s")
	b.ReportMetric(float64(refreshSessions)*float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
}

// BenchmarkKillSessionsFanout is one killSessions through the router while every shard member
// answers killAllSessionsByPattern after 5 ms (failCommand blockConnection): the router sends it
// to every member of every shard at once, so the wall time should stay near 5 ms as targets grow
// (issue 8: wall(16)/wall(1) <= 1.25, wall(64)/wall(1) <= 1.5).
func BenchmarkKillSessionsFanout(b *testing.B) {
	for _, shape := range []struct{ shards, members int }{{1, 1}, {4, 1}, {4, 4}, {16, 4}} {
		b.Run(fmt.Sprintf("targets=%d", shape.shards*shape.members), func(b *testing.B) {
			c := startBenchCluster(b, shape.shards, shape.members, nil)
			block := marshalBench(b, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
				{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"killAllSessionsByPattern"}},
					{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 5}}},
				{Key: "$db", Value: "admin"}})
			for _, rs := range c.sets {
				for _, host := range rs.Hosts() {
					dialBench(b, host).run(b, block)
				}
			}
			lsid := sessionid.NewID(sessionid.NoAuthUID)
			kill := wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, bson.D{
				{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: lsid.ID[:]}}}}},
				{Key: "$db", Value: "admin"}}))
			cl := dialBench(b, c.srv.Addr())
			waitMembersKnown(b, c, shape.members)
			killOnce := func() {
				reply, err := cl.roundTrip(kill)
				if err != nil {
					b.Fatal(err)
				}
				checkOK(b, reply)
			}
			killOnce() // opens a pooled connection to every member
			b.ReportAllocs()
			for b.Loop() {
				killOnce()
			}
			b.StopTimer()
			for _, rs := range c.sets {
				for m := range rs.Hosts() {
					if rs.Member(m).CommandCount("killAllSessionsByPattern") < int64(b.N) {
						b.Fatalf("%s member %d missed kills", rs.Name(), m)
					}
				}
			}
		})
	}
}

// waitMembersKnown waits until every shard has discovered all its members, so that a kill
// reaches all of them.
func waitMembersKnown(b *testing.B, c *benchCluster, members int) {
	deadline := time.Now().Add(20 * time.Second)
	for _, sh := range c.shards {
		for len(sh.Members()) < members || !sh.HasPrimary() {
			if time.Now().After(deadline) {
				b.Fatalf("shard %s knows %v", sh.Name(), sh.Members())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// BenchmarkKillSessionsMemory is one killSessions naming 20,000 sessions (a 0.9 MB body, whose
// killAllSessionsByPattern with full lsids is 2.3 MB) through the router to 1, 4 and 16 members.
// B/op counts the whole process: the router, and each memshard member reading and parsing its
// copy; B/member is B/op over the members. The router encodes the kill once and every member's
// connection writes that same encoding, so what grows with the members is the members' own
// reading, not the router's copies.
func BenchmarkKillSessionsMemory(b *testing.B) {
	const sessions = 20_000
	ids := make(bson.A, sessions)
	for i := range ids {
		id := benchSessionID(uint64(i))
		ids[i] = bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id.ID[:]}}}
	}
	body := marshalBench(b, bson.D{{Key: "killSessions", Value: ids}, {Key: "$db", Value: "admin"}})
	kill := wire.AppendMsg(nil, 1, 0, 0, body)
	for _, shape := range []struct{ shards, members int }{{1, 1}, {1, 4}, {4, 4}} {
		targets := shape.shards * shape.members
		b.Run(fmt.Sprintf("targets=%d", targets), func(b *testing.B) {
			c := startBenchCluster(b, shape.shards, shape.members, nil)
			cl := dialBench(b, c.srv.Addr())
			waitMembersKnown(b, c, shape.members)
			killOnce := func() {
				reply, err := cl.roundTrip(kill)
				if err != nil {
					b.Fatal(err)
				}
				checkOK(b, reply)
			}
			killOnce() // opens a pooled connection to every member
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			n := 0
			for b.Loop() {
				killOnce()
				n++
			}
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(n)/float64(targets), "B/member")
		})
	}
}
