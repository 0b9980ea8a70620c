package pool

import (
	"net"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// behaviour is what a fake member does with the requests it gets.
type behaviour int

const (
	answer behaviour = iota // answers the handshake, then {ok: 1} to every OP_MSG, allocating nothing
	silent                  // answers the handshake, then reads requests and never replies
	mute                    // never replies, not even to the handshake
	hangUp                  // answers the handshake, then closes the connection on the first request
)

// fakeConnectionID is the connectionId the fake's hello reports.
const fakeConnectionID = 42

// fakeMember is a member made of a raw listener on 127.0.0.1, for the cases memshard does not
// stage: a member that never answers, and a round trip whose other end allocates nothing.
type fakeMember struct {
	ln  net.Listener
	act behaviour
	// unanswered gets a value for each request the member read and will not answer (silent,
	// mute); a send that would block is dropped.
	unanswered chan struct{}

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{} // nil once closed
}

func startFake(t *testing.T, act behaviour) *fakeMember {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMember{ln: ln, act: act, unanswered: make(chan struct{}, 16), conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeMember) addr() string { return f.ln.Addr().String() }

func (f *fakeMember) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.ln.Accept()
		if err != nil {
			return // closed
		}
		f.mu.Lock()
		if f.conns == nil {
			f.mu.Unlock()
			_ = nc.Close()
			return
		}
		f.conns[nc] = struct{}{}
		f.wg.Add(1)
		f.mu.Unlock()
		go f.serve(nc)
	}
}

// close stops the listener and every connection and waits for their goroutines.
func (f *fakeMember) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for nc := range f.conns {
		_ = nc.Close()
	}
	f.conns = nil
	f.mu.Unlock()
	f.wg.Wait()
}

// open reports how many connections the member accepted and has not closed.
func (f *fakeMember) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

func (f *fakeMember) serve(nc net.Conn) {
	defer f.wg.Done()
	defer func() {
		_ = nc.Close()
		f.mu.Lock()
		if f.conns != nil {
			delete(f.conns, nc)
		}
		f.mu.Unlock()
	}()
	buf := make([]byte, 0, 4096)
	ok := wire.AppendMsg(nil, 1, 0, 0, bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build())
	for {
		frame, err := wire.ReadFrame(nc, buf[:0])
		if err != nil {
			return
		}
		h, err := wire.ParseHeader(frame)
		if err != nil {
			return
		}
		var out []byte
		switch {
		case f.act == mute, f.act == silent && h.OpCode != wire.OpQuery:
			select {
			case f.unanswered <- struct{}{}:
			default:
			}
			continue
		case h.OpCode == wire.OpQuery: // the driver's first hello
			out = wire.AppendReply(nil, 1, h.RequestID, helloReply())
		case f.act == hangUp:
			return
		default:
			out = ok
			wire.SetResponseTo(out, h.RequestID)
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// helloReply is a standalone's answer to the legacy hello.
func helloReply() bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendBoolean("ismaster", true).
		AppendInt32("maxBsonObjectSize", 16<<20).
		AppendInt32("maxMessageSizeBytes", 48_000_000).
		AppendInt32("maxWriteBatchSize", 100_000).
		AppendInt32("minWireVersion", 0).
		AppendInt32("maxWireVersion", 21).
		AppendInt64("connectionId", fakeConnectionID).
		AppendDouble("ok", 1).
		Build()
}
