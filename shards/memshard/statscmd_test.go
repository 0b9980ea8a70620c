package memshard

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// statsFixture is test.c with three documents and an index on x, and test.d with one document;
// the sizes are worked out here from the rule stats.go states.
type statsFixture struct {
	data, idIndex, xIndex int64 // test.c
	dData, dIndex         int64 // test.d
}

func loadStats(t *testing.T, cl *mongo.Client) statsFixture {
	t.Helper()
	ctx := ctxT(t)
	docs := []bson.D{
		{{Key: "_id", Value: int32(1)}, {Key: "x", Value: "abc"}},
		{{Key: "_id", Value: int32(2)}, {Key: "x", Value: "defgh"}, {Key: "y", Value: 1.5}},
		{{Key: "_id", Value: int32(3)}},
	}
	var f statsFixture
	for _, d := range docs {
		raw, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		f.data += int64(len(raw))
		f.idIndex += 5 + 2 + 4 // {"": <int32>}
		f.xIndex += 5 + 2      // {"": <x>}, null when missing
		if x, ok := bson.Raw(raw).Lookup("x").StringValueOK(); ok {
			f.xIndex += int64(4 + len(x) + 1)
		}
		if _, err := cl.Database("test").Collection("c").InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.Database("test").Collection("c").Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}}); err != nil {
		t.Fatal(err)
	}
	d := bson.D{{Key: "_id", Value: "a"}}
	raw, _ := bson.Marshal(d)
	f.dData, f.dIndex = int64(len(raw)), 5+2+4+2 // {"": "a"}
	if _, err := cl.Database("test").Collection("d").InsertOne(ctx, d); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCollStats(t *testing.T) {
	rs := startSet(t, 1)
	cl := connect(t, rs.URI())
	f := loadStats(t, cl)
	run := func(t *testing.T, cmd bson.D) bson.Raw {
		t.Helper()
		reply, err := runOn(ctxT(t), t, cl, "test", cmd)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	wantInts := func(t *testing.T, reply bson.Raw, want map[string]int64) {
		t.Helper()
		for k, w := range want {
			v := reply.Lookup(k)
			if v.Type != bson.TypeInt32 || int64(v.Int32()) != w {
				t.Errorf("%s = %s, want int %d", k, v, w)
			}
		}
	}
	t.Run("a collection", func(t *testing.T) {
		reply := run(t, bson.D{{Key: "collStats", Value: "c"}})
		want := []string{"ns", "size", "count", "avgObjSize", "numOrphanDocs", "storageSize", "freeStorageSize", "capped",
			"nindexes", "indexDetails", "indexBuilds", "totalIndexSize", "indexSizes", "totalSize", "scaleFactor", "ok"}
		if got := keys(reply); !slices.Equal(got[:len(want)], want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
		wantInts(t, reply, map[string]int64{"size": f.data, "count": 3, "avgObjSize": f.data / 3, "storageSize": f.data,
			"nindexes": 2, "totalIndexSize": f.idIndex + f.xIndex, "totalSize": f.data + f.idIndex + f.xIndex, "scaleFactor": 1})
		wantInts(t, reply.Lookup("indexSizes").Document(), map[string]int64{"_id_": f.idIndex, "x_1": f.xIndex})
		if reply.Lookup("ns").StringValue() != "test.c" || reply.Lookup("capped").Boolean() {
			t.Fatalf("collStats %s", reply)
		}
	})
	t.Run("scaled by an integer", func(t *testing.T) {
		reply := run(t, bson.D{{Key: "collStats", Value: "c"}, {Key: "scale", Value: 10.9}})
		wantInts(t, reply, map[string]int64{"size": f.data / 10, "avgObjSize": f.data / 3, "storageSize": f.data / 10,
			"totalIndexSize": (f.idIndex + f.xIndex) / 10, "totalSize": (f.data + f.idIndex + f.xIndex) / 10, "scaleFactor": 10})
		wantInts(t, reply.Lookup("indexSizes").Document(), map[string]int64{"_id_": f.idIndex / 10, "x_1": f.xIndex / 10})
	})
	t.Run("a collection that does not exist", func(t *testing.T) {
		reply := run(t, bson.D{{Key: "collStats", Value: "nope"}, {Key: "scale", Value: 4}})
		want := []string{"ns", "size", "count", "numOrphanDocs", "storageSize", "totalSize", "nindexes", "totalIndexSize",
			"indexDetails", "indexSizes", "scaleFactor", "ok"}
		if got := keys(reply); !slices.Equal(got[:len(want)], want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
		wantInts(t, reply, map[string]int64{"size": 0, "count": 0, "nindexes": 0, "totalSize": 0, "scaleFactor": 4})
	})
	t.Run("uncommitted writes are not counted", func(t *testing.T) {
		ctx := ctxT(t)
		sess, err := cl.StartSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.EndSession(ctx)
		if err := sess.StartTransaction(); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.Database("test").Collection("c").InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: int32(9)}}); err != nil {
			t.Fatal(err)
		}
		wantInts(t, run(t, bson.D{{Key: "collStats", Value: "c"}}), map[string]int64{"count": 3, "size": f.data})
		if err := sess.AbortTransaction(ctx); err != nil {
			t.Fatal(err)
		}
	})
	runErrorCases(t, cl, []errorCase{
		{"scale 0", "test", bson.D{{Key: "collStats", Value: "c"}, {Key: "scale", Value: 0}}, 51024, "BSON field 'scale' value must be >= 1, actual value '0'"},
		{"scale below 1 after truncation", "test", bson.D{{Key: "collStats", Value: "c"}, {Key: "scale", Value: 0.5}}, 51024,
			"BSON field 'scale' value must be >= 1, actual value '0'"},
		{"scale a string", "test", bson.D{{Key: "collStats", Value: "c"}, {Key: "scale", Value: "1"}}, 14,
			"BSON field 'collStats.scale' is the wrong type 'string', expected types '[long, int, decimal, double]'"},
		{"verbose not a boolean", "test", bson.D{{Key: "collStats", Value: "c"}, {Key: "verbose", Value: 1}}, 14,
			"Field 'verbose' should be a boolean value, but found: int"},
		{"no collection", "test", bson.D{{Key: "collStats", Value: 1}}, 73, "collection name has invalid type int"},
		{"empty collection name", "test", bson.D{{Key: "collStats", Value: ""}}, 73, "Invalid namespace specified 'test.'"},
	})
}

func TestDBStats(t *testing.T) {
	rs := startSet(t, 2)
	cl := connect(t, rs.URI())
	f := loadStats(t, cl)
	data, index := f.data+f.dData, f.idIndex+f.xIndex+f.dIndex
	run := func(t *testing.T, db string, cmd bson.D) bson.Raw {
		t.Helper()
		reply, err := runOn(ctxT(t), t, cl, db, cmd)
		if err != nil {
			t.Fatal(err)
		}
		return reply
	}
	wantNumbers := func(t *testing.T, reply bson.Raw, longs map[string]int64, doubles map[string]float64) {
		t.Helper()
		for k, w := range longs {
			if v := reply.Lookup(k); v.Type != bson.TypeInt64 || v.Int64() != w {
				t.Errorf("%s = %s, want long %d", k, v, w)
			}
		}
		for k, w := range doubles {
			if v := reply.Lookup(k); v.Type != bson.TypeDouble || v.Double() != w {
				t.Errorf("%s = %s, want double %v", k, v, w)
			}
		}
	}
	t.Run("a database", func(t *testing.T) {
		reply := run(t, "test", bson.D{{Key: "dbStats", Value: 1}})
		want := []string{"db", "collections", "views", "objects", "avgObjSize", "dataSize", "storageSize", "indexes",
			"indexSize", "totalSize", "scaleFactor", "fsUsedSize", "fsTotalSize", "ok"}
		if got := keys(reply); !slices.Equal(got[:len(want)], want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
		wantNumbers(t, reply, map[string]int64{"collections": 2, "views": 0, "objects": 4, "indexes": 3, "scaleFactor": 1},
			map[string]float64{"avgObjSize": float64(data) / 4, "dataSize": float64(data), "storageSize": float64(data),
				"indexSize": float64(index), "totalSize": float64(data + index), "fsUsedSize": float64(data + index), "fsTotalSize": volumeSize})
	})
	t.Run("scaled, fractions kept, the scale truncated", func(t *testing.T) {
		reply := run(t, "test", bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: 1024.9}})
		wantNumbers(t, reply, map[string]int64{"scaleFactor": 1024},
			map[string]float64{"avgObjSize": float64(data) / 4, "dataSize": float64(data) / 1024, "totalSize": float64(data+index) / 1024,
				"fsTotalSize": volumeSize / 1024})
	})
	t.Run("freeStorage", func(t *testing.T) {
		reply := run(t, "test", bson.D{{Key: "dbStats", Value: 1}, {Key: "freeStorage", Value: 1}})
		want := []string{"db", "collections", "views", "objects", "avgObjSize", "dataSize", "storageSize", "freeStorageSize",
			"indexes", "indexSize", "indexFreeStorageSize", "totalSize", "totalFreeStorageSize", "scaleFactor"}
		if got := keys(reply); !slices.Equal(got[:len(want)], want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
	})
	t.Run("a database that does not exist", func(t *testing.T) {
		reply := run(t, "nope", bson.D{{Key: "dbStats", Value: 1}})
		wantNumbers(t, reply, map[string]int64{"collections": 0, "objects": 0, "indexes": 0, "scaleFactor": 1},
			map[string]float64{"dataSize": 0, "totalSize": 0, "fsUsedSize": 0, "fsTotalSize": 0})
	})
	t.Run("on a secondary, without secondaryOk", func(t *testing.T) {
		c := dialRaw(t, rs.Member(1).host)
		reply := mustOK(t, c.run(bson.D{{Key: "dbStats", Value: 1}, {Key: "$db", Value: "test"}}))
		wantNumbers(t, reply, map[string]int64{"objects": 4}, nil)
		reply = mustOK(t, c.run(bson.D{{Key: "collStats", Value: "d"}, {Key: "$db", Value: "test"}}))
		if reply.Lookup("count").Int32() != 1 {
			t.Fatalf("collStats on the secondary: %s", reply)
		}
	})
	scaled := func(scale any) bson.D { return bson.D{{Key: "dbStats", Value: 1}, {Key: "scale", Value: scale}} }
	runErrorCases(t, cl, []errorCase{
		{"scale 0", "test", scaled(0), 2, "Scale factor must be greater than zero"},
		{"scale negative", "test", scaled(int64(-1024)), 2, "Scale factor must be greater than zero"},
		{"scale a fraction below 1", "test", scaled(0.9), 2, "Scale factor must be greater than zero"},
		{"scale a string", "test", scaled("1"), 14, "BSON field 'dbStats.scale' is the wrong type 'string', expected types '[long, int, decimal, double]'"},
	})
	t.Run("not in a transaction", func(t *testing.T) {
		c := dialRaw(t, rs.Member(0).host)
		wantCode(t, c.run(bson.D{{Key: "dbStats", Value: 1}, {Key: "lsid", Value: lsidDoc(newLSID())}, {Key: "txnNumber", Value: int64(1)},
			{Key: "startTransaction", Value: true}, {Key: "autocommit", Value: false}, {Key: "$db", Value: "test"}}),
			mongoerr.OperationNotSupportedInTransaction, "Cannot run 'dbStats' in a multi-document transaction.")
	})
}
