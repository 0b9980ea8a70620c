package pool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/deadline"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// blockPings makes the member hold every ping for a minute (until it stops, at the latest).
func blockPings(t *testing.T, p *Pool) {
	t.Helper()
	c := mustGet(t, p)
	defer p.Put(c)
	msg, reqID := command(t, 0, bson.D{
		{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{
			{Key: "failCommands", Value: bson.A{"ping"}},
			{Key: "blockConnection", Value: true},
			{Key: "blockTimeMS", Value: 60_000},
		}},
		{Key: "$db", Value: "admin"},
	})
	reply, err := c.RoundTrip(testCtx(t), msg, nil)
	if err != nil {
		t.Fatalf("configureFailPoint: %v", err)
	}
	checkOK(t, reply, reqID)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// isTimeoutOrDeadline: a context with a timer ends I/O by its socket deadline or by its timer,
// whichever fires first; either says timeout.
func isTimeoutOrDeadline(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || isTimeout(err)
}

// TestRoundTripContextEnds: a round trip the member does not answer ends with its context, each
// kind of context in its own way, long before the member would reply.
func TestRoundTripContextEnds(t *testing.T) {
	rs := startSet(t)
	member := rs.Member(0)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	blockPings(t, p)
	for _, tc := range []struct {
		name string
		// ctx returns the context and what ends it once the member holds the ping (nil: its
		// deadline does).
		ctx   func(t *testing.T) (context.Context, func())
		check func(error) bool
		want  string
	}{
		{"cancelled", func(t *testing.T) (context.Context, func()) {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			return ctx, cancel
		}, func(err error) bool { return errors.Is(err, context.Canceled) }, "context.Canceled"},
		{"cancelled with a deadline", func(t *testing.T) (context.Context, func()) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			t.Cleanup(cancel)
			return ctx, cancel
		}, func(err error) bool { return errors.Is(err, context.Canceled) }, "context.Canceled"},
		{"deadline only", func(t *testing.T) (context.Context, func()) {
			ctx := deadline.After(200 * time.Millisecond)
			t.Cleanup(ctx.Release)
			return ctx, nil
		}, isTimeout, "a net.Error timeout wrapping os.ErrDeadlineExceeded"},
		{"timeout", func(t *testing.T) (context.Context, func()) {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			t.Cleanup(cancel)
			return ctx, nil
		}, isTimeoutOrDeadline, "a timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustGet(t, p)
			defer p.Discard(c)
			ctx, end := tc.ctx(t)
			pings := member.CommandCount("ping")
			msg, _ := ping(t)
			done := make(chan error, 1)
			go func() {
				_, err := c.RoundTrip(ctx, msg, nil)
				done <- err
			}()
			if end != nil {
				eventually(t, "the member to hold the ping", func() bool { return member.CommandCount("ping") > pings })
				end()
			}
			err := await(t, done, "RoundTrip")
			if !tc.check(err) {
				t.Fatalf("RoundTrip: %v, want %s", err, tc.want)
			}
		})
	}
	checkStats(t, p, Stats{}) // every connection, the fail point's included, was discarded
}

// TestRoundTripContextEndedBefore: a context already over fails the round trip at once.
func TestRoundTripContextEndedBefore(t *testing.T) {
	f := startFake(t, answer)
	p := newPool(t, Config{Addr: f.addr()})
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	past := deadline.New(time.Now().Add(-time.Second))
	defer past.Release()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		check func(error) bool
	}{
		{"cancelled", cancelled, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"deadline passed", past, isTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustGet(t, p)
			defer p.Discard(c)
			msg, _ := ping(t)
			if _, err := c.RoundTrip(tc.ctx, msg, nil); !tc.check(err) {
				t.Fatalf("RoundTrip: %v", err)
			}
			if err := c.Send(tc.ctx, msg); !tc.check(err) {
				t.Fatalf("Send: %v", err)
			}
		})
	}
}

// TestMemberHangsUp: a member closing the connection ends the round trip with io.EOF.
func TestMemberHangsUp(t *testing.T) {
	f := startFake(t, hangUp)
	p := newPool(t, Config{Addr: f.addr()})
	c := mustGet(t, p)
	defer p.Discard(c)
	msg, _ := ping(t)
	if _, err := c.RoundTrip(testCtx(t), msg, nil); !errors.Is(err, io.EOF) {
		t.Fatalf("RoundTrip: %v, want io.EOF", err)
	}
}

// TestSend: a moreToCome request is written and gets no reply; the connection stays in step.
func TestSend(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	c := mustGet(t, p)
	defer p.Put(c)
	msg, _ := command(t, wire.MoreToCome, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	if err := c.Send(testCtx(t), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	eventually(t, "the member to run the ping", func() bool { return rs.Member(0).CommandCount("ping") == 1 })
	roundTrip(t, c) // its reply is the first frame to come back
}

func TestDescriber(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	d := p.Describer()
	if d.Stale() {
		t.Fatal("describer of a pool never cleared is stale")
	}
	if string(d.Address()) != rs.Hosts()[0] {
		t.Fatalf("Address = %q, want %q", d.Address(), rs.Hosts()[0])
	}
	p.Clear()
	if !d.Stale() {
		t.Fatal("describer is not stale after Clear")
	}
}

// TestLargeRequestWrittenInParts: a request larger than the connection's framing buffer is
// written from where its body and sequences lie, and arrives whole: the member inserts every
// document of a 2 MB sequence, and the same body and sequence go out again unchanged.
func TestLargeRequestWrittenInParts(t *testing.T) {
	rs := startSet(t)
	p := newPool(t, Config{Addr: rs.Hosts()[0]})
	c := mustGet(t, p)
	defer p.Put(c)
	const docs = 2000
	seq := wire.Sequence{Identifier: "documents"}
	for i := range docs {
		raw, err := bson.Marshal(bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: strings.Repeat("x", 1000)}})
		if err != nil {
			t.Fatal(err)
		}
		seq.Raw = append(seq.Raw, raw...)
	}
	msg, _ := command(t, 0, bson.D{{Key: "insert", Value: "big"}, {Key: "$db", Value: "test"}})
	msg.Sequences = []wire.Sequence{seq}
	if n := wire.MsgLength(msg.Body, msg.Sequences); n <= smallMsg {
		t.Fatalf("the request is %d bytes, not above the %d-byte buffer", n, smallMsg)
	}
	body, raw := append([]byte(nil), msg.Body...), append([]byte(nil), seq.Raw...)
	for round, want := range []int32{docs, 0} { // the second insert finds every _id taken
		msg.RequestID = requestIDs.Add(1)
		reply, err := c.RoundTrip(testCtx(t), msg, nil)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		got, err := replyBody(reply, msg.RequestID)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := got.Lookup("n").AsInt32OK(); n != want {
			t.Fatalf("round %d: n = %d, want %d: %v", round, n, want, got)
		}
	}
	if !bytes.Equal(body, msg.Body) || !bytes.Equal(raw, seq.Raw) {
		t.Fatal("writing the request changed its body or sequence")
	}
}
