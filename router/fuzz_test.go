package router

import (
	"bufio"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// FuzzCommand sends arbitrary command bodies, as whole OP_MSG frames, to a router in front of a
// memshard set. Whatever the body, the router must answer with a well-formed reply carrying
// ok (an error reply for bad input), closing the connection only where mongod would; it must
// never panic or hang (a hang fails the client's 30 s deadline). And whatever it forwards, no
// internal field a client sent reaches the shard (internal/command's dropped arguments), nor
// impersonation metadata, which a router without --auth never sends.
func FuzzCommand(f *testing.F) {
	for _, seed := range []bson.D{
		{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}},
		{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "$db", Value: "test"}},
		{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "x", Value: 1}}}}, {Key: "$db", Value: "test"}},
		{{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: 1}}}}, {Key: "$db", Value: "admin"}},
		{{Key: "getMore", Value: int64(7)}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}},
		{{Key: "find", Value: "c"}, {Key: "lsid", Value: bson.D{{Key: "id", Value: "x"}}}, {Key: "txnNumber", Value: int64(1)},
			{Key: "autocommit", Value: false}, {Key: "startTransaction", Value: true}, {Key: "$db", Value: "test"}},
		{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{}}}}},
			{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}},
		{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "shardVersion", Value: bson.A{bson.Timestamp{T: 1}}},
			{Key: "$audit", Value: bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "root"}, {Key: "db", Value: "admin"}}}}},
			{Key: "$configTime", Value: bson.Timestamp{T: 1}}, {Key: "$db", Value: "test"}},
		{{Key: "find", Value: "c"}, {Key: "databaseVersion", Value: bson.D{}}, {Key: "$replData", Value: 1}, {Key: "allowImplicitCollectionCreation", Value: true},
			{Key: "clientOperationKey", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}, {Key: "$db", Value: "test"}},
		{{Key: "shardCollection", Value: "test.h"}, {Key: "key", Value: bson.D{{Key: "x", Value: "hashed"}}}, {Key: "$db", Value: "admin"}},
		{{Key: "find", Value: "h"}, {Key: "filter", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$in", Value: bson.A{1, 2}}}}}},
			{Key: "sort", Value: bson.D{{Key: "y", Value: 1}}}, {Key: "skip", Value: 1}, {Key: "limit", Value: 3}, {Key: "$db", Value: "test"}},
		{{Key: "aggregate", Value: "h"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$y"},
			{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}},
		{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: "h"},
			{Key: "as", Value: "j"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$unionWith", Value: "h"}}}}}}}}},
			{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}},
		{{Key: "create", Value: "v"}, {Key: "viewOn", Value: "h"}, {Key: "pipeline", Value: bson.A{}}, {Key: "$db", Value: "test"}},
		{{Key: "insert", Value: "h"}, {Key: "documents", Value: bson.A{bson.D{{Key: "x", Value: 1}}, bson.D{{Key: "x", Value: "a"}}}},
			{Key: "ordered", Value: false}, {Key: "$db", Value: "test"}},
	} {
		f.Add([]byte(marshalBench(f, seed)))
	}
	addr, log := trustCluster(f, trustModes[0])
	// One connection for as long as the router keeps it: dialBench would close it with the
	// first input's test.
	var cl *benchClient
	f.Cleanup(func() {
		if cl != nil {
			_ = cl.nc.Close()
		}
	})
	f.Fuzz(func(t *testing.T, body []byte) {
		if cl == nil {
			nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			cl = &benchClient{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
		}
		frame := wire.AppendMsg(nil, 1, 0, 0, body)
		sent := log.count()
		reply, err := cl.roundTrip(frame)
		defer log.checkNoInternalFields(t, sent)
		if err != nil {
			_ = cl.nc.Close()
			cl = nil
			// Only a frame mongod would refuse by hanging up may be answered so.
			if _, perr := wire.ParseMsg(frame); perr == nil || !wire.ClosesConnection(perr) {
				t.Fatalf("connection lost (%v) on a frame mongod answers: %q", err, body)
			}
			return
		}
		m, err := wire.ParseMsg(reply)
		if err != nil {
			t.Fatalf("malformed reply: %v", err)
		}
		if _, err := m.Body.LookupErr("ok"); err != nil {
			t.Fatalf("reply without ok: %v", m.Body)
		}
	})
}

// checkNoInternalFields fails t if a command received after the first `from` carries, at its
// top level, a field the router drops or impersonation metadata (the router runs without
// --auth): whatever a client sent, only the router's own generic arguments reach a shard.
func (l *commandLog) checkNoInternalFields(t *testing.T, from int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.got[from:] {
		elems, _ := r.Body.Elements()
		for _, el := range elems {
			key := el.Key()
			if command.DispositionOf([]byte(key)) == command.Drop || key == "$audit" {
				t.Fatalf("%s reached the shard: %v", key, r.Body)
			}
		}
	}
}
