package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is one memshard replica set with a router in front, all in this process.
type cluster struct {
	set    *memshard.ReplicaSet
	shard  *shards.Shard
	router *router.Server
	served chan error
}

func startCluster(t *testing.T, members int) *cluster {
	t.Helper()
	c := &cluster{served: make(chan error, 1)}
	t.Cleanup(c.close)
	var err error
	if c.set, err = memshard.StartReplicaSet("rs0", members); err != nil {
		t.Fatal(err)
	}
	c.shard, err = shards.Open(shards.Config{Name: "rs0", SetName: "rs0", Hosts: c.set.Hosts(),
		ServerSelectionTimeout: 5 * time.Second, HeartbeatInterval: 500 * time.Millisecond, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if c.router, err = router.New(router.Config{Logger: zerolog.Nop()}, []*shards.Shard{c.shard}); err != nil {
		t.Fatal(err)
	}
	if err := c.router.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { c.served <- c.router.Serve() }()
	return c
}

func (c *cluster) uri() string { return "mongodb://" + c.router.Addr() + "/" }

func (c *cluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.router != nil {
		_ = c.router.Close(ctx)
		if c.router.Addr() != "" {
			<-c.served
		}
	}
	if c.shard != nil {
		_ = c.shard.Close(ctx)
	}
	if c.set != nil {
		_ = c.set.Close()
	}
}

// count sums a command's count over the set's members.
func (c *cluster) count(name string) (total int64, perMember []int64) {
	for i := range c.set.Hosts() {
		n := c.set.Member(i).CommandCount(name)
		total += n
		perMember = append(perMember, n)
	}
	return total, perMember
}

func runOK(t *testing.T, cfg Config) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.Ops == 0 || r.Errors != 0 || r.FirstErr != "" {
			t.Fatalf("%s: %d ops, %d errors, first error %q", r.URI, r.Ops, r.Errors, r.FirstErr)
		}
		if r.Latency.Count() != uint64(r.Ops) {
			t.Errorf("%s: %d latencies for %d ops", r.URI, r.Latency.Count(), r.Ops)
		}
	}
	return rep
}

func TestWorkloadsThroughRouter(t *testing.T) {
	for _, tc := range []struct {
		workload string
		// check looks at what the shard and the router saw, given the successful operations.
		check func(t *testing.T, c *cluster, ops int64)
	}{
		{FindID, func(t *testing.T, c *cluster, ops int64) {
			if n, _ := c.count("find"); n < ops {
				t.Errorf("shard ran %d finds for %d operations", n, ops)
			}
		}},
		{Insert, func(t *testing.T, c *cluster, ops int64) {
			// Seeding inserts too; every benchmark insert is one more.
			if n, _ := c.count("insert"); n < ops {
				t.Errorf("shard ran %d inserts for %d operations", n, ops)
			}
		}},
		{Mixed, func(t *testing.T, c *cluster, ops int64) {
			finds, _ := c.count("find")
			inserts, _ := c.count("insert")
			if finds+inserts < ops || finds == 0 || inserts == 0 {
				t.Errorf("shard ran %d finds and %d inserts for %d operations", finds, inserts, ops)
			}
		}},
		{SessionChurn, func(t *testing.T, c *cluster, ops int64) {
			if n, _ := c.count("endSessions"); n < ops {
				t.Errorf("shard primary ended sessions %d times for %d operations", n, ops)
			}
		}},
		{KillFanout, func(t *testing.T, c *cluster, ops int64) {
			// Each killSessions reaches every member exactly once and leaves no router cursor.
			_, per := c.count("killAllSessionsByPattern")
			for i, n := range per {
				if n != ops {
					t.Errorf("member %d ran %d kills for %d killSessions", i, n, ops)
				}
			}
			if open := c.router.Stats().OpenCursors; open != 0 {
				t.Errorf("router still tracks %d cursors", open)
			}
		}},
	} {
		t.Run(tc.workload, func(t *testing.T) {
			c := startCluster(t, 3)
			rep := runOK(t, Config{URI: c.uri(), Workload: tc.workload, Concurrency: 2, Duration: 300 * time.Millisecond, Docs: 20})
			tc.check(t, c, rep.Results[0].Ops)
		})
	}
}

func TestCompareRouterWithDirect(t *testing.T) {
	c := startCluster(t, 1)
	rep := runOK(t, Config{URI: c.uri(), CompareURI: c.set.URI(), Concurrency: 4, Duration: 400 * time.Millisecond, Rounds: 2, Docs: 50})
	if len(rep.Results) != 2 || rep.Results[1].URI != c.set.URI() {
		t.Fatalf("results %+v", rep.Results)
	}
	cmp, ok := rep.Compare()
	if !ok || cmp.Throughput <= 0 {
		t.Fatalf("comparison %+v, %v", cmp, ok)
	}
	// Each target got half the rounds' time, not the whole duration twice over.
	for _, r := range rep.Results {
		if r.Elapsed < 400*time.Millisecond || r.Elapsed > 5*time.Second {
			t.Errorf("%s ran for %v, want about 400ms", r.URI, r.Elapsed)
		}
	}
	var out strings.Builder
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ratio uri/compare-uri: throughput ") {
		t.Errorf("table lacks the ratio:\n%s", out.String())
	}
}

// MaxOps bounds a run by count well before its duration, however it divides into rounds.
func TestMaxOps(t *testing.T) {
	c := startCluster(t, 1)
	for _, tc := range []struct {
		maxOps int64
		rounds int
	}{{50, 3}, {2, 4}, {1, 1}} {
		t.Run(fmt.Sprintf("%d ops in %d rounds", tc.maxOps, tc.rounds), func(t *testing.T) {
			start := time.Now()
			rep := runOK(t, Config{URI: c.uri(), Concurrency: 3, Duration: time.Minute, Rounds: tc.rounds, MaxOps: tc.maxOps, Docs: 10})
			if got := rep.Results[0].Ops; got != tc.maxOps {
				t.Errorf("%d operations, want exactly %d", got, tc.maxOps)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("took %v: MaxOps did not end the run", took)
			}
		})
	}
}

func TestRunFailures(t *testing.T) {
	c := startCluster(t, 1)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cfg  Config
		want string
	}{
		{"no URI", context.Background(), Config{}, "URI"},
		{"unknown workload", context.Background(), Config{URI: c.uri(), Workload: "scan"}, "unknown workload"},
		{"bad URI", context.Background(), Config{URI: "postgres://x"}, "postgres://x"},
		{"nobody listening", context.Background(), Config{URI: "mongodb://127.0.0.1:1/", OpTimeout: 300 * time.Millisecond}, "127.0.0.1:1"},
		{"cancelled", cancelled, Config{URI: c.uri(), Duration: time.Minute}, "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Run(tc.ctx, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v (report %v), want an error mentioning %q", err, rep, tc.want)
			}
			if tc.name == "cancelled" && !errors.Is(err, context.Canceled) {
				t.Errorf("%v is not context.Canceled", err)
			}
		})
	}
}
