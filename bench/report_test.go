package bench

import (
	"strings"
	"testing"
	"time"
)

// result builds a Result of n operations over elapsed, each taking lat.
func result(uri string, n int64, elapsed, lat time.Duration) *Result {
	r := &Result{URI: uri, Ops: n, Elapsed: elapsed}
	for range n {
		r.Latency.Record(lat)
	}
	return r
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name    string
		results []*Result
		ok      bool
		want    Comparison
	}{
		{"one target", []*Result{result("a", 10, time.Second, time.Millisecond)}, false, Comparison{}},
		{"router slower", []*Result{result("a", 800, time.Second, 120*time.Microsecond), result("b", 1000, time.Second, 100*time.Microsecond)},
			true, Comparison{Throughput: 0.8, AddedP50: 20 * time.Microsecond, AddedP99: 20 * time.Microsecond}},
		{"first faster", []*Result{result("a", 300, time.Second, 50*time.Microsecond), result("b", 200, 2*time.Second, 80*time.Microsecond)},
			true, Comparison{Throughput: 3, AddedP50: -30 * time.Microsecond, AddedP99: -30 * time.Microsecond}},
		{"second measured nothing", []*Result{result("a", 10, time.Second, time.Millisecond), result("b", 0, time.Second, 0)}, false, Comparison{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Results: tc.results}
			got, ok := rep.Compare()
			if ok != tc.ok || got != tc.want {
				t.Errorf("Compare() = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	a := result("mongodb://127.0.0.1:27017/", 2000, 2*time.Second, 150*time.Microsecond)
	b := result("mongodb://127.0.0.1:41001/?replicaSet=rs0", 2500, 2*time.Second, 100*time.Microsecond)
	b.Errors, b.FirstErr = 3, "connection refused"
	rep := &Report{Config: Config{Workload: KillFanout, Concurrency: 16, Duration: 4 * time.Second, Rounds: 4, Docs: 1000, Sessions: 4},
		Results: []*Result{a, b}}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	want := `workload kill-fanout: 16 clients, 4s per target in 4 rounds alternating, 1000 docs, 4 sessions per kill
   ops  ops/s    p50    p99  p99.9  errors  target
  2000   1000  150µs  150µs  150µs       0  mongodb://127.0.0.1:27017/
  2500   1250  100µs  100µs  100µs       3  mongodb://127.0.0.1:41001/?replicaSet=rs0
ratio uri/compare-uri: throughput 0.800, p50 +50.0µs, p99 +50.0µs
first error on mongodb://127.0.0.1:41001/?replicaSet=rs0: connection refused
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestFormatLatency(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{999, "999ns"},
		{1500, "1.50µs"},
		{41_230, "41.2µs"},
		{123_456, "123µs"},
		{2_345_678, "2.35ms"},
		{999_999_999, "1000ms"},
		{12 * time.Second, "12.0s"},
	} {
		if got := formatLatency(tc.d); got != tc.want {
			t.Errorf("formatLatency(%d) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/"},
		{"mongodb://alice:s3cret@h1:1,h2:2/db?replicaSet=rs0", "mongodb://alice:xxxxx@h1:1,h2:2/db?replicaSet=rs0"},
		{"mongodb://alice@h1/", "mongodb://alice@h1/"},
		{"mongodb+srv://bob:p@ss:w@cluster.example/", "mongodb+srv://bob:xxxxx@cluster.example/"},
		{"mongodb://h1/?authMechanism=x@y", "mongodb://h1/?authMechanism=x@y"},
		{"not a uri", "not a uri"},
	} {
		if got := redact(tc.in); got != tc.want {
			t.Errorf("redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Config{URI: "mongodb://127.0.0.1/"}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"no uri", func(c *Config) { c.URI = "" }, "URI"},
		{"workload", func(c *Config) { c.Workload = "scan" }, "unknown workload"},
		{"concurrency", func(c *Config) { c.Concurrency = MaxConcurrency + 1 }, "concurrency"},
		{"negative duration", func(c *Config) { c.Duration = -time.Second }, "duration"},
		{"too long", func(c *Config) { c.Duration = MaxDuration + 1 }, "duration"},
		{"rounds", func(c *Config) { c.Rounds = -1 }, "rounds"},
		{"max ops", func(c *Config) { c.MaxOps = -1 }, "max ops"},
		{"one doc", func(c *Config) { c.Docs = 1 }, "docs"},
		{"sessions", func(c *Config) { c.Sessions = MaxSessions + 1 }, "sessions"},
		{"op timeout", func(c *Config) { c.OpTimeout = -1 }, "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			err := cfg.withDefaults().validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("validate: %v, want %q", err, tc.want)
			}
		})
	}
}
