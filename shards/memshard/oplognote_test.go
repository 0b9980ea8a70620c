package memshard

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestAppendOplogNote: a note moves an idle stream's postBatchResumeToken to its time without
// an event; maxClusterTime writes it only when the last write is older; bad input gets
// mongod's errors.
func TestAppendOplogNote(t *testing.T) {
	rs := startSet(t, 2)
	primary := dialRaw(t, rs.Member(0).host)
	mustOK(t, primary.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}, {Key: "$db", Value: "app"}}))
	opened := mustOK(t, primary.run(bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "app"}}))
	id := opened.Lookup("cursor", "id").Int64()
	before := opened.Lookup("cursor", "postBatchResumeToken", "_data").StringValue()
	getMore := bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "$cmd.aggregate"}, {Key: "maxTimeMS", Value: 1}, {Key: "$db", Value: "app"}}
	if got := mustOK(t, primary.run(getMore)).Lookup("cursor", "postBatchResumeToken", "_data").StringValue(); got != before {
		t.Fatalf("an idle stream's token moved without a write: %s -> %s", before, got)
	}

	note := func(extra ...bson.E) bson.Raw {
		return primary.run(append(bson.D{{Key: "appendOplogNote", Value: 1}, {Key: "data", Value: bson.D{{Key: "msg", Value: "router"}}}}, append(extra, bson.E{Key: "$db", Value: "admin"})...))
	}
	// The stream's first high-water mark is the time of the next write: the first note is at
	// it, the second past it.
	mustOK(t, note())
	wrote := mustOK(t, note())
	reply := mustOK(t, primary.run(getMore))
	if n := len(mustArray(t, reply.Lookup("cursor", "nextBatch"))); n != 0 {
		t.Fatalf("a note was reported as %d events", n)
	}
	after := reply.Lookup("cursor", "postBatchResumeToken", "_data").StringValue()
	if after <= before {
		t.Fatalf("the note did not move the stream's token: %s -> %s", before, after)
	}
	if want := highWaterMark(mustTimestamp(wrote)).data(); after != want {
		t.Fatalf("token after the note %s, want the high-water mark at the note's time %s", after, want)
	}

	// maxClusterTime: no note unless the set's last write is older.
	last := mustTimestamp(wrote)
	lt := fmt.Sprintf("{ ts: Timestamp(%d, %d) }", last.T, last.I)
	wantCode(t, note(bson.E{Key: "maxClusterTime", Value: last}), mongoerr.StaleClusterTime,
		"Requested maxClusterTime "+lt+" is less or equal to the last primary OpTime: "+lt)
	later := mustOK(t, note(bson.E{Key: "maxClusterTime", Value: bson.Timestamp{T: last.T, I: last.I + 1}}))
	if !mustTimestamp(later).After(last) {
		t.Fatalf("a note past maxClusterTime was not written: %v", later)
	}

	wantCode(t, primary.run(bson.D{{Key: "appendOplogNote", Value: 1}, {Key: "$db", Value: "admin"}}), mongoerr.NoSuchKey, `Missing expected field "data"`)
	wantCode(t, primary.run(bson.D{{Key: "appendOplogNote", Value: 1}, {Key: "data", Value: "x"}, {Key: "$db", Value: "admin"}}), mongoerr.TypeMismatch,
		`"data" had the wrong type. Expected object, found string`)
	wantCode(t, note(bson.E{Key: "maxClusterTime", Value: 5}), mongoerr.TypeMismatch, `"maxClusterTime" had the wrong type. Expected timestamp, found int`)
	wantCode(t, primary.run(bson.D{{Key: "appendOplogNote", Value: 1}, {Key: "data", Value: bson.D{}}, {Key: "$db", Value: "app"}}), mongoerr.Unauthorized,
		"appendOplogNote may only be run against the admin database.")
	secondary := dialRaw(t, rs.Member(1).host)
	wantCode(t, secondary.run(bson.D{{Key: "appendOplogNote", Value: 1}, {Key: "data", Value: bson.D{}}, {Key: "$db", Value: "admin"}}),
		mongoerr.NotWritablePrimary, "not primary")
}

func mustArray(t *testing.T, v bson.RawValue) []bson.RawValue {
	t.Helper()
	arr, ok := v.ArrayOK()
	if !ok {
		t.Fatalf("not an array: %v", v)
	}
	vals, _ := arr.Values()
	return vals
}

// mustTimestamp is a reply's operationTime.
func mustTimestamp(reply bson.Raw) bson.Timestamp {
	t, i := reply.Lookup("operationTime").Timestamp()
	return bson.Timestamp{T: t, I: i}
}
