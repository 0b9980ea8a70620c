package shards

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// fakeMember is a tiny replica set member on 127.0.0.1 for tests that need a misbehaving shard:
// it answers the handshake and heartbeats itself (polling monitor: no topologyVersion) and
// hands every other command to a handler that decides what, if anything, goes back.
type fakeMember struct {
	t         testing.TB
	ln        net.Listener
	addr      string
	secondary bool // report itself as a secondary of a set without primary

	handler atomic.Pointer[func(fakeRequest) fakeResponse]
	nextID  atomic.Int32
	connIDs atomic.Int32

	// ended receives, for every connection the client closes, the last command it carried.
	ended chan string

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

type fakeRequest struct {
	conn  int32 // which server-side connection carried it
	cmd   string
	msg   wire.Msg
	frame []byte
}

// fakeResponse: frame is written back as is; nil frame means no reply; hangUp closes the
// connection from the server side.
type fakeResponse struct {
	frame  []byte
	hangUp bool
}

func startFake(t testing.TB, secondary bool, h func(fakeRequest) fakeResponse) *fakeMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMember{t: t, ln: ln, addr: ln.Addr().String(), secondary: secondary,
		ended: make(chan string, 1024), conns: map[net.Conn]struct{}{}}
	if h == nil {
		h = f.ok
	}
	f.setHandler(h)
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeMember) setHandler(h func(fakeRequest) fakeResponse) { f.handler.Store(&h) }

func (f *fakeMember) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeMember) accept() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = struct{}{}
		f.mu.Unlock()
		f.wg.Add(1)
		go f.serve(c, f.connIDs.Add(1))
	}
}

func (f *fakeMember) serve(c net.Conn, id int32) {
	defer f.wg.Done()
	defer func() {
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
		_ = c.Close()
	}()
	last := ""
	for {
		frame, err := wire.ReadFrame(c, nil)
		if err != nil {
			f.ended <- last
			return
		}
		h, err := wire.ParseHeader(frame)
		if err != nil {
			f.t.Errorf("fake: bad frame: %v", err)
			return
		}
		var out []byte
		switch h.OpCode {
		case wire.OpQuery: // legacy handshake
			last = "hello"
			out = wire.AppendReply(nil, f.nextID.Add(1), h.RequestID, f.hello())
		case wire.OpMsg:
			m, err := wire.ParseMsg(frame)
			if err != nil {
				f.t.Errorf("fake: bad OP_MSG: %v", err)
				return
			}
			last = wire.CommandName(m.Body)
			switch last {
			case "hello", "isMaster", "ismaster":
				out = f.reply(h.RequestID, 0, f.hello())
			default:
				resp := (*f.handler.Load())(fakeRequest{conn: id, cmd: last, msg: m, frame: frame})
				if resp.hangUp {
					return
				}
				out = resp.frame
			}
		default:
			f.t.Errorf("fake: unexpected opcode %d", h.OpCode)
			return
		}
		if out != nil {
			if _, err := c.Write(out); err != nil {
				return
			}
		}
	}
}

// reply builds an OP_MSG reply to requestID.
func (f *fakeMember) reply(responseTo int32, flags wiremessage.MsgFlag, body bsoncore.Document) []byte {
	return wire.AppendMsg(nil, f.nextID.Add(1), responseTo, flags, body)
}

// ok answers any command with {ok: 1}.
func (f *fakeMember) ok(r fakeRequest) fakeResponse {
	return fakeResponse{frame: f.reply(r.msg.Header.RequestID, 0, mustDoc(bson.D{{Key: "ok", Value: 1.0}}))}
}

func (f *fakeMember) hello() bsoncore.Document {
	return mustDoc(bson.D{
		{Key: "helloOk", Value: true},
		{Key: "isWritablePrimary", Value: !f.secondary},
		{Key: "secondary", Value: f.secondary},
		{Key: "setName", Value: "rs0"},
		{Key: "setVersion", Value: int32(1)},
		{Key: "hosts", Value: bson.A{f.addr}},
		{Key: "me", Value: f.addr},
		{Key: "maxBsonObjectSize", Value: int32(16 * 1024 * 1024)},
		{Key: "maxMessageSizeBytes", Value: int32(48_000_000)},
		{Key: "maxWriteBatchSize", Value: int32(100_000)},
		{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())},
		{Key: "logicalSessionTimeoutMinutes", Value: int32(30)},
		{Key: "minWireVersion", Value: int32(0)},
		{Key: "maxWireVersion", Value: int32(21)},
		{Key: "ok", Value: 1.0},
	})
}

// waitEnded waits until the client closes a connection whose last command was cmd.
func (f *fakeMember) waitEnded(t *testing.T, cmd string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case got := <-f.ended:
			if got == cmd {
				return
			}
		case <-deadline:
			t.Fatalf("the connection that carried %q was not closed", cmd)
		}
	}
}

// noEnded checks that no connection that carried cmd has been closed so far.
func (f *fakeMember) noEnded(t *testing.T, cmd string) {
	t.Helper()
	for {
		select {
		case got := <-f.ended:
			if got == cmd {
				t.Fatalf("the connection that carried %q was closed", cmd)
			}
		default:
			return
		}
	}
}

func mustDoc(v any) bsoncore.Document {
	b, err := bson.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// command builds a request for body; moreToCome among flags asks for no reply.
func command(flags wiremessage.MsgFlag, body bson.D) Request {
	return Request{Body: mustDoc(body), MoreToCome: flags&wire.MoreToCome != 0}
}
