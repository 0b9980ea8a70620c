package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// rawConn speaks the wire protocol to the router by hand, for input no driver would send.
type rawConn struct {
	t  *testing.T
	nc net.Conn
}

func dialRaw(t *testing.T, c *cluster) *rawConn {
	t.Helper()
	return dialRawAddr(t, c.router.Addr())
}

// dialRawAddr is dialRaw to the router at addr.
func dialRawAddr(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc}
}

func (r *rawConn) send(frame []byte) {
	r.t.Helper()
	if err := r.trySend(frame); err != nil {
		r.t.Fatal(err)
	}
}

// reply reads one reply frame and returns its body document.
func (r *rawConn) reply() bsoncore.Document {
	r.t.Helper()
	body, err := r.tryReply()
	if err != nil {
		r.t.Fatal(err)
	}
	return body
}

// trySend and tryReply report errors instead of failing the test, for use off the test goroutine.
func (r *rawConn) trySend(frame []byte) error {
	_ = r.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := r.nc.Write(frame)
	return err
}

func (r *rawConn) tryReply() (bsoncore.Document, error) {
	_ = r.nc.SetReadDeadline(time.Now().Add(30 * time.Second)) // generous: CI machines are small and busy
	frame, err := wire.ReadFrame(r.nc, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the reply: %w", err)
	}
	if h, _ := wire.ParseHeader(frame); h.OpCode == wire.OpReply {
		rep, err := wire.ParseReply(frame)
		if err != nil || len(rep.Documents) != 1 {
			return nil, fmt.Errorf("bad OP_REPLY: %v", err)
		}
		return rep.Documents[0], nil
	}
	m, err := wire.ParseMsg(frame)
	if err != nil {
		return nil, fmt.Errorf("bad OP_MSG reply: %w", err)
	}
	return m.Body, nil
}

// closed asserts the router closed the connection without replying.
func (r *rawConn) closed() {
	r.t.Helper()
	_ = r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	if _, err := r.nc.Read(b[:]); !errors.Is(err, io.EOF) && !isReset(err) {
		r.t.Fatalf("want the connection closed, read gave %v", err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func msg(t testing.TB, cmd bson.D) []byte {
	body, err := bson.Marshal(cmd)
	if err != nil {
		panic(err) // only for documents the test itself builds
	}
	return wire.AppendMsg(nil, 1, 0, 0, body)
}

func wantCode(t *testing.T, reply bsoncore.Document, code int32, msgPart string) {
	t.Helper()
	if ok, _ := reply.Lookup("ok").AsFloat64OK(); ok != 0 {
		t.Fatalf("reply %s: want an error", reply)
	}
	got, _ := reply.Lookup("code").AsInt32OK()
	text, _ := reply.Lookup("errmsg").StringValueOK()
	if got != code || !strings.Contains(text, msgPart) {
		t.Fatalf("reply code %d %q, want %d containing %q", got, text, code, msgPart)
	}
	if _, ok := reply.Lookup("codeName").StringValueOK(); !ok {
		t.Fatalf("reply %s has no codeName", reply)
	}
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1})
	hdr := func(length int32, op int32) []byte {
		b := make([]byte, 16)
		binary.LittleEndian.PutUint32(b, uint32(length))
		binary.LittleEndian.PutUint32(b[12:], uint32(op))
		return b
	}
	good := msg(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	corrupt := wire.AddChecksum(append([]byte(nil), good...))
	corrupt[len(corrupt)-1] ^= 0xff
	badCompressed := append(hdr(16+9+4, int32(wire.OpCompressed)), 0xdd, 0x07, 0, 0, 32, 0, 0, 0, 2, 'j', 'u', 'n', 'k')
	truncatedBody := append(hdr(int32(len(good)), int32(wire.OpMsg)), good[16:20]...)
	tests := []struct {
		name  string
		frame []byte
	}{
		{"length below 16", hdr(15, int32(wire.OpMsg))},
		{"length above 48,000,000", hdr(48_000_001, int32(wire.OpMsg))},
		{"unknown opcode", hdr(16, 9999)},
		{"wrong checksum", corrupt},
		{"bad compressed payload", badCompressed},
		{"illegal required flag bit", append(hdr(16+4+1+5, int32(wire.OpMsg)), 4, 0, 0, 0, 0, 5, 0, 0, 0, 0)},
		{"document sequence that overruns the frame", append(hdr(16+4+1+4, int32(wire.OpMsg)), 0, 0, 0, 0, 1, 99, 0, 0, 0)},
		{"truncated frame then EOF", truncatedBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bystander := dialRaw(t, c)
			bad := dialRaw(t, c)
			bad.send(tt.frame)
			if tt.name == "truncated frame then EOF" {
				_ = bad.nc.(*net.TCPConn).CloseWrite()
			}
			bad.closed()
			// Everyone else is still served.
			bystander.send(good)
			if ok, _ := bystander.reply().Lookup("ok").AsFloat64OK(); ok != 1 {
				t.Fatal("a bystander connection was hurt")
			}
		})
	}
}

func TestBadCommandsGetErrorRepliesAndTheConnectionLives(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1, members: 1})
	longUser := strings.Repeat("u", 10_000)
	manyLsids := make(bson.A, 100_000)
	for i := range manyLsids {
		id := make([]byte, 16)
		binary.LittleEndian.PutUint64(id, uint64(i))
		manyLsids[i] = bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id}}}
	}
	tests := []struct {
		name string
		cmd  bson.D
		code int32
		text string
	}{
		{"unknown command", bson.D{{Key: "frobnicate", Value: 1}, {Key: "$db", Value: "test"}}, 59, "no such command: 'frobnicate'"},
		{"no $db", bson.D{{Key: "ping", Value: 1}}, 40571, "$db"},
		{"lsid of the wrong type", bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: 1}, {Key: "$db", Value: "test"}}, 14, "OperationSessionInfo.lsid"},
		{"txnNumber without lsid", bson.D{{Key: "find", Value: "c"}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "test"}}, 72, "session ID"},
		{"endSessions not an array", bson.D{{Key: "endSessions", Value: "x"}, {Key: "$db", Value: "admin"}}, 14, "endSessions.endSessions"},
		{"getMore id of the wrong type", bson.D{{Key: "getMore", Value: "x"}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}}, 14, "getMore.getMore"},
		{"replica-set admin refused", bson.D{{Key: "replSetGetStatus", Value: 1}, {Key: "$db", Value: "admin"}}, 59, "replica set"},
		{"username of 10,000 bytes", bson.D{{Key: "killAllSessions", Value: bson.A{bson.D{{Key: "user", Value: longUser}, {Key: "db", Value: "admin"}}}}, {Key: "$db", Value: "admin"}}, 0, ""},
	}
	conn := dialRaw(t, c)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn.send(msg(t, tt.cmd))
			reply := conn.reply()
			if tt.code == 0 {
				if ok, _ := reply.Lookup("ok").AsFloat64OK(); ok != 1 {
					t.Fatalf("reply %s, want ok (killAllSessions does not check user name length, as mongod)", reply)
				}
				return
			}
			wantCode(t, reply, tt.code, tt.text)
		})
	}
	t.Run("100,000 lsids in one killSessions", func(t *testing.T) {
		conn.send(msg(t, bson.D{{Key: "killSessions", Value: manyLsids}, {Key: "$db", Value: "admin"}}))
		if ok, _ := conn.reply().Lookup("ok").AsFloat64OK(); ok != 1 {
			t.Fatal("killSessions of 100,000 ids failed")
		}
	})
	// mongod answers an OP_MSG whose framing is sound but whose content does not parse, and
	// keeps the connection (only the ConnectionFatalMessageParseError codes close it).
	for _, tt := range []struct {
		name, text string
		frame      []byte
		code       int32
	}{
		{"OP_MSG whose body is cut short", "malformed", append(wiremessage.AppendHeader(nil, 26, 5, 0, wire.OpMsg), 0, 0, 0, 0, 0, 9, 0, 0, 0, 0), 22},
		{"OP_MSG with two bodies", "Multiple body sections",
			append(wiremessage.AppendHeader(nil, 16+4+6+6, 5, 0, wire.OpMsg), 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0), 40430},
		{"OP_MSG with an unknown section kind", "Unknown section kind",
			append(wiremessage.AppendHeader(nil, 16+4+1, 5, 0, wire.OpMsg), 0, 0, 0, 0, 7), 40432},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn.send(tt.frame)
			wantCode(t, conn.reply(), tt.code, tt.text)
		})
	}
	t.Run("OP_QUERY other than the handshake", func(t *testing.T) {
		q, _ := bson.Marshal(bson.D{{Key: "find", Value: "c"}})
		conn.send(wire.AppendQuery(nil, 7, "test.$cmd", -1, q))
		wantCode(t, conn.reply(), 352, "Unsupported OP_QUERY command: find")
	})
	// After all that, the same connection still works.
	conn.send(msg(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
	if ok, _ := conn.reply().Lookup("ok").AsFloat64OK(); ok != 1 {
		t.Fatal("the connection does not work after the bad commands")
	}
}
