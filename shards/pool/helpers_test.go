package pool

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	driverauth "go.mongodb.org/mongo-driver/v2/x/mongo/driver/auth"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// appName is what the pools under test tell members in their hello.
const appName = "pool-test"

// helloOnly is the handshaker package shards makes without credentials.
func helloOnly() driver.Handshaker {
	return driverauth.Handshaker(nil, &driverauth.HandshakeOptions{AppName: appName})
}

// newPool makes a pool (hello-only handshake unless cfg has one) that the test closes.
func newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	if cfg.Handshaker == nil {
		cfg.Handshaker = helloOnly
	}
	p := New(cfg)
	t.Cleanup(p.Close)
	return p
}

// startSet starts a one-member memshard replica set that the test stops.
func startSet(t *testing.T, opts ...memshard.Option) *memshard.ReplicaSet {
	t.Helper()
	rs, err := memshard.StartReplicaSet("rs0", 1, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rs.Close(); err != nil {
			t.Errorf("memshard Close: %v", err)
		}
	})
	return rs
}

// testCtx bounds what must succeed: generous, so a loaded machine does not fail the test.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var requestIDs atomic.Int32

// command builds an OP_MSG request with a fresh request id.
func command(t testing.TB, flags wiremessage.MsgFlag, body bson.D) (msg Msg, reqID int32) {
	t.Helper()
	raw, err := bson.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	reqID = requestIDs.Add(1)
	return Msg{RequestID: reqID, Flags: flags, Body: raw}, reqID
}

func ping(t testing.TB) (msg Msg, reqID int32) {
	return command(t, 0, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
}

// replyBody checks that reply is an OP_MSG answering reqID and returns its body.
func replyBody(reply []byte, reqID int32) (bsoncore.Document, error) {
	m, err := wire.ParseMsg(reply)
	if err != nil {
		return nil, fmt.Errorf("reply: %w", err)
	}
	if m.Header.ResponseTo != reqID {
		return nil, fmt.Errorf("reply responseTo = %d, want the request id %d", m.Header.ResponseTo, reqID)
	}
	return m.Body, nil
}

// replyOK checks that reply answers reqID with ok: 1.
func replyOK(reply []byte, reqID int32) error {
	body, err := replyBody(reply, reqID)
	if err != nil {
		return err
	}
	if ok, _ := body.Lookup("ok").AsFloat64OK(); ok != 1 {
		return fmt.Errorf("reply %s, want ok: 1", body)
	}
	return nil
}

func checkOK(t testing.TB, reply []byte, reqID int32) {
	t.Helper()
	if err := replyOK(reply, reqID); err != nil {
		t.Fatal(err)
	}
}

// roundTrip pings on c and checks the reply.
func roundTrip(t testing.TB, c *Conn) {
	t.Helper()
	msg, id := ping(t)
	reply, err := c.RoundTrip(context.Background(), msg, nil)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	checkOK(t, reply, id)
}

// mustGet checks out a connection within a generous deadline.
func mustGet(t *testing.T, p *Pool) *Conn {
	t.Helper()
	c, err := p.Get(testCtx(t))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return c
}

// refusedAddr is a local address nothing listens on (a port just released).
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// checkStats compares the gauges and failure counters of p's Stats with want (Addr, Checkouts and
// Cleared are checked by the tests that care).
func checkStats(t *testing.T, p *Pool, want Stats) {
	t.Helper()
	got := p.Stats()
	got.Addr, got.Checkouts, got.Cleared, got.Created = "", 0, 0, 0 // counted by the tests about them
	if got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}

// eventually polls cond until it holds, failing the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
