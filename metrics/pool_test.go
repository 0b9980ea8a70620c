package metrics

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"
)

func TestPoolMonitor(t *testing.T) {
	m := New()
	rs0, rs1 := m.PoolMonitor("rs0"), m.PoolMonitor("rs1")
	const a, b = "127.0.0.1:41001", "127.0.0.1:41002"
	for _, e := range []struct {
		mon *event.PoolMonitor
		ev  event.PoolEvent
	}{
		{rs0, event.PoolEvent{Type: event.ConnectionPoolCreated, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCreated, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCreated, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCheckOutStarted, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCheckedOut, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCheckedOut, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCheckedIn, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionClosed, Address: a}},
		{rs0, event.PoolEvent{Type: event.ConnectionCheckOutFailed, Address: a, Reason: event.ReasonTimedOut}},
		{rs0, event.PoolEvent{Type: event.ConnectionPoolCleared, Address: a}},
		{rs1, event.PoolEvent{Type: event.ConnectionCreated, Address: b}},
		{rs1, event.PoolEvent{Type: event.ConnectionCheckedOut, Address: b}},
	} {
		e.mon.Event(&e.ev)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mongos_lite_shard_pool_connections", map[string]string{"shard": "rs0", "host": a}, 1},
		{"mongos_lite_shard_pool_connections_in_use", map[string]string{"shard": "rs0", "host": a}, 1},
		{"mongos_lite_shard_pool_checkouts_total", map[string]string{"shard": "rs0", "host": a}, 2},
		{"mongos_lite_shard_pool_checkout_failures_total", map[string]string{"shard": "rs0", "host": a, "reason": event.ReasonTimedOut}, 1},
		{"mongos_lite_shard_pool_cleared_total", map[string]string{"shard": "rs0", "host": a}, 1},
		{"mongos_lite_shard_pool_connections", map[string]string{"shard": "rs1", "host": b}, 1},
		{"mongos_lite_shard_pool_connections_in_use", map[string]string{"shard": "rs1", "host": b}, 1},
		{"mongos_lite_shard_pool_connections", map[string]string{"shard": "rs1", "host": a}, 0},
	} {
		if got := counter(t, m.reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func TestPoolMonitorCheckoutDoesNotAllocate(t *testing.T) {
	mon := New().PoolMonitor("rs0")
	out := &event.PoolEvent{Type: event.ConnectionCheckedOut, Address: "127.0.0.1:41001"}
	in := &event.PoolEvent{Type: event.ConnectionCheckedIn, Address: "127.0.0.1:41001"}
	mon.Event(out)
	if n := testing.AllocsPerRun(1000, func() { mon.Event(out); mon.Event(in) }); n != 0 {
		t.Errorf("%v allocations per checkout and checkin, want 0", n)
	}
}

// BenchmarkPoolMonitorRoundTrip is the metrics' share of one shard round trip's pool events
// (checkout started, checked out, checked in); the driver allocates the events themselves.
func BenchmarkPoolMonitorRoundTrip(b *testing.B) {
	mon := New().PoolMonitor("rs0")
	events := []*event.PoolEvent{
		{Type: event.ConnectionCheckOutStarted, Address: "127.0.0.1:41001"},
		{Type: event.ConnectionCheckedOut, Address: "127.0.0.1:41001"},
		{Type: event.ConnectionCheckedIn, Address: "127.0.0.1:41001"},
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, e := range events {
				mon.Event(e)
			}
		}
	})
}
