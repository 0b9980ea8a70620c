package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongos-lite/mongos-lite/router"
)

// Source is a router the gauges and /readyz read: *router.Server.
type Source interface {
	Stats() router.Stats
	ShardPools() []router.ShardPool
	Ready() bool
	TxnStats() router.TxnStats
}

// Watch adds a router to the gauges (summed over every watched router, for a process that runs
// several) and to /readyz.
func (m *Metrics) Watch(s Source) {
	m.sources.mu.Lock()
	m.sources.list = append(m.sources.list, s)
	m.sources.mu.Unlock()
}

// sourceList is a collector reading the watched routers' Stats once per scrape.
type sourceList struct {
	mu   sync.Mutex
	list []Source

	sessions, cursors, conns *prometheus.Desc
	pools                    poolDescs
}

func (l *sourceList) register(reg *prometheus.Registry) {
	l.sessions = prometheus.NewDesc(namespace+"_sessions_active",
		"Logical sessions used since the last refresh of the router's session cache.", nil, nil)
	l.cursors = prometheus.NewDesc(namespace+"_cursors_open", "Cursors the router tracks for clients.", nil, nil)
	l.conns = prometheus.NewDesc(namespace+"_client_connections", "Client connections open now.", nil, nil)
	l.pools = newPoolDescs()
	reg.MustRegister(l)
}

func (l *sourceList) snapshot() []Source {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Source(nil), l.list...)
}

// Describe implements prometheus.Collector.
func (l *sourceList) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.sessions
	ch <- l.cursors
	ch <- l.conns
	l.pools.describe(ch)
}

// Collect implements prometheus.Collector.
func (l *sourceList) Collect(ch chan<- prometheus.Metric) {
	var sum router.Stats
	var pools []router.ShardPool
	for _, s := range l.snapshot() {
		pools = append(pools, s.ShardPools()...)
		st := s.Stats()
		sum.ActiveSessions += st.ActiveSessions
		sum.OpenCursors += st.OpenCursors
		sum.Connections += st.Connections
	}
	ch <- prometheus.MustNewConstMetric(l.sessions, prometheus.GaugeValue, float64(sum.ActiveSessions))
	ch <- prometheus.MustNewConstMetric(l.cursors, prometheus.GaugeValue, float64(sum.OpenCursors))
	ch <- prometheus.MustNewConstMetric(l.conns, prometheus.GaugeValue, float64(sum.Connections))
	l.pools.collect(ch, pools)
}

// ready reports whether there is a watched router and every one is ready.
func (l *sourceList) ready() bool {
	list := l.snapshot()
	for _, s := range list {
		if !s.Ready() {
			return false
		}
	}
	return len(list) > 0
}
