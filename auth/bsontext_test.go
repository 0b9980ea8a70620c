package auth

import (
	"math"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestBSONText(t *testing.T) {
	uuid := []byte{0x8a, 0x2c, 0x1d, 0x3e, 0x4f, 0x50, 0x41, 0x62, 0x83, 0x94, 0xa5, 0xb6, 0xc7, 0xd8, 0xe9, 0xfa}
	oid := bson.ObjectID{0x65, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4}
	tests := []struct {
		name string
		doc  bsoncore.Document
		want string
	}{
		{"empty", bsoncore.NewDocumentBuilder().Build(), "{}"},
		{"numbers", bsoncore.NewDocumentBuilder().AppendInt32("i", 1).AppendInt64("l", -2).
			AppendDouble("d", 1).AppendDouble("f", 1.5).AppendDouble("big", 1e20).AppendDouble("small", 1e-7).Build(),
			"{ i: 1, l: -2, d: 1.0, f: 1.5, big: 1e+20.0, small: 1e-07.0 }"},
		{"special doubles", bsoncore.NewDocumentBuilder().AppendDouble("p", math.Inf(1)).AppendDouble("n", math.NaN()).Build(),
			"{ p: inf.0, n: nan.0 }"},
		{"scalars", bsoncore.NewDocumentBuilder().AppendBoolean("t", true).AppendNull("n").AppendString("s", `a"b`).
			AppendDateTime("d", 1700000000000).AppendTimestamp("ts", 1700000000, 3).AppendObjectID("o", oid).
			AppendRegex("r", "^a", "i").AppendMinKey("lo").AppendMaxKey("hi").Build(),
			`{ t: true, n: null, s: "a"b", d: new Date(1700000000000), ts: Timestamp(1700000000, 3), o: ObjectId('650a1b2c3d4e5f60718293a4'), r: /^a/i, lo: MinKey, hi: MaxKey }`},
		{"binaries", bsoncore.NewDocumentBuilder().AppendBinary("id", bson.TypeBinaryUUID, uuid).
			AppendBinary("b", 0, []byte{0xab, 0x01}).AppendBinary("short", bson.TypeBinaryUUID, []byte{1}).Build(),
			`{ id: UUID("8a2c1d3e-4f50-4162-8394-a5b6c7d8e9fa"), b: BinData(0, AB01), short: BinData(4, 01) }`},
		{"nested", bsoncore.NewDocumentBuilder().
			AppendDocument("lsid", bsoncore.NewDocumentBuilder().AppendBinary("id", 4, uuid).Build()).
			AppendArray("a", bsoncore.NewArrayBuilder().AppendInt32(1).AppendDocument(bsoncore.NewDocumentBuilder().Build()).Build()).
			AppendArray("e", bsoncore.NewArrayBuilder().Build()).Build(),
			`{ lsid: { id: UUID("8a2c1d3e-4f50-4162-8394-a5b6c7d8e9fa") }, a: [ 1, {} ], e: [] }`},
		{"long string cut", bsoncore.NewDocumentBuilder().AppendString("s", strings.Repeat("x", 160)).Build(),
			`{ s: "` + strings.Repeat("x", 150) + `..." }`},
		{"159 bytes kept", bsoncore.NewDocumentBuilder().AppendString("s", strings.Repeat("x", 159)).Build(),
			`{ s: "` + strings.Repeat("x", 159) + `" }`},
		{"long binary cut", bsoncore.NewDocumentBuilder().AppendBinary("b", 0, make([]byte, 81)).Build(),
			`{ b: BinData(0, ` + strings.Repeat("00", 70) + `...) }`},
		{"invalid", bsoncore.Document{5, 0, 0, 0, 1}, "<invalid BSON>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bsonText(tt.doc); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
