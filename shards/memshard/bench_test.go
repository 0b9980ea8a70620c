package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkFindByID is one find on _id over a real connection: the path the router's
// benchmark exercises most.
func BenchmarkFindByID(b *testing.B) {
	c := benchMember(b)
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

// BenchmarkInsert is one single-document insert over a real connection into a collection that
// grows, with a secondary index besides _id (what every write now maintains).
func BenchmarkInsert(b *testing.B) {
	c := benchMember(b)
	mustOK(b, c.run(bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "n", Value: 1}}}, {Key: "name", Value: "n_1"}}}}, {Key: "$db", Value: "bench"}}))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		reply := c.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i * 7}}}}, {Key: "$db", Value: "bench"}})
		if len(reply) < 50 {
			b.Fatalf("reply %s", reply)
		}
	}
}

// BenchmarkFindByIndex is one equality find on a secondary index among 10,000 documents,
// against the same find without the index (a collection scan).
func BenchmarkFindByIndex(b *testing.B) {
	for _, indexed := range []bool{true, false} {
		name := map[bool]string{true: "index", false: "collscan"}[indexed]
		b.Run(name, func(b *testing.B) {
			c := benchMember(b)
			docs := bson.A{}
			for i := 0; i < 10000; i++ {
				docs = append(docs, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i * 7}})
			}
			mustOK(b, c.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "bench"}}))
			if indexed {
				mustOK(b, c.run(bson.D{{Key: "createIndexes", Value: "c"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "n", Value: 1}}}, {Key: "name", Value: "n_1"}}}}, {Key: "$db", Value: "bench"}}))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				reply := c.run(bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "n", Value: (i % 10000) * 7}}}, {Key: "$db", Value: "bench"}})
				if _, err := reply.LookupErr("cursor", "firstBatch", "0"); err != nil {
					b.Fatalf("reply %s", reply)
				}
			}
		})
	}
}

// benchMember starts a one-member set for a benchmark and dials it; both close with b.
func benchMember(b *testing.B) *rawClient {
	rs, err := StartReplicaSet("bench", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rs.Close() })
	return dialRaw(b, rs.Hosts()[0])
}
