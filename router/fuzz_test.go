package router

import (
	"bufio"
	"net"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// FuzzCommand sends arbitrary command bodies, as whole OP_MSG frames, to a router in front of a
// memshard set. Whatever the body, the router must answer with a well-formed reply carrying
// ok (an error reply for bad input), closing the connection only where mongod would; it must
// never panic or hang (a hang fails the client's 30 s deadline).
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
	} {
		f.Add([]byte(marshalBench(f, seed)))
	}
	c := startBenchCluster(f, 1, 1, nil)
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
			nc, err := net.DialTimeout("tcp", c.srv.Addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			cl = &benchClient{nc: nc, br: bufio.NewReaderSize(nc, 16<<10)}
		}
		frame := wire.AppendMsg(nil, 1, 0, 0, body)
		reply, err := cl.roundTrip(frame)
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
