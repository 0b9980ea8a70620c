package router

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func answer(t *testing.T, name string, reply bson.D) shardAnswer {
	t.Helper()
	return shardAnswer{name: name, conn: name + "/h:1", body: mustMarshal(t, reply)}
}

// TestMergeDBStatsThreeShards: the sums and the object-weighted average over any number of
// shards; freeStorage's fields only when asked; a shard's cluster time stays out of raw.
func TestMergeDBStatsThreeShards(t *testing.T) {
	shard := func(name string, objects int64, avg float64) shardAnswer {
		return answer(t, name, bson.D{{Key: "db", Value: "d"}, {Key: "collections", Value: int64(1)}, {Key: "views", Value: int64(0)},
			{Key: "objects", Value: objects}, {Key: "avgObjSize", Value: avg}, {Key: "dataSize", Value: float64(objects) * avg},
			{Key: "storageSize", Value: 10.0}, {Key: "freeStorageSize", Value: 1.0}, {Key: "indexes", Value: int64(2)}, {Key: "indexSize", Value: 4.0},
			{Key: "totalSize", Value: 14.0}, {Key: "scaleFactor", Value: int64(1)}, {Key: "fsUsedSize", Value: 100.0}, {Key: "fsTotalSize", Value: 1000.0},
			{Key: "ok", Value: 1.0}, {Key: "$clusterTime", Value: bson.D{{Key: "clusterTime", Value: bson.Timestamp{T: 1}}}}})
	}
	answers := []shardAnswer{shard("a", 2, 10), shard("b", 6, 30), shard("c", 0, 0)}
	for _, free := range []bool{false, true} {
		got, err := mergeDBStats("d", 1, free, answers)
		if err != nil {
			t.Fatal(err)
		}
		doc := bson.Raw(got)
		want := map[string]float64{"collections": 3, "objects": 8, "avgObjSize": 25, "dataSize": 200, "storageSize": 30,
			"indexes": 6, "indexSize": 12, "totalSize": 42, "fsUsedSize": 300, "fsTotalSize": 3000}
		for k, v := range want {
			if f, ok := doc.Lookup(k).AsFloat64OK(); !ok || f != v {
				if n, ok := doc.Lookup(k).AsInt64OK(); !ok || float64(n) != v {
					t.Errorf("freeStorage %v: %s = %v, want %v", free, k, doc.Lookup(k), v)
				}
			}
		}
		if _, err := doc.LookupErr("freeStorageSize"); (err == nil) != free {
			t.Errorf("freeStorage %v: %v", free, doc)
		}
		if doc.Lookup("collections").Type != bson.TypeInt32 {
			t.Errorf("collections is %v, want an int as mongos's appendNumber", doc.Lookup("collections").Type)
		}
		raw, _ := doc.Lookup("raw").DocumentOK()
		if elems, _ := raw.Elements(); len(elems) != 3 || strings.Contains(raw.String(), "clusterTime") {
			t.Errorf("raw %v: want each shard's reply without its cluster time", raw)
		}
	}
}

// TestMergeDBStatsShardError: a shard's error fails dbStats with OperationFailed and its message;
// raw has both the shard that answered and the one that failed.
func TestMergeDBStatsShardError(t *testing.T) {
	ok := answer(t, "a", bson.D{{Key: "objects", Value: int64(1)}, {Key: "ok", Value: 1.0}})
	failed := shardAnswer{name: "b", conn: "b/h:2", err: mongoerr.New(mongoerr.HostUnreachable, "b is down")}
	_, err := mergeDBStats("d", 1, false, []shardAnswer{failed, ok})
	e := mongoerr.As(err)
	if e.Code != mongoerr.OperationFailed || e.Msg != "b is down" {
		t.Fatalf("error %v, want OperationFailed with the shard's message", err)
	}
	raw, _ := bsoncore.Document(e.Extra).Lookup("raw").DocumentOK()
	if code, _ := raw.Lookup("b/h:2", "code").AsInt64OK(); code != int64(mongoerr.HostUnreachable) || raw.Lookup("a/h:1", "objects").Type == 0 {
		t.Fatalf("raw %v: want the failed shard's error and the other's reply", raw)
	}
}

// TestMergeCollStatsFields: the fields mongos copies from the first shard, the warning when the
// shards' index counts differ (the largest counts), and sizes summed before the scale divides
// them, per index too.
func TestMergeCollStatsFields(t *testing.T) {
	shard := func(name string, capped bool, nindexes int32, size, idIndex int64) shardAnswer {
		return answer(t, name, bson.D{{Key: "ns", Value: "d.c"}, {Key: "size", Value: size}, {Key: "count", Value: int32(3)},
			{Key: "avgObjSize", Value: int32(size / 3)}, {Key: "storageSize", Value: size}, {Key: "capped", Value: capped},
			{Key: "nindexes", Value: nindexes}, {Key: "totalIndexSize", Value: idIndex}, {Key: "indexSizes", Value: bson.D{{Key: "_id_", Value: idIndex}}},
			{Key: "totalSize", Value: size + idIndex}, {Key: "scaleFactor", Value: int32(1)}, {Key: "ok", Value: 1.0}})
	}
	got := bson.Raw(mergeCollStats(collInfo{ns: "d.c", sharded: true, chunks: 4}, 2,
		[]shardAnswer{shard("a", false, 1, 31, 7), shard("b", true, 2, 33, 9)}))
	checks := []struct {
		key  string
		want any
	}{{"capped", false}, {"size", int32(32)}, {"storageSize", int32(32)}, {"totalIndexSize", int32(8)}, {"totalSize", int32(40)},
		{"count", int32(6)}, {"nindexes", int32(2)}, {"nchunks", int32(4)}, {"scaleFactor", int32(2)},
		{"warning", "indexes don't all match - ok if ensureIndex is running"}}
	for _, c := range checks {
		var v any
		switch raw := got.Lookup(c.key); raw.Type {
		case bson.TypeBoolean:
			v = raw.Boolean()
		case bson.TypeInt32:
			v = raw.Int32()
		case bson.TypeString:
			v = raw.StringValue()
		}
		if v != c.want {
			t.Errorf("%s = %v, want %v in %v", c.key, got.Lookup(c.key), c.want, got)
		}
	}
	if v := got.Lookup("indexSizes", "_id_").Int32(); v != 8 {
		t.Errorf("indexSizes._id_ = %d, want (7+9)/2", v)
	}
	if v := got.Lookup("avgObjSize").Double(); v != 10.5 {
		t.Errorf("avgObjSize %v, want (10*3+11*3)/6", v)
	}
	if v := got.Lookup("shards", "b", "size").Int32(); v != 16 {
		t.Errorf("shards.b.size %d, want 33/2", v)
	}
	if _, err := got.LookupErr("primary"); err == nil {
		t.Errorf("a sharded collection names no primary: %v", got)
	}
}
