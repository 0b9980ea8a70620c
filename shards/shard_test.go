package shards

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// openShard opens a shard on hosts with test-friendly timeouts and closes it at cleanup.
func openShard(t *testing.T, hosts []string, mutate func(*Config)) *Shard {
	t.Helper()
	cfg := Config{Name: "s1", SetName: "rs0", Hosts: hosts,
		HeartbeatInterval: 500 * time.Millisecond, ServerSelectionTimeout: 5 * time.Second}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var ping = bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}

// replyBody is a reply's body (RoundTrip has checked that it answers the request).
func replyBody(t *testing.T, reply Reply) bson.Raw {
	t.Helper()
	if reply.Body == nil {
		t.Fatal("no reply")
	}
	return bson.Raw(reply.Body)
}

// codeOf is the code a router answers err with; 0 for nil.
func codeOf(err error) mongoerr.Code {
	if err == nil {
		return 0
	}
	return mongoerr.As(err).Code
}

func wantCode(t *testing.T, err error, code mongoerr.Code) *HostError {
	t.Helper()
	if got := codeOf(err); got != code {
		t.Fatalf("codeOf(%v) = %d (%s), want %d (%s)", err, got, got.Name(), code, code.Name())
	}
	var he *HostError
	if !errors.As(err, &he) {
		t.Fatalf("%v (%T) is not a *HostError", err, err)
	}
	return he
}

func TestRoundTripReusesPooledConnection(t *testing.T) {
	conns := make(chan int32, 2)
	f := startFake(t, false, nil)
	f.setHandler(func(r fakeRequest) fakeResponse { conns <- r.conn; return f.ok(r) })
	s := openShard(t, []string{f.addr}, nil)
	for range 2 {
		msg := command(0, ping)
		reply, host, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if host != f.addr {
			t.Errorf("host %q, want %q", host, f.addr)
		}
		if ok := replyBody(t, reply).Lookup("ok").Double(); ok != 1 {
			t.Errorf("ok = %v", ok)
		}
	}
	if a, b := <-conns, <-conns; a != b {
		t.Errorf("second ping used connection %d, first %d: a good connection must go back to the pool", b, a)
	}
	f.noEnded(t, "ping")
}

func TestResponseToMismatchClosesConnection(t *testing.T) {
	conns := make(chan int32, 2)
	f := startFake(t, false, nil)
	f.setHandler(func(r fakeRequest) fakeResponse {
		conns <- r.conn
		return fakeResponse{frame: f.reply(r.msg.Header.RequestID+1, 0, mustDoc(bson.D{{Key: "ok", Value: 1.0}}))}
	})
	s := openShard(t, []string{f.addr}, nil)
	_, host, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(0, ping), nil)
	he := wantCode(t, err, mongoerr.ProtocolError)
	if he.Host != f.addr || host != f.addr {
		t.Errorf("error host %q, returned host %q, want %q", he.Host, host, f.addr)
	}
	f.waitEnded(t, "ping")

	f.setHandler(func(r fakeRequest) fakeResponse { conns <- r.conn; return f.ok(r) })
	msg := command(0, ping)
	reply, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	replyBody(t, reply)
	if a, b := <-conns, <-conns; a == b {
		t.Errorf("the connection with the mismatched reply (%d) was reused", a)
	}
}

// TestMoreToComeRequestKeepsConnection: a moreToCome request (w:0) gets no reply, and its
// connection goes back to the pool, as mongos pools it: the next command uses it.
func TestMoreToComeRequestKeepsConnection(t *testing.T) {
	conns := make(chan int32, 2)
	f := startFake(t, false, nil)
	f.setHandler(func(r fakeRequest) fakeResponse {
		conns <- r.conn
		if r.cmd == "insert" {
			if r.msg.Flags&wire.MoreToCome == 0 {
				t.Errorf("moreToCome was not sent")
			}
			return fakeResponse{} // a moreToCome request gets no reply
		}
		return f.ok(r)
	})
	s := openShard(t, []string{f.addr}, nil)
	reply, host, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(wire.MoreToCome, unacknowledgedInsert), nil)
	if err != nil || reply.Body != nil || host != f.addr {
		t.Fatalf("RoundTrip = %v, %q, %v; want nil, %q, nil", reply, host, err, f.addr)
	}
	msg := command(0, ping)
	reply, _, err = s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	replyBody(t, reply)
	if a, b := <-conns, <-conns; a != b {
		t.Errorf("the ping used connection %d, the w:0 insert %d: the connection was not pooled", b, a)
	}
}

// TestStrayReplyAfterMoreToComeIsCaught: a member that answers a moreToCome request anyway
// leaves a reply the next command on that connection would read. Its responseTo gives it away:
// that command fails with ProtocolError and the connection is closed, never a wrong answer.
func TestStrayReplyAfterMoreToComeIsCaught(t *testing.T) {
	f := startFake(t, false, nil)
	f.setHandler(func(r fakeRequest) fakeResponse {
		if r.cmd == "insert" {
			return f.ok(r) // against the protocol
		}
		return fakeResponse{} // the ping's own reply never comes: only the stray one is there
	})
	s := openShard(t, []string{f.addr}, nil)
	if _, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(wire.MoreToCome, unacknowledgedInsert), nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(0, ping), nil)
	wantCode(t, err, mongoerr.ProtocolError)
	f.waitEnded(t, "ping")
}

var unacknowledgedInsert = bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}},
	{Key: "writeConcern", Value: bson.D{{Key: "w", Value: 0}}}, {Key: "$db", Value: "test"}}

func TestExhaustReplyClosesConnection(t *testing.T) {
	flags := make(chan wiremessage.MsgFlag, 1)
	f := startFake(t, false, nil)
	f.setHandler(func(r fakeRequest) fakeResponse {
		flags <- r.msg.Flags
		body := mustDoc(bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(7)}, {Key: "ns", Value: "test.c"},
			{Key: "nextBatch", Value: bson.A{}}}}, {Key: "ok", Value: 1.0}})
		return fakeResponse{frame: f.reply(r.msg.Header.RequestID, wire.MoreToCome, body)}
	})
	s := openShard(t, []string{f.addr}, nil)
	getMore := bson.D{{Key: "getMore", Value: int64(7)}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}}
	msg := command(0, getMore)
	reply, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	replyBody(t, reply)
	if got := <-flags; got != 0 {
		t.Errorf("the request reached the shard with flags %#x, want none", got)
	}
	f.waitEnded(t, "getMore")
}

func TestCompressedReplyIsDecompressed(t *testing.T) {
	f := startFake(t, false, nil)
	f.setHandler(func(r fakeRequest) fakeResponse {
		out, err := wire.Compress(f.ok(r).frame, wire.CompressorZlib)
		if err != nil {
			t.Error(err)
		}
		return fakeResponse{frame: out}
	})
	s := openShard(t, []string{f.addr}, nil)
	msg := command(0, ping)
	reply, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ok := replyBody(t, reply).Lookup("ok").Double(); ok != 1 {
		t.Errorf("ok = %v", ok)
	}
}

// unknownEvents collects the server description changes to Unknown.
func unknownEvents(cfg *Config) chan string {
	ch := make(chan string, 1024)
	cfg.onServerChange = func(e *event.ServerDescriptionChangedEvent) {
		if e.NewDescription.Kind == "Unknown" {
			ch <- e.Address.String()
		}
	}
	return ch
}

func drained(ch chan string, host string) bool {
	for {
		select {
		case h := <-ch:
			if h == host {
				return true
			}
		default:
			return false
		}
	}
}

func TestStateChangeRepliesReachSDAM(t *testing.T) {
	f := startFake(t, false, nil)
	var unknown chan string
	s := openShard(t, []string{f.addr}, func(c *Config) { unknown = unknownEvents(c) })
	tests := []struct {
		code        mongoerr.Code
		markUnknown bool
	}{
		{mongoerr.NotWritablePrimary, true},
		{mongoerr.NotPrimaryNoSecondaryOk, true},
		{mongoerr.NotPrimaryOrSecondary, true},
		{mongoerr.InterruptedDueToReplStateChange, true},
		{mongoerr.PrimarySteppedDown, true},
		{mongoerr.ShutdownInProgress, true},
		{mongoerr.InterruptedAtShutdown, true},
		{mongoerr.BadValue, false},
		{mongoerr.CursorNotFound, false},
	}
	for _, tc := range tests {
		t.Run(tc.code.Name(), func(t *testing.T) {
			f.setHandler(func(r fakeRequest) fakeResponse {
				return fakeResponse{frame: f.reply(r.msg.Header.RequestID, 0, (&mongoerr.Error{Code: tc.code, Msg: "x"}).Reply())}
			})
			drained(unknown, "") // forget earlier events
			msg := command(0, ping)
			reply, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
			if err != nil {
				t.Fatal(err) // a command error is a reply, not a failure to talk
			}
			if got := replyBody(t, reply).Lookup("code").Int32(); got != int32(tc.code) {
				t.Errorf("reply code %d", got)
			}
			// ProcessError runs before RoundTrip returns, so the change is already recorded.
			if got := drained(unknown, f.addr); got != tc.markUnknown {
				t.Errorf("member marked Unknown: %v, want %v", got, tc.markUnknown)
			}
		})
	}
}

func TestNetworkErrorIsHostUnreachableAndReachesSDAM(t *testing.T) {
	f := startFake(t, false, func(fakeRequest) fakeResponse { return fakeResponse{hangUp: true} })
	var unknown chan string
	s := openShard(t, []string{f.addr}, func(c *Config) { unknown = unknownEvents(c) })
	_, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(0, ping), nil)
	he := wantCode(t, err, mongoerr.HostUnreachable)
	if he.Host != f.addr || he.Shard != "s1" {
		t.Errorf("error names shard %q host %q", he.Shard, he.Host)
	}
	if !drained(unknown, f.addr) {
		t.Error("the network error did not mark the member Unknown")
	}
}

func TestDeadlines(t *testing.T) {
	received := make(chan struct{}, 1)
	f := startFake(t, false, func(fakeRequest) fakeResponse { received <- struct{}{}; return fakeResponse{} })
	s := openShard(t, []string{f.addr}, func(c *Config) { c.SocketTimeout = 300 * time.Millisecond })

	t.Run("caller deadline", func(t *testing.T) {
		start := time.Now()
		_, _, err := s.RoundTrip(testCtx(t, 300*time.Millisecond), Primary(), command(0, ping), nil)
		wantCode(t, err, mongoerr.NetworkTimeout)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		<-received
		f.waitEnded(t, "ping")
	})
	t.Run("default deadline", func(t *testing.T) {
		start := time.Now()
		_, err := s.RoundTripHost(context.Background(), f.addr, command(0, ping), nil)
		wantCode(t, err, mongoerr.NetworkTimeout)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		<-received
		f.waitEnded(t, "ping")
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-received; cancel() }()
		_, _, err := s.RoundTrip(ctx, Primary(), command(0, ping), nil)
		wantCode(t, err, mongoerr.Interrupted)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v does not wrap context.Canceled", err)
		}
		f.waitEnded(t, "ping")
	})
}

func TestNoMatchingMember(t *testing.T) {
	f := startFake(t, true, nil) // a lone secondary: the set has no primary
	s := openShard(t, []string{f.addr}, func(c *Config) { c.ServerSelectionTimeout = 300 * time.Millisecond })

	_, host, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(0, ping), nil)
	he := wantCode(t, err, mongoerr.FailedToSatisfyReadPreference)
	const want = `Could not find host matching read preference { mode: "primary" } for set rs0`
	if he.Error() != want || host != "" {
		t.Errorf("error %q host %q, want %q", he.Error(), host, want)
	}
	if r := mongoerr.As(err); r.Code != mongoerr.FailedToSatisfyReadPreference || r.Msg != want {
		t.Errorf("ErrorReply = %+v", r)
	}
	if s.HasPrimary() {
		t.Error("HasPrimary with a lone secondary")
	}
	for _, mode := range []Mode{ModeSecondary, ModePrimaryPreferred, ModeSecondaryPreferred, ModeNearest} {
		if _, host, err := s.RoundTrip(testCtx(t, 10*time.Second), ReadPref{Mode: mode}, command(0, ping), nil); err != nil || host != f.addr {
			t.Errorf("%v: host %q, err %v", mode, host, err)
		}
	}
}

func TestRoundTripHost(t *testing.T) {
	f := startFake(t, false, nil)
	s := openShard(t, []string{f.addr}, nil)
	msg := command(0, ping)
	reply, err := s.RoundTripHost(testCtx(t, 10*time.Second), f.addr, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	replyBody(t, reply)

	_, err = s.RoundTripHost(testCtx(t, 10*time.Second), "127.0.0.1:1", command(0, ping), nil)
	if he := wantCode(t, err, mongoerr.HostNotFound); he.Host != "127.0.0.1:1" {
		t.Errorf("host %q", he.Host)
	}

	f.close() // the member goes down
	start := time.Now()
	_, err = s.RoundTripHost(testCtx(t, 2*time.Second), f.addr, command(0, ping), nil)
	if code := codeOf(err); code != mongoerr.HostUnreachable && code != mongoerr.NetworkTimeout {
		t.Errorf("down member: %v (code %d)", err, code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestTopologyInfo(t *testing.T) {
	f := startFake(t, false, nil)
	s := openShard(t, []string{f.addr}, nil)
	waitFor(t, "a primary", s.HasPrimary)
	if got := s.Members(); len(got) != 1 || got[0] != f.addr {
		t.Errorf("Members = %v", got)
	}
	if lo, hi, ok := s.WireVersions(); lo != 0 || hi != 21 || !ok {
		t.Errorf("WireVersions = %d, %d, %v", lo, hi, ok)
	}
	if m, ok := s.SessionTimeoutMinutes(); m != 30 || !ok {
		t.Errorf("SessionTimeoutMinutes = %d, %v", m, ok)
	}
	if s.Name() != "s1" {
		t.Errorf("Name = %q", s.Name())
	}
}

func TestUnreachableShardInfo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there any more
	s := openShard(t, []string{addr}, func(c *Config) { c.ServerSelectionTimeout = 200 * time.Millisecond })
	if _, _, ok := s.WireVersions(); ok {
		t.Error("WireVersions known without any member")
	}
	if _, ok := s.SessionTimeoutMinutes(); ok {
		t.Error("SessionTimeoutMinutes known without any member")
	}
	if got := s.Members(); len(got) != 1 || got[0] != addr {
		t.Errorf("Members = %v, want the seed", got)
	}
	_, _, err = s.RoundTrip(testCtx(t, 5*time.Second), Primary(), command(0, ping), nil)
	wantCode(t, err, mongoerr.FailedToSatisfyReadPreference)
	_, err = s.RoundTripHost(testCtx(t, 5*time.Second), addr, command(0, ping), nil)
	wantCode(t, err, mongoerr.HostUnreachable)
}

func TestCloseStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := startFake(t, false, nil)
	s, err := Open(Config{Name: "s1", SetName: "rs0", Hosts: []string{f.addr}, MinPoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(0, ping), nil); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 10*time.Second)
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, _, err = s.RoundTrip(ctx, Primary(), command(0, ping), nil)
	wantCode(t, err, mongoerr.ShutdownInProgress)
	f.close()
}

func TestBadRequests(t *testing.T) {
	f := startFake(t, false, nil)
	s := openShard(t, []string{f.addr}, nil)
	for name, msg := range map[string]Request{"no body": {}, "truncated body": {Body: mustDoc(ping)[:4]}} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.RoundTrip(testCtx(t, time.Second), Primary(), msg, nil)
			var me *mongoerr.Error
			if !errors.As(err, &me) || me.Code != mongoerr.InternalError {
				t.Errorf("RoundTrip: %v", err)
			}
			if _, err := s.RoundTripHost(testCtx(t, time.Second), f.addr, msg, nil); codeOf(err) != mongoerr.InternalError {
				t.Errorf("RoundTripHost: %v", err)
			}
		})
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no name":     {SetName: "rs0", Hosts: []string{"127.0.0.1:1"}},
		"no set":      {Name: "s1", Hosts: []string{"127.0.0.1:1"}},
		"no hosts":    {Name: "s1", SetName: "rs0"},
		"bad host":    {Name: "s1", SetName: "rs0", Hosts: []string{"127.0.0.1"}},
		"heartbeat":   {Name: "s1", SetName: "rs0", Hosts: []string{"127.0.0.1:1"}, HeartbeatInterval: time.Millisecond},
		"pool bounds": {Name: "s1", SetName: "rs0", Hosts: []string{"127.0.0.1:1"}, MaxPoolSize: 1, MinPoolSize: 2},
	} {
		t.Run(name, func(t *testing.T) {
			if s, err := Open(cfg); err == nil {
				_ = s.Close(context.Background())
				t.Error("Open accepted it")
			}
		})
	}
}

func TestSDAMError(t *testing.T) {
	tests := []struct {
		name string
		body bson.D
		code int32 // 0: no error for SDAM
	}{
		{"ok", bson.D{{Key: "ok", Value: 1.0}}, 0},
		{"ok int", bson.D{{Key: "n", Value: 1}, {Key: "ok", Value: int32(1)}}, 0},
		{"command error", bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(10107)}, {Key: "errmsg", Value: "not primary"}}, 10107},
		{"write concern error", bson.D{{Key: "ok", Value: 1.0}, {Key: "writeConcernError",
			Value: bson.D{{Key: "code", Value: int32(91)}, {Key: "errmsg", Value: "shutting down"}}}}, 91},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := sdamError(outcome.NewReply(mustDoc(tc.body)))
			var code int32
			var de driver.Error
			var wce driver.WriteCommandError
			switch {
			case errors.As(err, &de):
				code = de.Code
			case errors.As(err, &wce):
				code = int32(wce.WriteConcernError.Code)
			case err != nil:
				t.Fatalf("unexpected %T %v", err, err)
			}
			if code != tc.code {
				t.Errorf("code %d, want %d", code, tc.code)
			}
		})
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkRoundTripFake measures a ping through the whole client path against the fake member
// (whose own allocations are included in allocs/op).
func BenchmarkRoundTripFake(b *testing.B) {
	f := startFake(b, false, nil)
	s, err := Open(Config{Name: "s1", SetName: "rs0", Hosts: []string{f.addr}})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	msg := command(0, ping)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.RoundTrip(ctx, Primary(), msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
