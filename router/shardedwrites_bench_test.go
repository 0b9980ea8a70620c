//go:build linux

package router

import (
	"fmt"
	"testing"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// BenchmarkInsertMany1000 is insertMany of 1,000 documents through the router over 4 in-process
// shards (BENCHMARKS.md): into an unsharded collection (one round trip to the primary shard)
// and into one sharded on {k: "hashed"}, ordered (as insertMany sends it: runs of consecutive
// documents for one shard, one after another, as mongos sends them) and unordered (each shard's
// documents at once). The documents carry no _id, so one request serves every iteration.
func BenchmarkInsertMany1000(b *testing.B) {
	c := startBenchCluster(b, 4, 1, nil)
	client := dialBench(b, c.srv.Addr())
	for _, coll := range []string{"sharded", "sharded_unordered"} {
		client.run(b, marshalBench(b, bson.D{{Key: "shardCollection", Value: "ins." + coll},
			{Key: "key", Value: bson.D{{Key: "k", Value: "hashed"}}}, {Key: "$db", Value: "admin"}}))
	}
	docs := bson.A{}
	for i := range benchDocs {
		docs = append(docs, bson.D{{Key: "k", Value: i}, {Key: "name", Value: "somebody"}, {Key: "n", Value: i * 7}})
	}
	for _, tc := range []struct {
		name, coll string
		ordered    bool
	}{
		{"unsharded", "plain", true},
		{"sharded-4-ordered", "sharded", true},
		{"sharded-4-unordered", "sharded_unordered", false},
	} {
		frame := wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, bson.D{{Key: "insert", Value: tc.coll},
			{Key: "documents", Value: docs}, {Key: "ordered", Value: tc.ordered}, {Key: "$db", Value: "ins"}}))
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				reply, err := client.roundTrip(frame)
				if err != nil {
					b.Fatal(err)
				}
				if n, _ := checkOK(b, reply).Lookup("n").AsInt64OK(); n != benchDocs {
					b.Fatalf("inserted %d of %d", n, benchDocs)
				}
			}
			b.ReportMetric(float64(benchDocs)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}

// BenchmarkDropDatabaseRouters is the price of the routers' agreement on a metadata change
// (docs/architecture.md, "Routers agree"): dropDatabase, which takes the database's critical
// section and waits until every live router has acknowledged it, with this router alone and with
// a second one polling the routing state every 100 ms (the default), over 2 in-process shards.
func BenchmarkDropDatabaseRouters(b *testing.B) {
	for _, routers := range []int{1, 2} {
		b.Run(fmt.Sprintf("routers=%d", routers), func(b *testing.B) {
			c := startBenchCluster(b, 2, 1, nil)
			if routers == 2 {
				second := serveRouter(b, Config{Logger: zerolog.Nop()}, c.shards...)
				// The first router waits for the second's first lease in config.mongos.
				dialBench(b, second.Addr()).run(b, marshalBench(b, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
			}
			client := dialBench(b, c.srv.Addr())
			insert := marshalBench(b, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "$db", Value: "ddl"}})
			drop := wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, bson.D{{Key: "dropDatabase", Value: 1}, {Key: "$db", Value: "ddl"}}))
			for b.Loop() {
				b.StopTimer()
				client.run(b, insert)
				b.StartTimer()
				reply, err := client.roundTrip(drop)
				if err != nil {
					b.Fatal(err)
				}
				checkOK(b, reply)
			}
		})
	}
}
