package router

import (
	"net"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// BenchmarkTransactionStatement is a find by _id on one shard, outside a session and as a later
// statement of a transaction that shard runs: the difference is what a transaction statement
// costs, in the router (enlisting, the recovery token) and in memshard (the session checkout),
// which runs in the same process.
func BenchmarkTransactionStatement(b *testing.B) {
	c := startBenchCluster(b, 1, 1, nil)
	server, client := net.Pipe()
	defer server.Close()
	defer client.Close()
	conn := c.srv.newConn(server)
	run := func(body bson.D) {
		b.Helper()
		reply, err := conn.handle(wire.AppendMsg(nil, 1, 0, wiremessage.MsgFlag(0), marshalBench(b, body)))
		if err != nil || len(reply) == 0 {
			b.Fatalf("handle: %v", err)
		}
	}
	run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}, {Key: "$db", Value: "bench"}})
	lsid := sessionid.NewID(sessionid.NoAuthUID)
	session := bson.D{{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: lsid.ID[:]}}}},
		{Key: "txnNumber", Value: int64(1)}, {Key: "autocommit", Value: false}}
	find := bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "$db", Value: "bench"}}
	run(append(append(append(bson.D{}, find...), session...), bson.E{Key: "startTransaction", Value: true}))
	b.Run("outside", func(b *testing.B) { benchHandle(b, conn, marshalBench(b, find)) })
	b.Run("in transaction", func(b *testing.B) {
		benchHandle(b, conn, marshalBench(b, append(append(bson.D{}, find...), session...)))
	})
}
