// Package metrics exposes the router's measurements to Prometheus: it implements
// router.Observer (command latency split into total, shard round trip and the router's own
// share; counts and errors by code; fan-out latency), reads the router's gauges at scrape time,
// counts shard pool activity from the driver's pool events, and serves /metrics, /healthz and
// /readyz. Everything lives in its own registry, never the global default one.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/router"
)

const namespace = "mongos_lite"

// latencyBuckets span the router's own cost (microseconds) up to slow shard commands (seconds):
// 5 µs to 10 s in 16 exponential steps of about 2.6x.
var latencyBuckets = prometheus.ExponentialBucketsRange(5e-6, 10, 16)

// Metrics is the router's Prometheus registry and its router.Observer. Its methods are safe for
// concurrent use; CommandDone and FanoutDone do not allocate once a command name has been seen.
type Metrics struct {
	reg *prometheus.Registry

	latency *prometheus.HistogramVec // command, part
	count   *prometheus.CounterVec   // command
	errs    *prometheus.CounterVec   // command, code, code_name
	fanout  *prometheus.HistogramVec // command, targets
	opened  prometheus.Counter
	closed  prometheus.Counter

	// Children of each label set, so the per-command path neither locks nor allocates.
	commands cowMap[string, *command]
	fanouts  cowMap[fanoutKey, prometheus.Observer]

	sources sourceList
}

// command is the precomputed children of one command name.
type command struct {
	total, shard, own prometheus.Observer
	count             prometheus.Counter
	errs              cowMap[int32, prometheus.Counter]
}

type fanoutKey struct {
	command string
	targets int
}

// commonCommands get their children at start so that the first of each costs nothing either.
var commonCommands = []string{"find", "insert", "update", "delete", "aggregate", "getMore",
	"killCursors", "findAndModify", "hello", "isMaster", "ping", "endSessions", "killSessions",
	"refreshSessions", "startSession", "other"}

// New builds the registry with the router's metrics, the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "command_duration_seconds",
		Help: "Client command latency by part: total (frame read to reply written), shard (round trips to shards " +
			"within it, observed only when there were any) and router (total minus shard: the router's own cost).",
		Buckets: latencyBuckets,
	}, []string{"command", "part"})
	m.count = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "commands_total", Help: "Client commands answered, by command name.",
	}, []string{"command"})
	m.errs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "command_errors_total", Help: "Client commands answered with ok: 0, by command and error code.",
	}, []string{"command", "code", "code_name"})
	m.fanout = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "fanout_duration_seconds",
		Help:    "Wall time of a session command broadcast to every shard or every member, by command and target count.",
		Buckets: latencyBuckets,
	}, []string{"command", "targets"})
	m.opened = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "client_connections_opened_total", Help: "Client connections accepted."})
	m.closed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "client_connections_closed_total", Help: "Client connections closed."})
	m.reg.MustRegister(m.latency, m.count, m.errs, m.fanout, m.opened, m.closed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.sources.register(m.reg)
	m.reg.MustRegister(newTxnCollector(&m.sources))

	for _, name := range commonCommands {
		m.command(name)
	}
	return m
}

// Registry is the registry holding every metric (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) newCommand(name string) *command {
	return &command{
		total: m.latency.WithLabelValues(name, "total"),
		shard: m.latency.WithLabelValues(name, "shard"),
		own:   m.latency.WithLabelValues(name, "router"),
		count: m.count.WithLabelValues(name),
	}
}

// command returns name's children, creating them the first time. The router reports known
// command names and "other", so the set stays small.
func (m *Metrics) command(name string) *command {
	return m.commands.get(name, func() *command { return m.newCommand(name) })
}

// CommandDone implements router.Observer.
func (m *Metrics) CommandDone(name string, total, shard time.Duration, code int32) {
	c := m.command(name)
	c.count.Inc()
	c.total.Observe(total.Seconds())
	if shard > 0 {
		c.shard.Observe(shard.Seconds())
	}
	c.own.Observe(max(total-shard, 0).Seconds())
	if code != 0 {
		c.errs.get(code, func() prometheus.Counter {
			return m.errs.WithLabelValues(name, strconv.Itoa(int(code)), mongoerr.Code(code).Name())
		}).Inc()
	}
}

// FanoutDone implements router.Observer.
func (m *Metrics) FanoutDone(command string, targets int, took time.Duration) {
	key := fanoutKey{command, targets}
	m.fanouts.get(key, func() prometheus.Observer {
		return m.fanout.WithLabelValues(command, strconv.Itoa(targets))
	}).Observe(took.Seconds())
}

// ConnOpened implements router.Observer.
func (m *Metrics) ConnOpened() { m.opened.Inc() }

// ConnClosed implements router.Observer.
func (m *Metrics) ConnClosed() { m.closed.Inc() }

var _ router.Observer = (*Metrics)(nil)
