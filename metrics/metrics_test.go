package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// find returns the sample of family name whose labels include want, or nil.
func find(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) *dto.Metric {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			return m
		}
	}
	return nil
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(t, reg, name, labels)
	if m == nil {
		return 0
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

// histogram returns the sample count and sum of one histogram child (0, 0 when absent).
func histogram(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (uint64, float64) {
	t.Helper()
	m := find(t, reg, name, labels)
	if m == nil {
		return 0, 0
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

func TestCommandDone(t *testing.T) {
	type call struct {
		name         string
		total, shard time.Duration
		code         int32
	}
	type part struct {
		command, part string
		count         uint64
		sum           float64
	}
	type errCount struct {
		command, code, codeName string
		n                       float64
	}
	for _, tc := range []struct {
		name   string
		calls  []call
		counts map[string]float64
		parts  []part
		errs   []errCount
	}{
		{
			name:   "forwarded command: router share is total minus shard",
			calls:  []call{{"find", 300 * time.Microsecond, 250 * time.Microsecond, 0}},
			counts: map[string]float64{"find": 1},
			parts: []part{{"find", "total", 1, 300e-6}, {"find", "shard", 1, 250e-6},
				{"find", "router", 1, 50e-6}},
		},
		{
			name:   "local command: no shard sample, router share is the total",
			calls:  []call{{"ping", 20 * time.Microsecond, 0, 0}, {"ping", 30 * time.Microsecond, 0, 0}},
			counts: map[string]float64{"ping": 2},
			parts:  []part{{"ping", "total", 2, 50e-6}, {"ping", "shard", 0, 0}, {"ping", "router", 2, 50e-6}},
		},
		{
			name: "errors by code, with the code's name",
			calls: []call{{"insert", time.Millisecond, time.Millisecond, 11000}, {"insert", time.Millisecond, time.Millisecond, 11000},
				{"insert", time.Millisecond, time.Millisecond, 0}, {"find", time.Millisecond, 0, 13}},
			counts: map[string]float64{"insert": 3, "find": 1},
			errs: []errCount{{"insert", "11000", "DuplicateKey", 2}, {"find", "13", "Unauthorized", 1},
				{"insert", "13", "Unauthorized", 0}},
		},
		{
			name:   "a name not seen before gets its own children",
			calls:  []call{{"collMod", time.Millisecond, time.Millisecond, 0}},
			counts: map[string]float64{"collMod": 1, "find": 0},
			parts:  []part{{"collMod", "total", 1, 1e-3}},
		},
		{
			name:   "shard time above the total (clock steps) never gives a negative share",
			calls:  []call{{"find", time.Microsecond, 2 * time.Microsecond, 0}},
			counts: map[string]float64{"find": 1},
			parts:  []part{{"find", "router", 1, 0}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			for _, c := range tc.calls {
				m.CommandDone(c.name, c.total, c.shard, c.code)
			}
			for name, want := range tc.counts {
				if got := counter(t, m.reg, "mongos_lite_commands_total", map[string]string{"command": name}); got != want {
					t.Errorf("commands_total{command=%q} = %v, want %v", name, got, want)
				}
			}
			for _, p := range tc.parts {
				n, sum := histogram(t, m.reg, "mongos_lite_command_duration_seconds", map[string]string{"command": p.command, "part": p.part})
				if n != p.count || (sum-p.sum) > 1e-12 || (p.sum-sum) > 1e-12 {
					t.Errorf("%s/%s: %d samples summing %v, want %d summing %v", p.command, p.part, n, sum, p.count, p.sum)
				}
			}
			for _, e := range tc.errs {
				got := counter(t, m.reg, "mongos_lite_command_errors_total", map[string]string{"command": e.command, "code": e.code, "code_name": e.codeName})
				if got != e.n {
					t.Errorf("errors{%s, %s %s} = %v, want %v", e.command, e.code, e.codeName, got, e.n)
				}
			}
		})
	}
}

func TestFanoutDone(t *testing.T) {
	m := New()
	m.FanoutDone("killAllSessionsByPattern", 6, 3*time.Millisecond)
	m.FanoutDone("killAllSessionsByPattern", 6, 5*time.Millisecond)
	m.FanoutDone("killAllSessionsByPattern", 2, time.Millisecond)
	m.FanoutDone("refreshSessions", 2, time.Millisecond)
	for _, tc := range []struct {
		command, targets string
		count            uint64
		sum              float64
	}{
		{"killAllSessionsByPattern", "6", 2, 8e-3},
		{"killAllSessionsByPattern", "2", 1, 1e-3},
		{"refreshSessions", "2", 1, 1e-3},
		{"refreshSessions", "6", 0, 0},
	} {
		n, sum := histogram(t, m.reg, "mongos_lite_fanout_duration_seconds", map[string]string{"command": tc.command, "targets": tc.targets})
		if n != tc.count || sum-tc.sum > 1e-12 || tc.sum-sum > 1e-12 {
			t.Errorf("fanout{%s, %s}: %d samples summing %v, want %d summing %v", tc.command, tc.targets, n, sum, tc.count, tc.sum)
		}
	}
}

func TestConnections(t *testing.T) {
	m := New()
	for range 3 {
		m.ConnOpened()
	}
	m.ConnClosed()
	if got := counter(t, m.reg, "mongos_lite_client_connections_opened_total", nil); got != 3 {
		t.Errorf("opened %v, want 3", got)
	}
	if got := counter(t, m.reg, "mongos_lite_client_connections_closed_total", nil); got != 1 {
		t.Errorf("closed %v, want 1", got)
	}
}

// The observer runs on every command: once a label set exists, it must not allocate.
func TestHotPathDoesNotAllocate(t *testing.T) {
	m := New()
	m.CommandDone("insert", time.Millisecond, time.Millisecond, 11000) // creates the error child
	m.FanoutDone("endSessions", 4, time.Millisecond)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"known command", func() { m.CommandDone("find", 90*time.Microsecond, 60*time.Microsecond, 0) }},
		{"local command", func() { m.CommandDone("hello", 9*time.Microsecond, 0, 0) }},
		{"error seen before", func() { m.CommandDone("insert", time.Millisecond, time.Millisecond, 11000) }},
		{"fan-out seen before", func() { m.FanoutDone("endSessions", 4, time.Millisecond) }},
		{"connections", func() { m.ConnOpened(); m.ConnClosed() }},
	} {
		if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", tc.name, n)
		}
	}
}

func BenchmarkCommandDone(b *testing.B) {
	m := New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.CommandDone("find", 90*time.Microsecond, 60*time.Microsecond, 0)
		}
	})
}
