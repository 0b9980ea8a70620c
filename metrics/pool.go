package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/v2/event"
)

// poolMetrics count each shard member's connection pool from the driver's pool events.
type poolMetrics struct {
	open      *prometheus.GaugeVec   // shard, host
	inUse     *prometheus.GaugeVec   // shard, host
	checkouts *prometheus.CounterVec // shard, host
	failures  *prometheus.CounterVec // shard, host, reason
	cleared   *prometheus.CounterVec // shard, host

	hosts cowMap[poolKey, *hostPool]
}

type poolKey struct{ shard, host string }

// hostPool is the children of one member's pool.
type hostPool struct {
	open, inUse        prometheus.Gauge
	checkouts, cleared prometheus.Counter
	shard, host        string
	failures           *prometheus.CounterVec
}

func (p *poolMetrics) init() {
	labels := []string{"shard", "host"}
	p.open = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "shard_pool_connections",
		Help: "Connections open from the router to a shard member (idle or in use).",
	}, labels)
	p.inUse = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "shard_pool_connections_in_use",
		Help: "Connections to a shard member checked out for a round trip.",
	}, labels)
	p.checkouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "shard_pool_checkouts_total",
		Help: "Connections checked out of a shard member's pool.",
	}, labels)
	p.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "shard_pool_checkout_failures_total",
		Help: "Checkouts that failed, by the driver's reason (timeout, connectionError, poolClosed).",
	}, []string{"shard", "host", "reason"})
	p.cleared = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "shard_pool_cleared_total",
		Help: "Times a shard member's pool was cleared after a network or state error.",
	}, labels)
}

func (p *poolMetrics) register(reg *prometheus.Registry) {
	reg.MustRegister(p.open, p.inUse, p.checkouts, p.failures, p.cleared)
}

func (p *poolMetrics) host(shard, host string) *hostPool {
	return p.hosts.get(poolKey{shard, host}, func() *hostPool {
		return &hostPool{
			open:      p.open.WithLabelValues(shard, host),
			inUse:     p.inUse.WithLabelValues(shard, host),
			checkouts: p.checkouts.WithLabelValues(shard, host),
			cleared:   p.cleared.WithLabelValues(shard, host),
			shard:     shard, host: host, failures: p.failures,
		}
	})
}

// PoolMonitor returns the driver pool monitor of one shard (shards.Config.PoolMonitor). Note
// that the driver allocates one event per pool event while a monitor is set: about three per
// forwarded command (checkout started, checked out, checked in).
func (m *Metrics) PoolMonitor(shard string) *event.PoolMonitor {
	return &event.PoolMonitor{Event: func(e *event.PoolEvent) {
		h := m.pool.host(shard, e.Address)
		switch e.Type {
		case event.ConnectionCreated:
			h.open.Inc()
		case event.ConnectionClosed:
			h.open.Dec()
		case event.ConnectionCheckedOut:
			h.checkouts.Inc()
			h.inUse.Inc()
		case event.ConnectionCheckedIn:
			h.inUse.Dec()
		case event.ConnectionCheckOutFailed:
			h.failures.WithLabelValues(h.shard, h.host, e.Reason).Inc()
		case event.ConnectionPoolCleared:
			h.cleared.Inc()
		}
	}}
}
