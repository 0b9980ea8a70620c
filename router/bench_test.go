//go:build linux

package router

// Benchmarks of the router's hot paths (issue 8, BENCHMARKS.md). The end-to-end ones run a
// raw-wire client (prebuilt OP_MSG frames, a reused read buffer: it allocates nothing itself)
// against the router in front of an in-process memshard set, and against the set's primary
// directly, so that the difference between the two is what the router adds.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/bench"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// benchCluster is memshard sets with a serving router in front, all in this process.
type benchCluster struct {
	sets   []*memshard.ReplicaSet
	shards []*shards.Shard
	srv    *Server
	served chan error
}

func startBenchCluster(tb testing.TB, nShards, members int, configure func(*Config), setOpts ...memshard.Option) *benchCluster {
	tb.Helper()
	c := &benchCluster{served: make(chan error, 1)}
	tb.Cleanup(c.close)
	for i := range nShards {
		name := fmt.Sprintf("rs%d", i)
		rs, err := memshard.StartReplicaSet(name, members, setOpts...)
		if err != nil {
			tb.Fatal(err)
		}
		c.sets = append(c.sets, rs)
		sh, err := shards.Open(shards.Config{Name: name, SetName: name, Hosts: rs.Hosts(), Logger: zerolog.Nop(),
			ServerSelectionTimeout: 10 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		c.shards = append(c.shards, sh)
	}
	cfg := Config{Logger: zerolog.Nop()}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := New(cfg, c.shards)
	if err != nil {
		tb.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		tb.Fatal(err)
	}
	c.srv = srv
	go func() { c.served <- srv.Serve() }()
	return c
}

func (c *benchCluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.srv != nil {
		_ = c.srv.Close(ctx)
		<-c.served
	}
	for _, s := range c.shards {
		_ = s.Close(ctx)
	}
	for _, rs := range c.sets {
		_ = rs.Close()
	}
}

// benchClient speaks OP_MSG over one TCP connection without allocating per round trip.
type benchClient struct {
	nc  net.Conn
	br  *bufio.Reader
	buf []byte
}

func dialBench(tb testing.TB, addr string) *benchClient {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = nc.Close() })
	return &benchClient{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
}

// roundTrip writes a whole request frame and returns the reply frame, valid until the next call.
func (c *benchClient) roundTrip(frame []byte) ([]byte, error) {
	if err := c.nc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := c.nc.Write(frame); err != nil {
		return nil, err
	}
	reply, err := wire.ReadFrame(c.br, c.buf)
	c.buf = reply[:0]
	return reply, err
}

// run sends one command body and returns the reply body, failing on ok: 0.
func (c *benchClient) run(tb testing.TB, body bsoncore.Document) bsoncore.Document {
	tb.Helper()
	reply, err := c.roundTrip(wire.AppendMsg(nil, 1, 0, 0, body))
	if err != nil {
		tb.Fatal(err)
	}
	return checkOK(tb, reply)
}

func checkOK(tb testing.TB, frame []byte) bsoncore.Document {
	tb.Helper()
	m, err := wire.ParseMsg(frame)
	if err != nil {
		tb.Fatal(err)
	}
	if e := outcome.ErrOf(m.Body); e != nil {
		tb.Fatalf("command failed: %v", e)
	}
	return m.Body
}

func marshalBench(tb testing.TB, v any) bsoncore.Document {
	tb.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

const benchDocs = 1000

// findFrames are find-by-_id requests as a driver sends them (with its implicit session's lsid),
// one per seeded _id, built once so that the client costs nothing per operation.
func findFrames(tb testing.TB) [][]byte {
	lsid := sessionid.NewID(sessionid.NoAuthUID)
	frames := make([][]byte, benchDocs)
	for i := range frames {
		body := marshalBench(tb, bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: i}}},
			{Key: "limit", Value: 1}, {Key: "singleBatch", Value: true},
			{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: lsid.ID[:]}}}},
			{Key: "$db", Value: "bench"}})
		frames[i] = wire.AppendMsg(nil, int32(i+1), 0, 0, body)
	}
	return frames
}

// seedBench inserts benchDocs documents into bench.c through the router (which places the
// database on its only shard, where the direct client reads them too).
func seedBench(tb testing.TB, c *benchCluster) {
	tb.Helper()
	docs := bson.A{}
	for i := range benchDocs {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: "somebody"}, {Key: "n", Value: i * 7}})
	}
	dialBench(tb, c.srv.Addr()).run(tb, marshalBench(tb, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "bench"}}))
}

// findOK checks that a find reply is ok and returned a document (a cheap byte check, so the
// timed loop stays allocation-free).
func findOK(reply []byte) error {
	if !bytes.Contains(reply, []byte("somebody")) {
		return fmt.Errorf("find reply without the document: %q", reply)
	}
	return nil
}

// startHop is the physical limit a router is measured against: a pass-through proxy that
// forwards whole frames between each client connection and its own upstream connection without
// looking inside them (one extra loopback hop, nothing else). It stops at cleanup.
func startHop(tb testing.TB, upstream string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	tb.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, nc := range open {
			_ = nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", upstream, 5*time.Second)
			if err != nil {
				_ = nc.Close()
				continue
			}
			mu.Lock()
			open = append(open, nc, up)
			mu.Unlock()
			wg.Go(func() { pipeFrames(nc, up) })
		}
	})
	return ln.Addr().String()
}

// pipeFrames relays request frames from client to up and reply frames back, until either side
// closes.
func pipeFrames(client, up net.Conn) {
	defer client.Close()
	defer up.Close()
	cr, ur := bufio.NewReaderSize(client, 16<<10), bufio.NewReaderSize(up, 16<<10)
	var req, reply []byte
	for {
		f, err := wire.ReadFrame(cr, req)
		if err != nil {
			return
		}
		req = f[:0]
		if _, err := up.Write(f); err != nil {
			return
		}
		if f, err = wire.ReadFrame(ur, reply); err != nil {
			return
		}
		reply = f[:0]
		if _, err := client.Write(f); err != nil {
			return
		}
	}
}

// BenchmarkForwardFindByID is one client's find-by-_id, directly to the memshard primary and
// through the router: ns/op is the latency, allocs/op what the whole process allocates (client,
// router, memshard), so router minus direct is the router's own share.
func BenchmarkForwardFindByID(b *testing.B) {
	c := startBenchCluster(b, 1, 1, nil)
	seedBench(b, c)
	frames := findFrames(b)
	for _, tc := range []struct{ name, addr string }{
		{"direct", c.sets[0].Hosts()[0]},
		{"router", c.srv.Addr()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cl := dialBench(b, tc.addr)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				reply, err := cl.roundTrip(frames[i%len(frames)])
				if err == nil {
					err = findOK(reply)
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// side is one way to the data (direct or router) in the side-by-side benchmark.
type side struct {
	clients []*benchClient
	hists   []bench.Histogram
	wall    time.Duration
	cpu     time.Duration // the whole process's user+system CPU time during the blocks
	ops     int64
	mallocs uint64
	bytes   uint64
}

// cpuTime is the process's user+system CPU time so far. Unlike wall time it hardly moves with
// other processes' load, and on a machine whose cores are saturated the throughput ratio tends
// to the ratio of CPU per operation.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// block runs n find-by-_id operations spread over every client of s, concurrently, and adds
// their wall time, latencies and the process's allocations to s.
func (s *side) block(b *testing.B, frames [][]byte, n int64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	cpu0 := cpuTime(b)
	start := time.Now()
	for i, cl := range s.clients {
		h := &s.hists[i]
		wg.Go(func() {
			for k := next.Add(1); k <= n; k = next.Add(1) {
				t0 := time.Now()
				reply, err := cl.roundTrip(frames[int(k)%len(frames)])
				h.Record(time.Since(t0))
				if err == nil {
					err = findOK(reply)
				}
				if err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	s.wall += time.Since(start)
	s.cpu += cpuTime(b) - cpu0
	runtime.ReadMemStats(&after)
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	s.ops += n
	s.mallocs += after.Mallocs - before.Mallocs
	s.bytes += after.TotalAlloc - before.TotalAlloc
}

func (s *side) latency(q float64) time.Duration {
	var all bench.Histogram
	for i := range s.hists {
		all.Merge(&s.hists[i])
	}
	return all.Quantile(q)
}

// BenchmarkFindByIDRouterVsDirect measures the issue-8 targets side by side in one run: the
// same number of clients alternate blocks of find-by-_id directly to the memshard primary,
// through a pass-through hop (the physical limit) and through the router. It reports each
// side's time per operation (wall/ops: the inverse of throughput), p50 and allocations per
// operation, the router/direct throughput ratio, the p50/p99 the router adds over direct and
// over the bare hop, and the allocations and CPU time attributable to the router (router minus
// direct; the process runs client, router and memshard, so the difference is the router's).
// cpu-ratio is direct/router CPU per operation: the throughput ratio when every side is
// CPU-bound on the same cores, and steadier than wall time on a shared machine. ns/op mixes the
// three sides; read the named metrics.
func BenchmarkFindByIDRouterVsDirect(b *testing.B) {
	const block = 3000
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := startBenchCluster(b, 1, 1, nil)
			seedBench(b, c)
			frames := findFrames(b)
			primary := c.sets[0].Hosts()[0]
			addrs := []string{primary, startHop(b, primary), c.srv.Addr()}
			sides := make([]*side, len(addrs))
			for i, addr := range addrs {
				sides[i] = &side{}
				for range clients {
					sides[i].clients = append(sides[i].clients, dialBench(b, addr))
				}
			}
			// Warm every path (pools, session cache, placement) outside the measurement.
			for _, s := range sides {
				s.hists = make([]bench.Histogram, clients)
				s.block(b, frames, 300)
				*s = side{clients: s.clients, hists: make([]bench.Histogram, clients)}
			}
			b.ResetTimer()
			for done := int64(0); done < int64(b.N); {
				n := min(block, int64(b.N)-done)
				for _, s := range sides {
					s.block(b, frames, (n+2)/3)
				}
				done += n
			}
			b.StopTimer()
			direct, hop, routed := sides[0], sides[1], sides[2]
			us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
			for _, s := range []struct {
				name string
				s    *side
			}{{"direct", direct}, {"hop", hop}, {"router", routed}} {
				b.ReportMetric(s.s.perOp(), s.name+"-ns/op")
				b.ReportMetric(us(s.s.latency(0.5)), s.name+"-p50-µs")
				b.ReportMetric(s.s.allocs(), s.name+"-allocs/op")
				b.ReportMetric(us(s.s.cpu)/float64(s.s.ops), s.name+"-cpu-µs/op")
			}
			b.ReportMetric(float64(direct.cpu)/float64(direct.ops)/(float64(routed.cpu)/float64(routed.ops)), "cpu-ratio")
			b.ReportMetric((us(routed.cpu)/float64(routed.ops))-(us(direct.cpu)/float64(direct.ops)), "router-own-cpu-µs/op")
			b.ReportMetric(direct.perOp()/routed.perOp(), "throughput-ratio")
			b.ReportMetric(direct.perOp()/hop.perOp(), "hop-throughput-ratio")
			b.ReportMetric(us(routed.latency(0.5)-direct.latency(0.5)), "added-p50-µs")
			b.ReportMetric(us(routed.latency(0.99)-direct.latency(0.99)), "added-p99-µs")
			b.ReportMetric(us(routed.latency(0.5)-hop.latency(0.5)), "over-hop-p50-µs")
			b.ReportMetric(routed.allocs()-direct.allocs(), "router-own-allocs/op")
			b.ReportMetric(float64(routed.bytes)/float64(routed.ops)-float64(direct.bytes)/float64(direct.ops), "router-own-B/op")
		})
	}
}

func (s *side) perOp() float64  { return float64(s.wall.Nanoseconds()) / float64(s.ops) }
func (s *side) allocs() float64 { return float64(s.mallocs) / float64(s.ops) }

// loopReader serves the same frame over and over, as a client pipelining one command.
type loopReader struct {
	frame []byte
	off   int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p, r.frame[r.off:])
	r.off = (r.off + n) % len(r.frame)
	return n, nil
}

// BenchmarkHandle is the router's per-command work without any network: frame read from a
// buffered stream, header and OP_MSG parse, command name and $db, session fields (and vivify
// when there is an lsid), command table lookup, a local handler and the reply frame. ping is
// the cheapest handler, so this is the fixed cost every command pays.
func BenchmarkHandle(b *testing.B) {
	c := startBenchCluster(b, 1, 1, nil)
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	lsid := sessionid.NewID(sessionid.NoAuthUID)
	lsidDoc := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: lsid.ID[:]}}}
	for _, tc := range []struct {
		name string
		body bson.D
	}{
		{"ping", bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}},
		{"ping+lsid", bson.D{{Key: "ping", Value: 1}, {Key: "lsid", Value: lsidDoc}, {Key: "$db", Value: "admin"}}},
		{"hello", bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchHandle(b, c.srv.newConn(server), marshalBench(b, tc.body)) })
	}
}

// benchHandle has conn handle the command body over and over, as read from a stream.
func benchHandle(b *testing.B, conn *conn, body bsoncore.Document) {
	frame := wire.AppendMsg(nil, 7, 0, 0, body)
	br := bufio.NewReaderSize(&loopReader{frame: frame}, 4096)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		in, err := wire.ReadFrame(br, buf)
		if err != nil {
			b.Fatal(err)
		}
		buf = in[:0]
		reply, err := conn.handle(in)
		if err != nil || len(reply) == 0 {
			b.Fatalf("handle: %d bytes, %v", len(reply), err)
		}
	}
}

// routerProcessEnv makes TestBenchRouterProcess serve a router for BenchmarkIdleConnections.
const routerProcessEnv = "MONGOS_LITE_BENCH_ROUTER_PROCESS"

// TestBenchRouterProcess is not a test: run by BenchmarkIdleConnections in a child process, it
// serves a router in front of a one-member memshard set, prints its address, and stops when its
// stdin closes. The router gets a process of its own so that its RSS is measured alone (and so
// that neither process needs more than 10,000 descriptors).
func TestBenchRouterProcess(t *testing.T) {
	if os.Getenv(routerProcessEnv) == "" {
		t.Skip("helper process for BenchmarkIdleConnections")
	}
	c := startBenchCluster(t, 1, 1, nil)
	fmt.Printf("router-addr %s\n", c.srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// BenchmarkIdleConnections opens 10,000 client connections to a router in another process, each
// doing the handshake a driver does (hello with client metadata) and then staying idle, and
// reports that process's resident memory (issue 8 target: at most 300 MB) and the growth per
// connection. Run it with -benchtime=1x: each iteration is a whole cycle.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 10_000
	hello := wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, bson.D{{Key: "hello", Value: 1}, {Key: "helloOk", Value: true},
		{Key: "client", Value: bson.D{
			{Key: "driver", Value: bson.D{{Key: "name", Value: "mongo-go-driver"}, {Key: "version", Value: "2.9.3"}}},
			{Key: "os", Value: bson.D{{Key: "type", Value: "linux"}, {Key: "architecture", Value: "amd64"}}},
			{Key: "platform", Value: "go1.26"}}},
		{Key: "compression", Value: bson.A{}}, {Key: "$db", Value: "admin"}}))
	for range b.N {
		pid, addr, stop := startRouterProcess(b)
		base := residentKB(b, pid)
		conns := make([]net.Conn, 0, n)
		var buf []byte
		for range n {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				b.Fatalf("connection %d: %v", len(conns), err)
			}
			conns = append(conns, nc)
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := nc.Write(hello); err != nil {
				b.Fatal(err)
			}
			reply, err := wire.ReadFrame(nc, buf)
			if err != nil {
				b.Fatalf("hello on connection %d: %v", len(conns), err)
			}
			buf = reply[:0]
			checkOK(b, reply)
		}
		rss := residentKB(b, pid)
		b.ReportMetric(float64(rss)/1024, "rss-MB")
		b.ReportMetric(float64(base)/1024, "rss-before-MB")
		b.ReportMetric(float64(rss-base)*1024/n, "B/conn")
		for _, nc := range conns {
			_ = nc.Close()
		}
		stop()
	}
}

// startRouterProcess runs TestBenchRouterProcess in a child process and returns its pid, the
// router's address and a function that stops it (closing its stdin, then waiting at most 30 s).
func startRouterProcess(b *testing.B) (int, string, func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchRouterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), routerProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	stop := func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	lines := bufio.NewScanner(stdout)
	addr := ""
	for addr == "" && lines.Scan() {
		addr, _ = strings.CutPrefix(lines.Text(), "router-addr ")
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout) // the child's test output, until it exits
		exited <- cmd.Wait()
	}()
	if addr == "" {
		stop()
		b.Fatal("the router process printed no address")
	}
	return cmd.Process.Pid, addr, stop
}

// residentKB reads a process's resident set size (VmRSS) from /proc.
func residentKB(b *testing.B, pid int) int64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmRSS in /proc/PID/status")
	return 0
}
