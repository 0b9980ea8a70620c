package router

import (
	"bufio"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// FuzzCommand sends arbitrary command bodies, as whole OP_MSG frames, to a router in front of a
// memshard set: every one is answered as fuzzConn.send requires. And whatever it forwards, no
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
	fc := newFuzzConn(f, addr)
	f.Fuzz(func(t *testing.T, body []byte) {
		sent := log.count()
		defer log.checkNoInternalFields(t, sent)
		fc.send(t, body)
	})
}

// fuzzConn is a fuzz target's one connection to a router, kept for as long as the router keeps
// it (dialBench would close it with the first input's test).
type fuzzConn struct {
	addr string
	cl   *benchClient
}

func newFuzzConn(f *testing.F, addr string) *fuzzConn {
	fc := &fuzzConn{addr: addr}
	f.Cleanup(func() {
		if fc.cl != nil {
			_ = fc.cl.nc.Close()
		}
	})
	return fc
}

// send sends body as a whole OP_MSG frame: the router must answer with a well-formed reply
// carrying ok, or close the connection only where mongod would; it must never panic or hang (a
// hang fails the client's 30 s deadline).
func (fc *fuzzConn) send(t *testing.T, body []byte) {
	if fc.cl == nil {
		nc, err := net.DialTimeout("tcp", fc.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		fc.cl = &benchClient{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
	}
	frame := wire.AppendMsg(nil, 1, 0, 0, body)
	reply, err := fc.cl.roundTrip(frame)
	if err != nil {
		_ = fc.cl.nc.Close()
		fc.cl = nil
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

// FuzzShardedCommand sends arbitrary command bodies to a router in front of three memshard sets
// with a collection sharded over them (bench.h on {x: "hashed"}), so that targeting, merged
// cursors, the split pipeline, merged counts and explain meet hostile input: every one is
// answered as fuzzConn.send requires, and no internal field reaches a shard, as FuzzCommand.
func FuzzShardedCommand(f *testing.F) {
	for _, seed := range []bson.D{
		{{Key: "find", Value: "h"}, {Key: "filter", Value: bson.D{{Key: "v", Value: bson.D{{Key: "$gte", Value: 10}}}}},
			{Key: "sort", Value: bson.D{{Key: "v", Value: -1}, {Key: "x", Value: 1}}}, {Key: "skip", Value: 2}, {Key: "limit", Value: 5},
			{Key: "batchSize", Value: 2}, {Key: "projection", Value: bson.D{{Key: "v", Value: 1}}}, {Key: "$db", Value: "bench"}},
		{{Key: "find", Value: "h"}, {Key: "filter", Value: bson.D{{Key: "$and", Value: bson.A{bson.D{{Key: "x", Value: bson.D{{Key: "$in", Value: bson.A{1, 2, "a"}}}}}}}}},
			{Key: "collation", Value: bson.D{{Key: "locale", Value: "en"}, {Key: "strength", Value: 2}}}, {Key: "$db", Value: "bench"}},
		{{Key: "aggregate", Value: "h"}, {Key: "pipeline", Value: bson.A{
			bson.D{{Key: "$match", Value: bson.D{{Key: "v", Value: bson.D{{Key: "$lt", Value: 100}}}}}},
			bson.D{{Key: "$group", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$mod", Value: bson.A{"$v", 7}}}},
				{Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}, {Key: "a", Value: bson.D{{Key: "$avg", Value: "$v"}}},
				{Key: "s", Value: bson.D{{Key: "$addToSet", Value: "$name"}}}, {Key: "f", Value: bson.D{{Key: "$first", Value: "$x"}}}}}},
			bson.D{{Key: "$sort", Value: bson.D{{Key: "n", Value: -1}}}}, bson.D{{Key: "$skip", Value: 1}}, bson.D{{Key: "$limit", Value: 3}},
			bson.D{{Key: "$unwind", Value: "$s"}}, bson.D{{Key: "$sortByCount", Value: "$s"}}}},
			{Key: "cursor", Value: bson.D{{Key: "batchSize", Value: 1}}}, {Key: "$db", Value: "bench"}},
		{{Key: "aggregate", Value: "h"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$count", Value: "n"}}}}, {Key: "explain", Value: true}, {Key: "$db", Value: "bench"}},
		{{Key: "count", Value: "h"}, {Key: "query", Value: bson.D{{Key: "x", Value: bson.D{{Key: "$gt", Value: 5}}}}}, {Key: "skip", Value: 3},
			{Key: "limit", Value: -4}, {Key: "$db", Value: "bench"}},
		{{Key: "distinct", Value: "h"}, {Key: "key", Value: "name"}, {Key: "query", Value: bson.D{}}, {Key: "$db", Value: "bench"}},
		{{Key: "explain", Value: bson.D{{Key: "find", Value: "h"}, {Key: "filter", Value: bson.D{{Key: "x", Value: 3}}}, {Key: "sort", Value: bson.D{{Key: "v", Value: 1}}}}},
			{Key: "verbosity", Value: "executionStats"}, {Key: "$db", Value: "bench"}},
		{{Key: "update", Value: "h"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "x", Value: 1}}},
			{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "w", Value: 1}}}}}}}}, {Key: "$db", Value: "bench"}},
		{{Key: "insert", Value: "h"}, {Key: "documents", Value: bson.A{bson.D{{Key: "x", Value: 1}}, bson.D{{Key: "x", Value: 2}}, bson.D{{Key: "x", Value: 3}}}},
			{Key: "shardVersion", Value: bson.A{bson.Timestamp{T: 1}}}, {Key: "$configTime", Value: bson.Timestamp{T: 1}},
			{Key: "$audit", Value: bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "root"}, {Key: "db", Value: "admin"}}}}},
			{Key: "ordered", Value: "yes"}, {Key: "$db", Value: "bench"}},
		{{Key: "delete", Value: "h"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "v", Value: -1}}}, {Key: "limit", Value: 0}}}},
			{Key: "$db", Value: "bench"}},
		{{Key: "aggregate", Value: "u"}, {Key: "pipeline", Value: bson.A{bson.D{}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "bench"}},
		{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{{Key: "allChangesForCluster", Value: true}}}}}},
			{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}},
	} {
		f.Add([]byte(marshalBench(f, seed)))
	}
	log := &commandLog{}
	c := startBenchCluster(f, 3, 1, nil, memshard.WithCommandLog(log.add))
	shardThroughRouter(f, c)
	fc := newFuzzConn(f, c.srv.Addr())
	f.Fuzz(func(t *testing.T, body []byte) {
		sent := log.count()
		defer log.checkNoInternalFields(t, sent)
		fc.send(t, body)
	})
}
