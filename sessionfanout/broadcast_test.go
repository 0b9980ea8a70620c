package sessionfanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sourcegraph/conc/panics"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/deadline"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// noLeaks checks, when t ends, that no goroutine started by the test is left.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// returnsWithin runs f in a goroutine owned by the test and fails if f has not returned after d.
func returnsWithin(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
	}
}

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// host is a target in the tests.
type host string

func (h host) String() string { return string(h) }

// hostErr is a transport failure, coded as shards' HostError is.
type hostErr string

func (e hostErr) Error() string            { return string(e) }
func (e hostErr) MongoCode() mongoerr.Code { return mongoerr.HostUnreachable }

var (
	errRefused error = hostErr("connection refused")
	errReset   error = hostErr("connection reset by peer")
)

// answer is how a fake target behaves in the table tests.
type answer func(ctx context.Context, target host) (string, error)

func ok(_ context.Context, target host) (string, error) { return "reply from " + string(target), nil }

func fail(err error) answer {
	return func(context.Context, host) (string, error) { return "", err }
}

// fakeTargets counts calls per target and answers as configured (ok by default).
type fakeTargets struct {
	answers map[host]answer
	mu      sync.Mutex
	calls   map[host]int
}

func (f *fakeTargets) call(ctx context.Context, target host) (string, error) {
	f.mu.Lock()
	f.calls[target]++
	f.mu.Unlock()
	if a, found := f.answers[target]; found {
		return a(ctx, target)
	}
	return ok(ctx, target)
}

func hosts(n int) []host {
	out := make([]host, n)
	for i := range out {
		out[i] = host("127.0.0.1:" + strconv.Itoa(27000+i))
	}
	return out
}

func TestBroadcastResults(t *testing.T) {
	many := hosts(200)
	okResults := func(targets []host) []Result[host, string] {
		out := make([]Result[host, string], len(targets))
		for i, h := range targets {
			out[i] = Result[host, string]{Target: h, Value: "reply from " + string(h)}
		}
		return out
	}
	tests := []struct {
		name    string
		targets []host
		opts    Options
		answers map[host]answer
		want    []Result[host, string]
	}{
		{name: "no target", targets: nil, want: []Result[host, string]{}},
		{name: "empty targets", targets: []host{}, want: []Result[host, string]{}},
		{name: "one target", targets: []host{"a"}, want: okResults([]host{"a"})},
		{
			name:    "one failing",
			targets: []host{"a", "b", "c"},
			answers: map[host]answer{"b": fail(errRefused)},
			want: []Result[host, string]{
				{Target: "a", Value: "reply from a"}, {Target: "b", Err: errRefused}, {Target: "c", Value: "reply from c"},
			},
		},
		{
			name:    "only target failing",
			targets: []host{"a"},
			answers: map[host]answer{"a": fail(errRefused)},
			want:    []Result[host, string]{{Target: "a", Err: errRefused}},
		},
		{
			name:    "two failing differently",
			targets: []host{"a", "b", "c", "d"},
			answers: map[host]answer{"a": fail(errReset), "d": fail(errRefused)},
			want: []Result[host, string]{
				{Target: "a", Err: errReset}, {Target: "b", Value: "reply from b"},
				{Target: "c", Value: "reply from c"}, {Target: "d", Err: errRefused},
			},
		},
		{
			name:    "all failing",
			targets: []host{"a", "b"},
			answers: map[host]answer{"a": fail(errReset), "b": fail(errRefused)},
			want:    []Result[host, string]{{Target: "a", Err: errReset}, {Target: "b", Err: errRefused}},
		},
		{
			name:    "duplicates called once, first occurrence order",
			targets: []host{"b", "a", "b", "c", "a", "b"},
			want:    okResults([]host{"b", "a", "c"}),
		},
		{name: "all duplicates", targets: []host{"a", "a", "a"}, want: okResults([]host{"a"})},
		{name: "many targets under a small cap", targets: many, opts: Options{MaxConcurrency: 7}, want: okResults(many)},
		{name: "cap of one", targets: many[:10], opts: Options{MaxConcurrency: 1}, want: okResults(many[:10])},
		{name: "cap above target count", targets: many[:3], opts: Options{MaxConcurrency: 1000}, want: okResults(many[:3])},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			f := &fakeTargets{answers: tc.answers, calls: map[host]int{}}
			got := Broadcast(context.Background(), tc.targets, tc.opts, f.call)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d results %v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Target != w.Target || g.Value != w.Value || !errors.Is(g.Err, w.Err) || (g.Err == nil) != (w.Err == nil) {
					t.Errorf("result %d = %+v, want %+v", i, g, w)
				}
			}
			// Every distinct target exactly once, nothing else.
			if len(f.calls) != len(tc.want) {
				t.Errorf("called %d targets, want %d", len(f.calls), len(tc.want))
			}
			for target, n := range f.calls {
				if n != 1 {
					t.Errorf("target %s called %d times, want 1", target, n)
				}
			}
		})
	}
}

// goroutineID is the id the runtime prints in a goroutine's stack header.
func goroutineID() string {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	return string(bytes.Fields(buf)[1])
}

func TestBroadcastOneTargetRunsInCallerGoroutine(t *testing.T) {
	noLeaks(t)
	caller := goroutineID()
	before := runtime.NumGoroutine()
	var inCall string
	var during int
	got := Broadcast(context.Background(), []host{"a", "a"}, Options{}, func(ctx context.Context, target host) (int, error) {
		inCall = goroutineID()
		during = runtime.NumGoroutine()
		return 1, nil
	})
	if inCall != caller {
		t.Errorf("call ran in goroutine %s, want the caller's %s", inCall, caller)
	}
	if during > before { // not !=: a goroutine left by an earlier test may end meanwhile
		t.Errorf("goroutines during the call = %d, before = %d: one was started", during, before)
	}
	if len(got) != 1 || got[0] != (Result[host, int]{Target: "a", Value: 1}) {
		t.Errorf("results = %+v", got)
	}
}

func TestBroadcastFailureDoesNotCancelSiblings(t *testing.T) {
	noLeaks(t)
	failed := make(chan struct{})
	var siblingCtxErr atomic.Value
	got := Broadcast(context.Background(), []host{"bad", "good"}, Options{}, func(ctx context.Context, target host) (string, error) {
		if target == "bad" {
			defer close(failed)
			return "", errRefused
		}
		// Still running after its sibling failed: its context must be live.
		<-failed
		siblingCtxErr.Store(fmt.Sprint(ctx.Err()))
		return "fine", nil
	})
	if s := siblingCtxErr.Load(); s != "<nil>" {
		t.Errorf("sibling's context after a failure: %v, want live", s)
	}
	if !errors.Is(got[0].Err, errRefused) || got[1].Err != nil || got[1].Value != "fine" {
		t.Errorf("results = %+v", got)
	}
}

func TestBroadcastSlowTargetTimesOut(t *testing.T) {
	noLeaks(t)
	const timeout = 50 * time.Millisecond
	var got []Result[host, string]
	returnsWithin(t, timeout+2*time.Second, func() {
		got = Broadcast(context.Background(), []host{"fast1", "slow", "fast2"}, Options{PerTargetTimeout: timeout},
			func(ctx context.Context, target host) (string, error) {
				if target == "slow" {
					<-ctx.Done() // an unresponsive host that honours its deadline
					return "", ctx.Err()
				}
				if err := ctx.Err(); err != nil {
					return "", err
				}
				return "ok", nil
			})
	})
	for _, i := range []int{0, 2} {
		if got[i].Err != nil || got[i].Value != "ok" {
			t.Errorf("fast target %s: %+v", got[i].Target, got[i])
		}
	}
	var te *TimeoutError
	if !errors.As(got[1].Err, &te) || te.Target != "slow" || te.After != timeout || !errors.Is(got[1].Err, context.DeadlineExceeded) {
		t.Fatalf("slow target error = %v, want a TimeoutError wrapping DeadlineExceeded", got[1].Err)
	}
	if want := "request to slow timed out after 50ms: context deadline exceeded"; te.Error() != want {
		t.Errorf("message %q, want %q", te.Error(), want)
	}
}

// TestBroadcastUnderDeadlineParent: under a client command's deadline-only context each target
// gets a deadline-only context too, ending at its own timeout or the command's, whichever is first.
func TestBroadcastUnderDeadlineParent(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		name              string
		parent, perTarget time.Duration
	}{
		{"target timeout first", time.Hour, 50 * time.Millisecond},
		{"command deadline first", 50 * time.Millisecond, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := deadline.After(tc.parent)
			defer parent.Release()
			start := time.Now()
			got := Broadcast(parent, []host{"a", "b"}, Options{PerTargetTimeout: tc.perTarget},
				func(ctx context.Context, target host) (string, error) {
					if !deadline.Only(ctx) {
						return "", errors.New("the target's context is not deadline-only")
					}
					at, _ := ctx.Deadline()
					if limit := start.Add(min(tc.parent, tc.perTarget)); at.After(limit.Add(time.Second)) {
						return "", fmt.Errorf("deadline %v is past %v", at, limit)
					}
					<-ctx.Done()
					return "", ctx.Err()
				})
			for _, r := range got {
				if !errors.Is(r.Err, context.DeadlineExceeded) {
					t.Errorf("%s: %v, want a deadline error", r.Target, r.Err)
				}
				var te *TimeoutError
				if ownTimeout := tc.perTarget < tc.parent; errors.As(r.Err, &te) != ownTimeout {
					t.Errorf("%s: %v; named as the target's own timeout: %v, want %v", r.Target, r.Err, !ownTimeout, ownTimeout)
				}
			}
		})
	}
}

func TestBroadcastDeadlineStartsWithEachCall(t *testing.T) {
	noLeaks(t)
	const timeout = time.Hour
	const firstTakes = 20 * time.Millisecond
	var mu sync.Mutex
	left := map[host]time.Duration{}
	// Cap 1 runs the targets one after another; the first takes a while, so a deadline shared
	// by all calls would leave the second less than timeout-firstTakes.
	Broadcast(context.Background(), []host{"first", "second"}, Options{MaxConcurrency: 1, PerTargetTimeout: timeout},
		func(ctx context.Context, target host) (struct{}, error) {
			dl, _ := ctx.Deadline()
			mu.Lock()
			left[target] = time.Until(dl)
			mu.Unlock()
			if target == "first" {
				timer := time.NewTimer(firstTakes)
				defer timer.Stop()
				<-timer.C
			}
			return struct{}{}, nil
		})
	for _, target := range []host{"first", "second"} {
		if l := left[target]; l > timeout || l <= timeout-firstTakes/2 {
			t.Errorf("%s started with %v left, want about %v", target, l, timeout)
		}
	}
}

func TestBroadcastConcurrencyCap(t *testing.T) {
	tests := []struct {
		name            string
		cap, targets    int
		wantMaxInFlight int64
	}{
		{name: "cap 3 over 20", cap: 3, targets: 20, wantMaxInFlight: 3},
		{name: "cap 1 over 5", cap: 1, targets: 5, wantMaxInFlight: 1},
		{name: "cap above targets", cap: 50, targets: 8, wantMaxInFlight: 8},
		{name: "default cap 100 over 150", cap: 0, targets: 150, wantMaxInFlight: 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			var inFlight, maxInFlight, calls atomic.Int64
			release := make(chan struct{})
			var releaseOnce sync.Once
			releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
			defer releaseAll() // also when the test fails early, so Broadcast still returns
			call := func(ctx context.Context, target host) (int, error) {
				calls.Add(1)
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
				}
				select {
				case <-release:
					return 0, nil
				case <-ctx.Done():
					return 0, ctx.Err()
				}
			}
			done := make(chan []Result[host, int], 1)
			go func() {
				done <- Broadcast(context.Background(), hosts(tc.targets), Options{MaxConcurrency: tc.cap}, call)
			}()
			waitUntil(t, 5*time.Second, "the cap is reached", func() bool { return inFlight.Load() >= tc.wantMaxInFlight })
			// A broken cap would let the blocked batch grow; give it a moment to show.
			time.Sleep(20 * time.Millisecond)
			if n := inFlight.Load(); n != tc.wantMaxInFlight {
				t.Errorf("in flight while blocked = %d, want %d", n, tc.wantMaxInFlight)
			}
			releaseAll()
			got := <-done
			if m := maxInFlight.Load(); m != tc.wantMaxInFlight {
				t.Errorf("max in flight = %d, want %d", m, tc.wantMaxInFlight)
			}
			if c := calls.Load(); c != int64(tc.targets) {
				t.Errorf("calls = %d, want %d", c, tc.targets)
			}
			for _, r := range got {
				if r.Err != nil {
					t.Errorf("%s: %v", r.Target, r.Err)
				}
			}
		})
	}
}

func TestBroadcastParentCancel(t *testing.T) {
	tests := []struct {
		name        string
		targets     int
		cap         int
		cancelFirst bool // cancel before Broadcast instead of once the first batch runs
		wantCalls   int64
	}{
		{name: "cancel while all run", targets: 6, cap: 10, wantCalls: 6},
		{name: "cancel with targets queued", targets: 5, cap: 2, wantCalls: 2},
		{name: "cancelled before, many", targets: 4, cap: 10, cancelFirst: true, wantCalls: 0},
		{name: "cancelled before, one", targets: 1, cap: 10, cancelFirst: true, wantCalls: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelFirst {
				cancel()
			}
			var calls atomic.Int64
			var got []Result[host, int]
			finished := make(chan struct{})
			go func() {
				defer close(finished)
				got = Broadcast(ctx, hosts(tc.targets), Options{MaxConcurrency: tc.cap}, func(ctx context.Context, target host) (int, error) {
					calls.Add(1)
					<-ctx.Done()
					return 0, ctx.Err()
				})
			}()
			waitUntil(t, 5*time.Second, "the first batch runs", func() bool { return calls.Load() == tc.wantCalls })
			cancel()
			select {
			case <-finished:
			case <-time.After(5 * time.Second):
				t.Fatal("Broadcast did not return after its context was cancelled")
			}
			if c := calls.Load(); c != tc.wantCalls {
				t.Errorf("calls = %d, want %d", c, tc.wantCalls)
			}
			if len(got) != tc.targets {
				t.Fatalf("got %d results, want %d", len(got), tc.targets)
			}
			for _, r := range got {
				var te *TimeoutError
				if !errors.Is(r.Err, context.Canceled) || errors.As(r.Err, &te) {
					t.Errorf("%s: err = %v, want context.Canceled", r.Target, r.Err)
				}
			}
		})
	}
}

func TestBroadcastPanicIsReraised(t *testing.T) {
	tests := []struct {
		name      string
		targets   []host
		wantCalls int64 // calls that returned normally before the panic reached the caller
	}{
		{name: "one target", targets: []host{"boom"}},
		{name: "among siblings", targets: []host{"a", "boom", "b", "c"}, wantCalls: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			var returned atomic.Int64
			panicked := make(chan struct{})
			call := func(ctx context.Context, target host) (int, error) {
				if target == "boom" {
					close(panicked)
					panic("boom")
				}
				// Siblings are still running when the panic happens; Broadcast must wait for them.
				<-panicked
				returned.Add(1)
				return 1, nil
			}
			var recovered any
			func() {
				defer func() { recovered = recover() }()
				Broadcast(context.Background(), tc.targets, Options{}, call)
			}()
			rp, isRecovered := recovered.(*panics.Recovered)
			if !isRecovered || rp.Value != "boom" {
				t.Fatalf("recovered %#v, want *panics.Recovered of \"boom\"", recovered)
			}
			if n := returned.Load(); n != tc.wantCalls {
				t.Errorf("siblings returned before the panic was re-raised: %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func BenchmarkBroadcast(b *testing.B) {
	const answerAfter = 5 * time.Millisecond
	call := func(ctx context.Context, target host) (int, error) {
		timer := time.NewTimer(answerAfter)
		defer timer.Stop()
		select {
		case <-timer.C:
			return 1, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	for _, n := range []int{1, 4, 16, 64} {
		targets := hosts(n)
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range Broadcast(context.Background(), targets, Options{}, call) {
					if r.Err != nil {
						b.Fatal(r.Err)
					}
				}
			}
		})
	}
}
