package memshard

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/drivertest"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startSet starts a replica set that the test closes.
func startSet(t *testing.T, members int, opts ...Option) *ReplicaSet {
	t.Helper()
	rs, err := StartReplicaSet("rs0", members, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	return rs
}

// connect opens a driver client; it is disconnected before the set closes.
func connect(t *testing.T, uri string, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	// No client-wide timeout: with one the driver retries retryable errors until it expires.
	o := options.Client().ApplyURI(uri).SetServerSelectionTimeout(10 * time.Second).SetConnectTimeout(5 * time.Second)
	return drivertest.Connect(t, append([]*options.ClientOptions{o}, opts...)...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawClient speaks OP_MSG to one member directly, for commands the driver would rewrite
// (explicit lsid, txnNumber) and for protocol tests.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	id int32
}

func dialRaw(t testing.TB, host string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawClient{t: t, nc: nc}
}

func marshal(t testing.TB, v any) bsoncore.Document {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// send writes one OP_MSG and returns its request id.
func (c *rawClient) send(flags wiremessage.MsgFlag, body bson.D, seqs ...wire.Sequence) int32 {
	c.t.Helper()
	c.id++
	c.write(wire.AppendMsg(nil, c.id, 0, flags, marshal(c.t, body), seqs...))
	return c.id
}

func (c *rawClient) write(frame []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.nc.Write(frame); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one OP_MSG reply.
func (c *rawClient) recv(wait time.Duration) (wire.Msg, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(wait))
	frame, err := wire.ReadFrame(c.nc, nil)
	if err != nil {
		return wire.Msg{}, err
	}
	return wire.ParseMsg(frame)
}

// run sends a command and returns the reply body.
func (c *rawClient) run(body bson.D) bson.Raw {
	c.t.Helper()
	id := c.send(0, body)
	msg, err := c.recv(10 * time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	if msg.Header.ResponseTo != id {
		c.t.Fatalf("responseTo %d, want %d", msg.Header.ResponseTo, id)
	}
	return bson.Raw(msg.Body)
}

// mustOK fails the test unless the reply has ok: 1 and returns it.
func mustOK(t testing.TB, reply bson.Raw) bson.Raw {
	t.Helper()
	if e := outcome.ErrOf(bsoncore.Document(reply)); e != nil {
		t.Fatalf("command failed: %v in %s", e, reply)
	}
	return reply
}

// wantCode checks a reply's error code (and message when msg is not empty).
func wantCode(t *testing.T, reply bson.Raw, code mongoerr.Code, msg string) {
	t.Helper()
	e := outcome.ErrOf(bsoncore.Document(reply))
	if e == nil || e.Code != code || msg != "" && e.Msg != msg {
		t.Fatalf("got %s, want code %d %q", reply, code, msg)
	}
	if name, _ := reply.Lookup("codeName").StringValueOK(); name != code.Name() {
		t.Fatalf("codeName %q, want %q", name, code.Name())
	}
}

func hasLabel(reply bson.Raw, label string) bool {
	e := outcome.ErrOf(bsoncore.Document(reply))
	return e != nil && e.HasLabel(label)
}

// lsidDoc is an lsid as a driver sends it.
func lsidDoc(id sessionid.ID) bson.D {
	return bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id.ID[:]}}}
}

func newLSID() sessionid.ID { return sessionid.NewID(sessionid.NoAuthUID) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func isCode(err error, code int32) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Code == code
	}
	var we mongo.WriteException
	if errors.As(err, &we) {
		for _, e := range we.WriteErrors {
			if int32(e.Code) == code {
				return true
			}
		}
	}
	return false
}

// fakeClock is an injectable clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// kinds is the driver's view of each member (from SDAM events), so tests wait for discovery
// instead of racing it.
type kinds struct {
	mu sync.Mutex
	m  map[string]string
}

func watchKinds() (*kinds, *options.ClientOptions) {
	k := &kinds{m: map[string]string{}}
	return k, options.Client().SetServerMonitor(&event.ServerMonitor{
		ServerDescriptionChanged: func(e *event.ServerDescriptionChangedEvent) {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.m[e.Address.String()] = e.NewDescription.Kind
		},
	})
}

func (k *kinds) waitFor(t *testing.T, host, kind string) {
	t.Helper()
	eventually(t, host+" to be "+kind, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.m[host] == kind
	})
}
