package metrics

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// TestShardPools reads the pools of two routers in one process: the same member's figures are
// summed, other members and shards keep their own series.
func TestShardPools(t *testing.T) {
	m := New()
	const a, b = "127.0.0.1:41001", "127.0.0.1:41002"
	m.Watch(&fakeSource{pools: []router.ShardPool{
		{Shard: "rs0", Stats: pool.Stats{Addr: a, Open: 2, InUse: 1, Created: 3, Checkouts: 5, FailedTimeout: 1, Cleared: 1}},
		{Shard: "rs1", Stats: pool.Stats{Addr: b, Open: 1, InUse: 1, Checkouts: 1, FailedConnection: 2}},
	}})
	m.Watch(&fakeSource{pools: []router.ShardPool{
		{Shard: "rs0", Stats: pool.Stats{Addr: a, Open: 1, Created: 1, Checkouts: 3, FailedClosed: 4}},
	}})
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mongos_lite_shard_pool_connections", map[string]string{"shard": "rs0", "host": a}, 3},
		{"mongos_lite_shard_pool_connections_in_use", map[string]string{"shard": "rs0", "host": a}, 1},
		{"mongos_lite_shard_pool_checkouts_total", map[string]string{"shard": "rs0", "host": a}, 8},
		{"mongos_lite_shard_pool_connections_created_total", map[string]string{"shard": "rs0", "host": a}, 4},
		{"mongos_lite_shard_pool_checkout_failures_total", map[string]string{"shard": "rs0", "host": a, "reason": event.ReasonTimedOut}, 1},
		{"mongos_lite_shard_pool_checkout_failures_total", map[string]string{"shard": "rs0", "host": a, "reason": event.ReasonPoolClosed}, 4},
		{"mongos_lite_shard_pool_checkout_failures_total", map[string]string{"shard": "rs1", "host": b, "reason": event.ReasonConnectionErrored}, 2},
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
