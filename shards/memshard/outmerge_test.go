package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func aggregate(coll string, pipeline ...bson.D) bson.D {
	stages := bson.A{}
	for _, st := range pipeline {
		stages = append(stages, st)
	}
	return bson.D{{Key: "aggregate", Value: coll}, {Key: "pipeline", Value: stages}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}}
}

func insertDocs(t *testing.T, c *rawClient, db, coll string, docs ...bson.D) {
	t.Helper()
	arr := bson.A{}
	for _, d := range docs {
		arr = append(arr, d)
	}
	mustOK(t, c.run(bson.D{{Key: "insert", Value: coll}, {Key: "documents", Value: arr}, {Key: "$db", Value: db}}))
}

// contents is the collection's documents in _id order, as extended JSON.
func contents(t *testing.T, c *rawClient, db, coll string) string {
	t.Helper()
	reply := mustOK(t, c.run(bson.D{{Key: "find", Value: coll}, {Key: "sort", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "$db", Value: db}}))
	return reply.Lookup("cursor", "firstBatch").String()
}

func jsonArray(t *testing.T, docs ...bson.D) string {
	t.Helper()
	arr := bson.A{}
	for _, d := range docs {
		arr = append(arr, d)
	}
	_, raw, err := bson.MarshalValue(arr)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: bson.TypeArray, Value: raw}.String()
}

func obj(kv ...any) bson.D {
	var d bson.D
	for i := 0; i+1 < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	return d
}

func TestAggregateOut(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "src", obj("_id", 1, "x", 1), obj("_id", 2, "x", 2), obj("_id", 3, "x", 3, "a", bson.A{1, 2}))
	insertDocs(t, c, "test", "dst", obj("_id", 9))
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "dst"}, {Key: "indexes", Value: bson.A{obj("key", obj("x", 1), "name", "x_1")}}, {Key: "$db", Value: "test"}}))

	reply := mustOK(t, c.run(aggregate("src", obj("$match", obj("x", obj("$gt", 1))), obj("$out", "dst"))))
	if batch := mustValues(t, reply.Lookup("cursor", "firstBatch").Array()); len(batch) != 0 || reply.Lookup("cursor", "id").Int64() != 0 {
		t.Fatalf("$out reply %s", reply)
	}
	if got, want := contents(t, c, "test", "dst"), jsonArray(t, obj("_id", 2, "x", 2), obj("_id", 3, "x", 3, "a", bson.A{1, 2})); got != want {
		t.Fatalf("dst after $out: %s, want %s", got, want)
	}
	indexes := mustOK(t, c.run(bson.D{{Key: "listIndexes", Value: "dst"}, {Key: "$db", Value: "test"}}))
	if n := len(mustValues(t, indexes.Lookup("cursor", "firstBatch").Array())); n != 2 {
		t.Fatalf("$out lost the target's indexes: %s", indexes)
	}

	// A duplicate _id fails the stage and leaves the target as it was.
	before := contents(t, c, "test", "dst")
	wantCode(t, c.run(aggregate("src", obj("$match", obj("_id", 3)), obj("$unwind", "$a"), obj("$out", "dst"))), mongoerr.DuplicateKey, "")
	if got := contents(t, c, "test", "dst"); got != before {
		t.Fatalf("failed $out changed the target: %s", got)
	}

	// Another database, a new collection, and output without _id.
	mustOK(t, c.run(aggregate("src", obj("$project", obj("_id", 0, "x", 1)), obj("$out", obj("db", "other", "coll", "fresh")))))
	fresh := mustOK(t, c.run(bson.D{{Key: "find", Value: "fresh"}, {Key: "$db", Value: "other"}}))
	for _, v := range mustValues(t, fresh.Lookup("cursor", "firstBatch").Array()) {
		if v.Document().Index(0).Key() != "_id" || v.Document().Lookup("_id").Type != bson.TypeObjectID {
			t.Fatalf("$out document without a generated _id first: %s", v)
		}
	}
}

func TestAggregateMerge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  any
		index bool // a unique index on k exists in the target
		code  mongoerr.Code
		want  []bson.D // the target afterwards (sorted by _id)
		drop  bool     // the pipeline drops _id before $merge
	}{
		{"default merges and inserts", "dst", false, 0,
			[]bson.D{obj("_id", 1, "y", 1, "x", 1), obj("_id", 2, "x", 2), obj("_id", 3, "k", "c", "y", 3)}, false},
		{"replace", obj("into", "dst", "whenMatched", "replace"), false, 0,
			[]bson.D{obj("_id", 1, "x", 1), obj("_id", 2, "x", 2), obj("_id", 3, "k", "c", "y", 3)}, false},
		{"keepExisting", obj("into", "dst", "whenMatched", "keepExisting"), false, 0,
			[]bson.D{obj("_id", 1, "y", 1), obj("_id", 2, "x", 2), obj("_id", 3, "k", "c", "y", 3)}, false},
		{"discard", obj("into", obj("db", "test", "coll", "dst"), "whenNotMatched", "discard"), false, 0,
			[]bson.D{obj("_id", 1, "y", 1, "x", 1), obj("_id", 3, "k", "c", "y", 3)}, false},
		{"whenMatched fail", obj("into", "dst", "whenMatched", "fail"), false, mongoerr.DuplicateKey, nil, false},
		{"whenNotMatched fail", obj("into", "dst", "whenNotMatched", "fail"), false, codeMergeNoMatch, nil, false},
		{"on a unique index", obj("into", "dst", "on", "k"), true, 0,
			[]bson.D{obj("_id", 1, "y", 1), obj("_id", 3, "k", "c", "y", 3, "x", 3)}, true},
		{"on a unique index, another _id", obj("into", "dst", "on", "k"), true, mongoerr.ImmutableField, nil, false},
		{"on without a unique index", obj("into", "dst", "on", bson.A{"k"}), false, codeMergeNoUniqueIndex, nil, false},
		{"unsupported modes", obj("into", "dst", "whenMatched", "keepExisting", "whenNotMatched", "fail"), false, codeMergeBadModes, nil, false},
		{"missing into", obj("on", "_id"), false, mongoerr.IDLFailedToParse, nil, false},
		{"unknown field", obj("into", "dst", "mode", 1), false, mongoerr.IDLUnknownField, nil, false},
		{"internal database", obj("into", obj("db", "admin", "coll", "x")), false, codeMergeInternalDB, nil, false},
		{"wrong type", 5, false, codeMergeBadSpec, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := startSet(t, 1)
			c := dialRaw(t, rs.Hosts()[0])
			insertDocs(t, c, "test", "dst", obj("_id", 1, "y", 1), obj("_id", 3, "k", "c", "y", 3))
			if tc.index {
				mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "dst"}, {Key: "indexes", Value: bson.A{obj("key", obj("k", 1), "name", "k_1", "unique", true)}}, {Key: "$db", Value: "test"}}))
				insertDocs(t, c, "test", "src", obj("_id", 7, "k", "c", "x", 3))
			} else {
				insertDocs(t, c, "test", "src", obj("_id", 1, "x", 1), obj("_id", 2, "x", 2))
			}
			first := obj("$sort", obj("_id", 1))
			if tc.drop {
				first = obj("$project", obj("_id", 0))
			}
			reply := c.run(aggregate("src", first, obj("$merge", tc.spec)))
			if tc.code != 0 {
				wantCode(t, reply, tc.code, "")
				return
			}
			if batch := mustValues(t, mustOK(t, reply).Lookup("cursor", "firstBatch").Array()); len(batch) != 0 {
				t.Fatalf("$merge reply %s", reply)
			}
			if got, want := contents(t, c, "test", "dst"), jsonArray(t, tc.want...); got != want {
				t.Fatalf("dst %s, want %s", got, want)
			}
		})
	}
}

func TestWriteStageErrors(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "src", obj("_id", 1))
	insertDocs(t, c, "test", "arr", obj("_id", 1, "k", bson.A{1}))
	mustOK(t, c.run(bson.D{{Key: "createIndexes", Value: "uq"}, {Key: "indexes", Value: bson.A{obj("key", obj("k", 1), "name", "k_1", "unique", true)}}, {Key: "$db", Value: "test"}}))
	for _, tc := range []struct {
		name string
		cmd  bson.D
		code mongoerr.Code
		msg  string
	}{
		{"$out not last", aggregate("src", obj("$out", "x"), obj("$match", obj())), codeNotLastStage, "$out can only be the final stage in the pipeline"},
		{"$merge not last", aggregate("src", obj("$merge", "x"), obj("$match", obj())), codeNotLastStage, "$merge can only be the final stage in the pipeline"},
		{"$out wrong type", aggregate("src", obj("$out", 1)), codeOutBadSpec, "$out only supports a string or object argument, but found int"},
		{"$out special collection", aggregate("src", obj("$out", "system.x")), codeOutSpecialColl, "Can't $out to special collection: system.x"},
		{"$out internal database", aggregate("src", obj("$out", obj("db", "config", "coll", "x"))), codeOutInternalDB, "Can't $out to internal database: config"},
		{"$out empty name", aggregate("src", obj("$out", "")), mongoerr.InvalidNamespace, "Invalid $out target namespace, test."},
		{"$merge on duplicate", aggregate("src", obj("$merge", obj("into", "x", "on", bson.A{"a", "a"}))), codeMergeDuplicateOn, "Found a duplicate field 'a'"},
		{"$merge on empty", aggregate("src", obj("$merge", obj("into", "x", "on", bson.A{}))), codeMergeOnEmpty, ""},
		{"$merge let", aggregate("src", obj("$merge", obj("into", "x", "let", obj()))), codeMergeLetNeedsPipe, "Cannot use 'let' variables with 'whenMatched: merge' mode"},
		{"$merge on field missing", aggregate("src", obj("$merge", obj("into", "uq", "on", "k"))), codeMergeOnNullish,
			"$merge write error: 'on' field cannot be missing, null, undefined or an array"},
		{"$merge on field an array", aggregate("arr", obj("$merge", obj("into", "uq", "on", "k"))), codeMergeOnArray, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, c.run(tc.cmd), tc.code, tc.msg)
		})
	}
	// In a transaction neither stage may run.
	lsid := newLSID()
	txn := append(aggregate("src", obj("$out", "x"))[:3], bson.E{Key: "lsid", Value: lsidDoc(lsid)}, bson.E{Key: "txnNumber", Value: int64(1)},
		bson.E{Key: "startTransaction", Value: true}, bson.E{Key: "autocommit", Value: false}, bson.E{Key: "$db", Value: "test"})
	wantCode(t, c.run(txn), mongoerr.OperationNotSupportedInTransaction, "$out cannot be used in a transaction")
}
