package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkFindByID is one find on _id over a real connection: the path the router's
// benchmark exercises most.
func BenchmarkFindByID(b *testing.B) {
	rs, err := StartReplicaSet("bench", 1)
	if err != nil {
		b.Fatal(err)
	}
	defer rs.Close()
	c := dialRaw(b, rs.Hosts()[0])
	docs := bson.A{}
	for i := 0; i < 1000; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "name", Value: "somebody"}, {Key: "n", Value: i * 7}})
	}
	mustOK(b, c.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "bench"}}))
	lsid := lsidDoc(newLSID())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		reply := c.run(bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: i % 1000}}},
			{Key: "limit", Value: 1}, {Key: "singleBatch", Value: true}, {Key: "lsid", Value: lsid}, {Key: "$db", Value: "bench"}})
		if len(reply) < 100 {
			b.Fatalf("reply %s", reply)
		}
	}
}
