package wire

import (
	"errors"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// Typical messages, shared by the tests, the fuzz seeds and the benchmarks.

func marshal(d bson.D) bsoncore.Document {
	b, err := bson.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

var testLSID = bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}}}

func findBody() bsoncore.Document {
	return marshal(bson.D{
		{Key: "find", Value: "orders"},
		{Key: "filter", Value: bson.D{{Key: "status", Value: "A"}, {Key: "qty", Value: bson.D{{Key: "$gt", Value: int32(5)}}}}},
		{Key: "sort", Value: bson.D{{Key: "_id", Value: int32(1)}}},
		{Key: "limit", Value: int32(20)},
		{Key: "lsid", Value: testLSID},
		{Key: "$clusterTime", Value: bson.D{
			{Key: "clusterTime", Value: bson.Timestamp{T: 1700000000, I: 1}},
			{Key: "signature", Value: bson.D{
				{Key: "hash", Value: bson.Binary{Data: make([]byte, 20)}},
				{Key: "keyId", Value: int64(0)},
			}},
		}},
		{Key: "$db", Value: "shop"},
	})
}

// findMsg is a find command as a driver sends it.
func findMsg() []byte { return AppendMsg(nil, 7, 0, 0, findBody()) }

func insertBody() bsoncore.Document {
	return marshal(bson.D{
		{Key: "insert", Value: "orders"},
		{Key: "ordered", Value: true},
		{Key: "lsid", Value: testLSID},
		{Key: "txnNumber", Value: int64(1)},
		{Key: "$db", Value: "shop"},
	})
}

// docsSequence is a kind-1 section of n small documents.
func docsSequence(id string, n int) Sequence {
	var raw []byte
	for i := range n {
		raw = append(raw, marshal(bson.D{{Key: "_id", Value: int32(i)}, {Key: "item", Value: "pen"}})...)
	}
	return Sequence{Identifier: id, Raw: raw}
}

// insertMsg is an insert whose documents travel in a document sequence, as drivers send them.
func insertMsg() []byte { return AppendMsg(nil, 8, 0, 0, insertBody(), docsSequence("documents", 3)) }

func helloDoc() bsoncore.Document {
	return marshal(bson.D{
		{Key: "isMaster", Value: int32(1)},
		{Key: "helloOk", Value: true},
		{Key: "client", Value: bson.D{{Key: "driver", Value: bson.D{{Key: "name", Value: "mongo-go-driver"}, {Key: "version", Value: "v2.9.3"}}}}},
		{Key: "compression", Value: bson.A{"zstd", "snappy", "zlib"}},
	})
}

// helloQuery is the legacy handshake drivers open a connection with.
func helloQuery() []byte { return AppendQuery(nil, 1, "admin.$cmd", -1, helloDoc()) }

// requireCode checks that err is a bad frame carrying code.
func requireCode(t *testing.T, err error, code mongoerr.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want code %d", code)
	}
	if !errors.Is(err, ErrBadFrame) {
		t.Fatalf("error %v does not wrap ErrBadFrame", err)
	}
	if got := mongoerr.As(err); got.Code != code {
		t.Fatalf("error %v has code %d (%s), want %d", err, got.Code, got.Code.Name(), code)
	}
}

// rawMsg assembles an OP_MSG frame from flags and raw sections, for frames AppendMsg cannot build.
func rawMsg(flags uint32, sections ...[]byte) []byte {
	out := wiremessage.AppendHeader(nil, 0, 1, 0, OpMsg)
	out = wiremessage.AppendMsgFlags(out, wiremessage.MsgFlag(flags))
	for _, s := range sections {
		out = append(out, s...)
	}
	return SetLength(out)
}

func bodySection(doc bsoncore.Document) []byte { return append([]byte{0}, doc...) }

func seqSection(s Sequence) []byte { return AppendSequence(nil, s) }
