package router

import (
	"encoding/binary"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// deepInsert is {insert: "c", documents: [{k: {k: ...}}], $db: "test"} whose document nests
// levels documents, written in one pass.
func deepInsert(levels int) []byte {
	inner := make([]byte, 0, 5+levels*8)
	total := 5 + levels*8 // each level: its length, type, key, NUL, and its closing NUL
	for i := 0; i <= levels; i++ {
		inner = binary.LittleEndian.AppendUint32(inner, uint32(total-8*i))
		if i < levels {
			inner = append(inner, byte(bsoncore.TypeEmbeddedDocument), 'k', 0)
		}
	}
	for i := 0; i <= levels; i++ {
		inner = append(inner, 0)
	}
	return bsoncore.BuildDocument(nil,
		bsoncore.AppendStringElement(nil, "insert", "c"),
		bsoncore.AppendArrayElement(nil, "documents", bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: inner})),
		bsoncore.AppendStringElement(nil, "$db", "test"))
}

// TestHostileBodies: bodies past mongod's size and depth limits are refused on arrival with
// mongod's codes, nothing reaches a shard, and the connection serves the next command.
func TestHostileBodies(t *testing.T) {
	checkLeaks(t)
	addr, log := trustCluster(t, trustModes[0])
	cl := dialBench(t, addr)
	huge := bsoncore.BuildDocument(nil,
		bsoncore.AppendStringElement(nil, "insert", "c"),
		bsoncore.AppendBinaryElement(nil, "pad", 0, make([]byte, wire.MaxDocSize)),
		bsoncore.AppendStringElement(nil, "$db", "test"))
	for _, tc := range []struct {
		name string
		body []byte
		code mongoerr.Code
	}{
		{"nested a million levels", deepInsert(1_000_000), mongoerr.Overflow},
		{"nested 201 levels", deepInsert(200), mongoerr.Overflow}, // + the documents array
		{"larger than 16 MB + 16 KB", huge, mongoerr.BSONObjectTooLarge},
	} {
		before := log.count()
		reply, err := cl.roundTrip(wire.AppendMsg(nil, 1, 0, 0, tc.body))
		if err != nil {
			t.Fatalf("%s: the connection closed: %v", tc.name, err)
		}
		m, err := wire.ParseMsg(reply)
		if err != nil {
			t.Fatal(err)
		}
		if code := replyCode(m.Body); code != tc.code {
			t.Fatalf("%s: %v, want code %d", tc.name, bson.Raw(m.Body), tc.code)
		}
		if log.saw(before, "insert") {
			t.Fatalf("%s reached the shard", tc.name)
		}
		cl.run(t, mustMarshal(t, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
	}
	// Within the limit, the same shape is stored.
	reply, err := cl.roundTrip(wire.AppendMsg(nil, 1, 0, 0, deepInsert(100)))
	if err != nil {
		t.Fatal(err)
	}
	checkOK(t, reply)
}
