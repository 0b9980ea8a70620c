package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/event"

	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// poolDescs describe the routers' connection pools to shard members. They are read from the
// pools' own counters at scrape time, so a round trip pays nothing for them.
type poolDescs struct {
	open, inUse, created, checkouts, failures, cleared *prometheus.Desc
}

func newPoolDescs() poolDescs {
	labels := []string{"shard", "host"}
	return poolDescs{
		open: prometheus.NewDesc(namespace+"_shard_pool_connections",
			"Connections open from the router to a shard member (idle or in use).", labels, nil),
		inUse: prometheus.NewDesc(namespace+"_shard_pool_connections_in_use",
			"Connections to a shard member checked out for a round trip.", labels, nil),
		created: prometheus.NewDesc(namespace+"_shard_pool_connections_created_total",
			"Connections to a shard member made (dialled, handshaken, authenticated).", labels, nil),
		checkouts: prometheus.NewDesc(namespace+"_shard_pool_checkouts_total",
			"Connections checked out of a shard member's pool.", labels, nil),
		failures: prometheus.NewDesc(namespace+"_shard_pool_checkout_failures_total",
			"Checkouts that failed, by reason (timeout, connectionError, poolClosed, as the driver names them).",
			append(labels, "reason"), nil),
		cleared: prometheus.NewDesc(namespace+"_shard_pool_cleared_total",
			"Times a shard member's pool was cleared after a network or state error.", labels, nil),
	}
}

func (d poolDescs) describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{d.open, d.inUse, d.created, d.checkouts, d.failures, d.cleared} {
		ch <- desc
	}
}

// collect sums the pools per shard and member (several routers in one process each have theirs).
func (d poolDescs) collect(ch chan<- prometheus.Metric, pools []router.ShardPool) {
	type key struct{ shard, host string }
	sums := map[key]*pool.Stats{}
	var order []key
	for _, p := range pools {
		k := key{p.Shard, p.Addr}
		s := sums[k]
		if s == nil {
			s = &pool.Stats{}
			sums[k] = s
			order = append(order, k)
		}
		s.Open += p.Open
		s.InUse += p.InUse
		s.Created += p.Created
		s.Checkouts += p.Checkouts
		s.FailedTimeout += p.FailedTimeout
		s.FailedConnection += p.FailedConnection
		s.FailedClosed += p.FailedClosed
		s.Cleared += p.Cleared
	}
	for _, k := range order {
		s := sums[k]
		ch <- prometheus.MustNewConstMetric(d.open, prometheus.GaugeValue, float64(s.Open), k.shard, k.host)
		ch <- prometheus.MustNewConstMetric(d.inUse, prometheus.GaugeValue, float64(s.InUse), k.shard, k.host)
		ch <- prometheus.MustNewConstMetric(d.created, prometheus.CounterValue, float64(s.Created), k.shard, k.host)
		ch <- prometheus.MustNewConstMetric(d.checkouts, prometheus.CounterValue, float64(s.Checkouts), k.shard, k.host)
		ch <- prometheus.MustNewConstMetric(d.cleared, prometheus.CounterValue, float64(s.Cleared), k.shard, k.host)
		for reason, n := range map[string]uint64{event.ReasonTimedOut: s.FailedTimeout,
			event.ReasonConnectionErrored: s.FailedConnection, event.ReasonPoolClosed: s.FailedClosed} {
			ch <- prometheus.MustNewConstMetric(d.failures, prometheus.CounterValue, float64(n), k.shard, k.host, reason)
		}
	}
}
