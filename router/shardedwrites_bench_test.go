//go:build linux

package router

import (
	"testing"

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
