package pool

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/deadline"
)

// getResult is what a Get run in a goroutine returns.
type getResult struct {
	c   *Conn
	err error
}

// goGet runs Get in a goroutine the test waits for (await).
func goGet(t *testing.T, p *Pool, ctx context.Context) <-chan getResult {
	t.Helper()
	out := make(chan getResult, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := p.Get(ctx)
		out <- getResult{c, err}
	}()
	t.Cleanup(wg.Wait)
	return out
}

// await receives the result of something that must end now.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not return", what)
		panic("unreachable")
	}
}

func TestGetPutReuses(t *testing.T) {
	rs := startSet(t)
	host := rs.Hosts()[0]
	p := newPool(t, Config{Addr: host})
	if p.Addr() != host {
		t.Fatalf("Addr = %q, want %q", p.Addr(), host)
	}
	c := mustGet(t, p)
	checkStats(t, p, Stats{Open: 1, InUse: 1})
	id := c.DriverConnectionID()
	p.Put(c)
	checkStats(t, p, Stats{Open: 1})

	again := mustGet(t, p)
	if again.DriverConnectionID() != id {
		t.Fatalf("second Get made connection %d, want the idle one %d", again.DriverConnectionID(), id)
	}
	roundTrip(t, again)
	p.Put(again)
	if s := p.Stats(); s.Checkouts != 2 || s.Addr != host || s.Open != 1 {
		t.Fatalf("Stats = %+v, want 2 checkouts of one connection to %s", s, host)
	}
}

// TestMostRecentFirst: Get lends the idle connection given back last, so the others age and
// MaxIdleTime can retire them.
func TestMostRecentFirst(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	a, b := mustGet(t, p), mustGet(t, p)
	p.Put(a)
	p.Put(b)
	first, second := mustGet(t, p), mustGet(t, p)
	defer p.Put(first)
	defer p.Put(second)
	if first != b || second != a {
		t.Fatalf("lent %d then %d, want %d (given back last) then %d",
			first.DriverConnectionID(), second.DriverConnectionID(), b.DriverConnectionID(), a.DriverConnectionID())
	}
	checkStats(t, p, Stats{Open: 2, InUse: 2})
}

// TestRoundTripReply: the reply answers the request, under every kind of context, and lands in
// dst's storage when dst can hold it.
func TestRoundTripReply(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	c := mustGet(t, p)
	defer p.Put(c)
	contexts := []struct {
		name string
		make func() (context.Context, func())
	}{
		{"background", func() (context.Context, func()) { return context.Background(), func() {} }},
		{"deadline only", func() (context.Context, func()) {
			ctx := deadline.After(time.Minute)
			return ctx, ctx.Release
		}},
		{"cancellable", func() (context.Context, func()) {
			return context.WithTimeout(context.Background(), time.Minute)
		}},
	}
	buffers := []struct {
		name  string
		dst   []byte
		inDst bool
	}{
		{"no buffer", nil, false},
		{"small buffer", make([]byte, 0, 8), false},
		{"large buffer", make([]byte, 5, 4096), true}, // its length does not matter
	}
	for _, cc := range contexts {
		for _, bc := range buffers {
			t.Run(cc.name+"/"+bc.name, func(t *testing.T) {
				ctx, release := cc.make()
				defer release()
				msg, reqID := ping(t)
				reply, err := c.RoundTrip(ctx, msg, bc.dst)
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				checkOK(t, reply, reqID)
				inDst := cap(bc.dst) > 0 && &reply[0] == &bc.dst[:1][0]
				if inDst != bc.inDst {
					t.Fatalf("reply in dst's storage: %v, want %v", inDst, bc.inDst)
				}
			})
		}
	}
	if n := rs.Member(0).CommandCount("ping"); n != int64(len(contexts)*len(buffers)) {
		t.Fatalf("member ran %d pings, want %d", n, len(contexts)*len(buffers))
	}
}

// TestHandshake: the connection describes the member as its hello did, and the driver's Close
// after each handshake command leaves it open.
func TestHandshake(t *testing.T) {
	f := startFake(t, answer)
	p := newPool(t, Config{Addr: f.addr()})
	c := mustGet(t, p)
	defer p.Put(c)
	d := c.Description()
	if d.WireVersion == nil || d.WireVersion.Max != 21 {
		t.Fatalf("wire version %v, want max 21 from the member's hello", d.WireVersion)
	}
	if id := c.ServerConnectionID(); id == nil || *id != fakeConnectionID {
		t.Fatalf("ServerConnectionID = %v, want %d", id, fakeConnectionID)
	}
	if got := string(c.Address()); got != f.addr() || string(d.Addr) != f.addr() {
		t.Fatalf("Address = %q, description's %q, want %q", got, d.Addr, f.addr())
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	roundTrip(t, c)
	other := mustGet(t, p)
	defer p.Put(other)
	if other.DriverConnectionID() == c.DriverConnectionID() || other.ID() == c.ID() {
		t.Fatalf("two connections share id %d / %q", c.DriverConnectionID(), c.ID())
	}
}

func TestDiscard(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	c := mustGet(t, p)
	p.Discard(c)
	checkStats(t, p, Stats{})
	msg, _ := ping(t)
	if _, err := c.RoundTrip(context.Background(), msg, nil); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("RoundTrip on a discarded connection: %v, want net.ErrClosed", err)
	}

	next := mustGet(t, p)
	if next.DriverConnectionID() == c.DriverConnectionID() {
		t.Fatal("Get after Discard lent the discarded connection")
	}
	checkStats(t, p, Stats{Open: 1, InUse: 1})
	roundTrip(t, next)
	p.Put(next)
	checkStats(t, p, Stats{Open: 1})
	again := mustGet(t, p) // the pooled one: nothing new is made
	p.Put(again)
	if got := p.Stats().Created; got != 2 {
		t.Errorf("Created = %d after one discarded and one reused connection, want 2", got)
	}
}

// TestClear: idle connections close at once; a lent one is stale and closes when given back.
func TestClear(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	if err := p.Fill(testCtx(t), 2); err != nil {
		t.Fatalf("Fill: %v", err)
	}
	lent := mustGet(t, p)
	before := p.Describer()
	if lent.Stale() || before.Stale() {
		t.Fatal("stale before any Clear")
	}
	p.Clear()
	checkStats(t, p, Stats{Open: 1, InUse: 1})
	if !lent.Stale() || !before.Stale() {
		t.Fatalf("after Clear: lent connection stale %v, earlier describer stale %v; want both", lent.Stale(), before.Stale())
	}
	if p.Describer().Stale() {
		t.Fatal("a describer made after Clear is stale")
	}
	if n := p.Stats().Cleared; n != 1 {
		t.Fatalf("Cleared = %d, want 1", n)
	}

	roundTrip(t, lent) // Clear does not interrupt a round trip under way
	p.Put(lent)
	checkStats(t, p, Stats{})
	fresh := mustGet(t, p)
	if fresh.DriverConnectionID() == lent.DriverConnectionID() || fresh.Stale() {
		t.Fatalf("Get after Clear lent connection %d (stale %v), want a new one", fresh.DriverConnectionID(), fresh.Stale())
	}
	p.Put(fresh)
	checkStats(t, p, Stats{Open: 1})
	p.Clear()
	p.Clear()
	checkStats(t, p, Stats{})
	if n := p.Stats().Cleared; n != 3 {
		t.Fatalf("Cleared = %d, want 3", n)
	}
}

func TestMaxSize(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0], MaxSize: 1})
	held := mustGet(t, p)

	short := deadline.After(50 * time.Millisecond)
	_, err := p.Get(short)
	short.Release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with the only connection lent: %v, want context.DeadlineExceeded", err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Get(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v, want context.Canceled", err)
	}
	checkStats(t, p, Stats{Open: 1, InUse: 1, FailedTimeout: 2})

	waiting := goGet(t, p, testCtx(t))
	select {
	case r := <-waiting:
		t.Fatalf("Get returned (%v) while the only connection was lent", r.err)
	case <-time.After(20 * time.Millisecond):
	}
	p.Put(held)
	r := await(t, waiting, "Get waiting for a connection")
	if r.err != nil {
		t.Fatalf("Get after Put: %v", r.err)
	}
	if r.c != held {
		t.Fatal("Get after Put did not reuse the connection given back")
	}
	roundTrip(t, r.c)
	p.Put(r.c)
	checkStats(t, p, Stats{Open: 1, FailedTimeout: 2})
	if n := p.Stats().Checkouts; n != 2 {
		t.Fatalf("Checkouts = %d, want 2", n)
	}
}

// TestMaxSizeUnderLoad: concurrent callers never hold more than MaxSize connections, and each
// gets the reply to its own request.
func TestMaxSizeUnderLoad(t *testing.T) {
	const maxSize, workers, rounds = 3, 8, 25
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0], MaxSize: maxSize, MaxConnecting: 2})
	var wg sync.WaitGroup
	for range workers {
		msg, _ := ping(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := deadline.After(time.Minute)
			defer ctx.Release()
			dst := make([]byte, 0, 512)
			for range rounds {
				reqID := requestIDs.Add(1) // distinct across callers: a crossed reply shows
				msg.RequestID = reqID
				c, err := p.Get(ctx)
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				if s := p.Stats(); s.Open > maxSize || s.InUse > maxSize {
					t.Errorf("Stats %+v beyond MaxSize %d", s, maxSize)
				}
				reply, err := c.RoundTrip(ctx, msg, dst)
				if err == nil {
					err = replyOK(reply, reqID)
				}
				if err != nil {
					p.Discard(c)
					t.Errorf("round trip: %v", err)
					return
				}
				p.Put(c)
			}
		}()
	}
	wg.Wait()
	s := p.Stats()
	if s.InUse != 0 || s.Open < 1 || s.Open > maxSize || s.Checkouts != workers*rounds {
		t.Fatalf("Stats = %+v, want %d checkouts and 1..%d idle connections", s, workers*rounds, maxSize)
	}
	if n := rs.Member(0).CommandCount("ping"); n != workers*rounds {
		t.Fatalf("member ran %d pings, want %d", n, workers*rounds)
	}
}

func TestClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func(t *testing.T) context.Context
	}{
		{"deadline only", func(t *testing.T) context.Context {
			ctx := deadline.After(time.Minute)
			t.Cleanup(ctx.Release)
			return ctx
		}},
		{"cancellable", testCtx},
		{"background", func(*testing.T) context.Context { return context.Background() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, silent)
			p := newPool(t, Config{Addr: f.addr()})
			idle, lent := mustGet(t, p), mustGet(t, p)
			p.Put(idle)
			done := make(chan error, 1)
			msg, _ := ping(t)
			ctx := tc.ctx(t)
			go func() {
				_, err := lent.RoundTrip(ctx, msg, nil)
				done <- err
			}()
			await(t, f.unanswered, "the request")
			p.Close()
			if err := await(t, done, "RoundTrip on a closed pool"); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("RoundTrip interrupted by Close: %v, want net.ErrClosed", err)
			}
			p.Put(lent) // giving back after Close closes it
			checkStats(t, p, Stats{})
			eventually(t, "the member to see every connection closed", func() bool { return f.open() == 0 })

			if _, err := p.Get(testCtx(t)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Get after Close: %v, want ErrClosed", err)
			}
			if err := p.Fill(testCtx(t), 1); !errors.Is(err, ErrClosed) {
				t.Fatalf("Fill after Close: %v, want ErrClosed", err)
			}
			p.Close()
			checkStats(t, p, Stats{FailedClosed: 1})
		})
	}
}

// TestCloseReleasesWaiters: Close ends a Get waiting for a free slot and one waiting for its
// new connection's handshake.
func TestCloseReleasesWaiters(t *testing.T) {
	t.Run("waiting for a slot", func(t *testing.T) {
		rs := startSet(t)
		p := newPool(t, Config{Addr: rs.Hosts()[0], MaxSize: 1})
		held := mustGet(t, p)
		waiting := goGet(t, p, testCtx(t))
		p.Close()
		if r := await(t, waiting, "Get waiting for a slot"); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("Get: %v, want ErrClosed", r.err)
		}
		p.Put(held)
		checkStats(t, p, Stats{FailedClosed: 1})
	})
	t.Run("handshaking", func(t *testing.T) {
		f := startFake(t, mute)
		p := newPool(t, Config{Addr: f.addr(), ConnectTimeout: time.Minute})
		dialling := goGet(t, p, testCtx(t))
		await(t, f.unanswered, "the hello")
		start := time.Now()
		p.Close()
		if r := await(t, dialling, "Get in its handshake"); !errors.Is(r.err, ErrClosed) {
			t.Fatalf("Get in its handshake when the pool closed: %v, want ErrClosed", r.err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Close took %v to end a handshake", d)
		}
		checkStats(t, p, Stats{FailedClosed: 1})
		eventually(t, "the member to see the connection closed", func() bool { return f.open() == 0 })
	})
}

// TestPrune: Prune closes the connections idle for longer than MaxIdleTime and keeps the rest.
func TestPrune(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0], MaxIdleTime: time.Minute})
	old, fresh := mustGet(t, p), mustGet(t, p)
	p.Put(old)
	oldPut := time.Now()
	for !time.Now().After(oldPut) { // fresh is given back strictly later
	}
	p.Put(fresh)
	p.Prune(oldPut.Add(time.Minute + time.Nanosecond))
	checkStats(t, p, Stats{Open: 1})
	c := mustGet(t, p)
	if c != fresh {
		t.Fatalf("Get after Prune lent connection %d, want the fresh one %d", c.DriverConnectionID(), fresh.DriverConnectionID())
	}
	p.Put(c)
	p.Prune(time.Now())
	checkStats(t, p, Stats{Open: 1})
	p.Prune(time.Now().Add(2 * time.Minute))
	checkStats(t, p, Stats{})
}

func TestPruneWithoutMaxIdleTime(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	if err := p.Fill(testCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	p.Prune(time.Now().Add(1000 * time.Hour))
	checkStats(t, p, Stats{Open: 2})
}

// TestIdleTooLongAtCheckout: Get does not lend a connection idle for longer than MaxIdleTime.
func TestIdleTooLongAtCheckout(t *testing.T) {
	const maxIdle = 10 * time.Millisecond
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0], MaxIdleTime: maxIdle})
	c := mustGet(t, p)
	p.Put(c)
	put := time.Now()
	eventually(t, "MaxIdleTime to pass", func() bool { return time.Since(put) > maxIdle })
	next := mustGet(t, p)
	if next == c {
		t.Fatal("Get lent a connection idle for longer than MaxIdleTime")
	}
	checkStats(t, p, Stats{Open: 1, InUse: 1})
	p.Put(next)
}

func TestFill(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0], MaxSize: 5})
	if err := p.Fill(testCtx(t), 3); err != nil {
		t.Fatalf("Fill: %v", err)
	}
	checkStats(t, p, Stats{Open: 3})
	lent := map[*Conn]bool{}
	for range 3 {
		lent[mustGet(t, p)] = true
	}
	if len(lent) != 3 {
		t.Fatalf("3 Gets lent %d distinct connections", len(lent))
	}
	checkStats(t, p, Stats{Open: 3, InUse: 3}) // all three were Fill's: none dialled
	for c := range lent {
		roundTrip(t, c)
		p.Put(c)
	}
	if err := p.Fill(testCtx(t), 2); err != nil {
		t.Fatalf("Fill below the open count: %v", err)
	}
	checkStats(t, p, Stats{Open: 3})
	if s := p.Stats(); s.Checkouts != 3 {
		t.Fatalf("Checkouts = %d, want 3 (Fill is no checkout)", s.Checkouts)
	}
}

// TestFillBusy: a pool with every slot lent is not short of connections; Fill makes none.
func TestFillBusy(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0], MaxSize: 1})
	c := mustGet(t, p)
	if err := p.Fill(testCtx(t), 3); err != nil {
		t.Fatalf("Fill: %v", err)
	}
	checkStats(t, p, Stats{Open: 1, InUse: 1})
	p.Put(c)
}

func TestFillRefused(t *testing.T) {
	p := newPool(t, Config{Addr: refusedAddr(t), MaxSize: 1})
	for range 2 { // the second finds its slot given back
		if err := p.Fill(testCtx(t), 3); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Fill: %v, want connection refused", err)
		}
	}
	checkStats(t, p, Stats{})
}

// TestGetWaitsForDialSlot: MaxConnecting bounds the handshakes under way; a Get that cannot
// start one within its context fails with the context's error.
func TestGetWaitsForDialSlot(t *testing.T) {
	f := startFake(t, mute)
	p := newPool(t, Config{Addr: f.addr(), MaxConnecting: 1, ConnectTimeout: time.Minute})
	first := goGet(t, p, testCtx(t))
	await(t, f.unanswered, "the first hello")
	short := deadline.After(50 * time.Millisecond)
	_, err := p.Get(short)
	short.Release()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get while the only dial slot is taken: %v, want context.DeadlineExceeded", err)
	}
	p.Close()
	await(t, first, "the first Get")
	if s := p.Stats(); s.FailedTimeout != 1 || s.Open != 0 || s.InUse != 0 {
		t.Fatalf("Stats = %+v, want 1 timeout and nothing open", s)
	}
}
