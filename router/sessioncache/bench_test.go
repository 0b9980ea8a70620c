package sessioncache

import (
	"context"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

const benchSessions = 1_000_000

// benchID makes distinct ids cheaply (no crypto/rand), spread like random ones.
func benchID(i uint64, uid sessionid.UID) sessionid.ID {
	id := sessionid.ID{UID: uid}
	binary.LittleEndian.PutUint64(id.ID[:8], i*0x9E3779B97F4A7C15)
	binary.LittleEndian.PutUint64(id.ID[8:], i)
	return id
}

// benchCache holds n sessions of alice, each seen by shard i%shards.
func benchCache(b *testing.B, n, shards int) (*Cache, []sessionid.ID) {
	b.Helper()
	c := New(Config{MaxSessions: 2 * n})
	ids := make([]sessionid.ID, n)
	for i := range ids {
		ids[i] = benchID(uint64(i), alice)
		if err := c.Vivify(ids[i], "alice@admin"); err != nil {
			b.Fatal(err)
		}
		if err := c.MarkSeen(ids[i], i%shards); err != nil {
			b.Fatal(err)
		}
	}
	return c, ids
}

func BenchmarkVivifyParallel(b *testing.B) {
	b.Run("touch", func(b *testing.B) {
		c, ids := benchCache(b, 1<<16, 4)
		var next atomic.Uint64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1) << 20
			for pb.Next() {
				_ = c.Vivify(ids[i%uint64(len(ids))], "alice@admin")
				i++
			}
		})
	})
	b.Run("new", func(b *testing.B) {
		c := New(Config{MaxSessions: 1 << 40})
		var next atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := c.Vivify(benchID(next.Add(1), alice), "alice@admin"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkMemoryPerSession reports the heap held per session at 1,000,000 sessions, each seen
// by one shard (the ids slice is allocated before the first reading and excluded).
func BenchmarkMemoryPerSession(b *testing.B) {
	ids := make([]sessionid.ID, benchSessions)
	for i := range ids {
		ids[i] = benchID(uint64(i), alice)
	}
	var perSession float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := New(Config{MaxSessions: benchSessions})
		for i, id := range ids {
			if err := c.Vivify(id, "alice@admin"); err != nil {
				b.Fatal(err)
			}
			_ = c.MarkSeen(id, i%4)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSession = float64(after.HeapAlloc-before.HeapAlloc) / benchSessions
		runtime.KeepAlive(c)
	}
	runtime.KeepAlive(ids)
	b.ReportMetric(perSession, "B/session")
}

// BenchmarkKillByPattern kills by a uid that matches all 1,000,000 sessions.
func BenchmarkKillByPattern(b *testing.B) {
	p := sessionid.Patterns{UIDs: map[sessionid.UID]struct{}{alice: {}}}
	b.Run("plain", func(b *testing.B) {
		c, _ := benchCache(b, benchSessions, 4)
		for b.Loop() {
			c.Kill(&p)
		}
	})
	b.Run("txn+cursor", func(b *testing.B) {
		// Every session has a transaction and a cursor: the worst case.
		c, ids := benchCache(b, benchSessions, 4)
		for i, id := range ids {
			_ = c.BeginTxn(id, 1, TxnOptions{})
			_ = c.AddCursor(id, int64(i)+1)
		}
		b.ResetTimer()
		for range b.N {
			if got := c.Kill(&p); len(got) != benchSessions {
				b.Fatalf("closed %d cursors", len(got))
			}
			b.StopTimer()
			for i, id := range ids {
				_ = c.AddCursor(id, int64(i)+1)
			}
			b.StartTimer()
		}
	})
}

// BenchmarkRefreshCycle refreshes 1,000,000 used sessions spread over 4 shards, with no-op I/O.
func BenchmarkRefreshCycle(b *testing.B) {
	c, ids := benchCache(b, benchSessions, 4)
	var calls atomic.Int64
	noop := func(context.Context, int, []sessionid.ID) error { calls.Add(1); return nil }
	io := IO{Refresh: noop, End: noop}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if res := c.Refresh(ctx, io); res.Refreshed != benchSessions {
			b.Fatalf("refreshed %d", res.Refreshed)
		}
		b.StopTimer()
		for _, id := range ids {
			_ = c.Vivify(id, "alice@admin")
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "calls/op")
}
