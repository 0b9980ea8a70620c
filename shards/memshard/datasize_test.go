package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestDataSize: dataSize measures the whole collection, or the documents whose key is in
// [min, max) (a descending key reversing the order), counts each document at the average with
// estimate, stops at maxObjects, and answers zeros for a missing collection.
func TestDataSize(t *testing.T) {
	rs := startSet(t, 1)
	cl := connect(t, rs.URI())
	f := loadStats(t, cl) // test.c: _id 1, 2, 3
	run := func(cmd bson.D) bson.Raw {
		t.Helper()
		reply, err := runOn(ctxT(t), t, cl, "admin", cmd)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	number := func(reply bson.Raw, key string) int64 {
		n, ok := reply.Lookup(key).AsInt64OK()
		if !ok {
			t.Fatalf("%v: %s is not a number", reply, key)
		}
		return n
	}
	whole := run(bson.D{{Key: "dataSize", Value: "test.c"}})
	if number(whole, "size") != f.data || number(whole, "numObjects") != 3 {
		t.Fatalf("whole collection: %v, want %d bytes in 3 objects", whole, f.data)
	}
	byID := func(dir int32, min, max int32, extra ...bson.E) bson.Raw {
		return run(append(bson.D{{Key: "dataSize", Value: "test.c"}, {Key: "keyPattern", Value: bson.D{{Key: "_id", Value: dir}}},
			{Key: "min", Value: bson.D{{Key: "_id", Value: min}}}, {Key: "max", Value: bson.D{{Key: "_id", Value: max}}}}, extra...))
	}
	if got := byID(1, 2, 4); number(got, "numObjects") != 2 {
		t.Fatalf("[2, 4): %v", got)
	}
	if got := byID(-1, 3, 1); number(got, "numObjects") != 2 {
		t.Fatalf("descending [3, 1): %v", got)
	}
	est := byID(1, 1, 4, bson.E{Key: "estimate", Value: true})
	if number(est, "size") != 3*(f.data/3) {
		t.Fatalf("estimate: %v, want 3 objects at the average size", est)
	}
	capped := byID(1, 1, 4, bson.E{Key: "maxObjects", Value: 1})
	if reached, _ := capped.Lookup("maxReached").BooleanOK(); !reached || number(capped, "numObjects") != 2 {
		t.Fatalf("maxObjects 1: %v, want maxReached after the second", capped)
	}
	if got := run(bson.D{{Key: "dataSize", Value: "test.missing"}}); number(got, "size") != 0 || number(got, "numObjects") != 0 {
		t.Fatalf("missing collection: %v", got)
	}
	runErrorCases(t, cl, []errorCase{
		{"not a string", "admin", bson.D{{Key: "dataSize", Value: 1}}, int32(mongoerr.BadValue), "collection name has invalid type int"},
		{"no collection", "admin", bson.D{{Key: "dataSize", Value: "test"}}, int32(mongoerr.InvalidNamespace), "Invalid namespace specified 'test'"},
		{"min alone", "admin", bson.D{{Key: "dataSize", Value: "test.c"}, {Key: "min", Value: bson.D{}}}, int32(mongoerr.BadValue), "max must be set if min is set"},
		{"max alone", "admin", bson.D{{Key: "dataSize", Value: "test.c"}, {Key: "max", Value: bson.D{}}}, int32(mongoerr.BadValue), "min must be set if max is set"},
		{"min not an object", "admin", bson.D{{Key: "dataSize", Value: "test.c"}, {Key: "min", Value: 1}, {Key: "max", Value: bson.D{}}},
			int32(mongoerr.BadValue), "min key must be an object"},
	})
}
