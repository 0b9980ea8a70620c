package memshard

import (
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

func TestCursorsWithDriver(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("app").Collection("many")
	docs := make([]any, 250)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}}
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	before := rs.Member(0).CommandCount("getMore")
	for _, tc := range []struct {
		name      string
		batchSize int32
		getMores  int64
	}{
		{"default first batch of 101", 0, 1},
		{"batchSize 100", 100, 2},
		{"batchSize 7", 7, 35},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
			if tc.batchSize > 0 {
				opts.SetBatchSize(tc.batchSize)
			}
			cur, err := coll.Find(ctx, bson.D{}, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []bson.Raw
			if err := cur.All(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != 250 || idsOf(got)[249] != 249 {
				t.Fatalf("got %d documents", len(got))
			}
			after := rs.Member(0).CommandCount("getMore")
			if after-before != tc.getMores {
				t.Fatalf("%d getMores, want %d", after-before, tc.getMores)
			}
			before = after
			if n := rs.Member(0).OpenCursors(); n != 0 {
				t.Fatalf("%d cursors left open", n)
			}
		})
	}

	// Closing a cursor early kills it on the server.
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Member(0).OpenCursors() != 1 {
		t.Fatal("no open cursor")
	}
	if err := cur.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if rs.Member(0).OpenCursors() != 0 || rs.Member(0).CommandCount("killCursors") != 1 {
		t.Fatal("killCursors did not close the cursor")
	}
}

func TestRawCursorCommands(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	docs := bson.A{}
	for i := 0; i < 5; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: i}})
	}
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "db"}}))
	reply := mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "db"}}))
	id := reply.Lookup("cursor", "id").Int64()
	if id == 0 || reply.Lookup("cursor", "ns").StringValue() != "db.c" || len(mustValues(t, reply.Lookup("cursor", "firstBatch").Array())) != 2 {
		t.Fatalf("find reply %s", reply)
	}
	wantCode(t, c.run(bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "other"}, {Key: "$db", Value: "db"}}),
		mongoerr.Unauthorized, "Requested getMore on namespace 'db.other', but cursor belongs to a different namespace db.c")
	reply = mustOK(t, c.run(bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "db"}}))
	if reply.Lookup("cursor", "id").Int64() != id || len(mustValues(t, reply.Lookup("cursor", "nextBatch").Array())) != 2 {
		t.Fatalf("getMore reply %s", reply)
	}
	reply = mustOK(t, c.run(bson.D{{Key: "killCursors", Value: "c"}, {Key: "cursors", Value: bson.A{id, int64(12345)}}, {Key: "$db", Value: "db"}}))
	killed, notFound := mustValues(t, reply.Lookup("cursorsKilled").Array()), mustValues(t, reply.Lookup("cursorsNotFound").Array())
	if len(killed) != 1 || killed[0].Int64() != id || len(notFound) != 1 || notFound[0].Int64() != 12345 {
		t.Fatalf("killCursors reply %s", reply)
	}
	for _, k := range []string{"cursorsAlive", "cursorsUnknown"} {
		if _, ok := reply.Lookup(k).ArrayOK(); !ok {
			t.Errorf("%s missing", k)
		}
	}
	wantCode(t, c.run(bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "db"}}),
		mongoerr.CursorNotFound, fmt.Sprintf("cursor id %d not found", id))
	// singleBatch closes the cursor after the first batch.
	reply = mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 2}, {Key: "singleBatch", Value: true}, {Key: "$db", Value: "db"}}))
	if reply.Lookup("cursor", "id").Int64() != 0 || rs.Member(0).OpenCursors() != 0 {
		t.Fatalf("singleBatch left a cursor: %s", reply)
	}
	// Insert from an OP_MSG document sequence.
	seq := marshal(t, bson.D{{Key: "_id", Value: 10}})
	seq = append(seq, marshal(t, bson.D{{Key: "_id", Value: 11}})...)
	c.send(0, bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "db"}}, wire.Sequence{Identifier: "documents", Raw: seq})
	msg, err := c.recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if reply := mustOK(t, bson.Raw(msg.Body)); reply.Lookup("n").Int32() != 2 {
		t.Fatalf("sequence insert %s", reply)
	}
}
