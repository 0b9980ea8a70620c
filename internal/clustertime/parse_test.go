package clustertime

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func command(ct any) bsoncore.Document {
	d := bson.D{{Key: "find", Value: "c"}}
	if ct != nil {
		d = append(d, bson.E{Key: Field, Value: ct})
	}
	raw, err := bson.Marshal(append(d, bson.E{Key: "$db", Value: "test"}))
	if err != nil {
		panic(err)
	}
	return raw
}

func sig(hash any, keyID any) bson.D {
	return bson.D{{Key: "hash", Value: hash}, {Key: "keyId", Value: keyID}}
}

func hash20(b byte) bson.Binary {
	h := make([]byte, hashLen)
	for i := range h {
		h[i] = b
	}
	return bson.Binary{Data: h}
}

func TestParse(t *testing.T) {
	ts := bson.Timestamp{T: 1700000000, I: 3}
	var filled [hashLen]byte
	for i := range filled {
		filled[i] = 7
	}
	tests := []struct {
		name    string
		ct      any // nil: no $clusterTime at all
		want    Signed
		present bool
		code    mongoerr.Code
		msg     string
	}{
		{name: "absent"},
		{name: "null", ct: bson.Null{}},
		{name: "signed", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: sig(hash20(7), int64(42))}},
			want: Signed{Time: ts, Signature: Signature{Hash: filled, KeyID: 42}}, present: true},
		{name: "keyId as int and double", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: sig(hash20(7), 9.9)}},
			want: Signed{Time: ts, Signature: Signature{Hash: filled, KeyID: 9}}, present: true},
		{name: "no signature reads as the dummy one", ct: bson.D{{Key: "clusterTime", Value: ts}},
			want: Signed{Time: ts}, present: true},
		{name: "unknown fields are ignored", ct: bson.D{{Key: "x", Value: 1}, {Key: "clusterTime", Value: ts}},
			want: Signed{Time: ts}, present: true},
		{name: "not an object", ct: "soon", code: mongoerr.TypeMismatch,
			msg: "BSON field 'find.$clusterTime' is the wrong type 'string', expected type 'object'"},
		{name: "no clusterTime", ct: bson.D{}, code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'find.$clusterTime.clusterTime' is missing but a required field"},
		{name: "clusterTime not a timestamp", ct: bson.D{{Key: "clusterTime", Value: int64(5)}}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'find.$clusterTime.clusterTime' is the wrong type 'long', expected type 'timestamp'"},
		{name: "clusterTime twice", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "clusterTime", Value: ts}}, code: mongoerr.IDLDuplicateField,
			msg: "BSON field 'find.$clusterTime.clusterTime' is a duplicate field"},
		{name: "signature not an object", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: 1}}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'find.$clusterTime.signature' is the wrong type 'int', expected type 'object'"},
		{name: "no hash", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: bson.D{{Key: "keyId", Value: int64(1)}}}},
			code: mongoerr.IDLFailedToParse, msg: "BSON field 'find.$clusterTime.signature.hash' is missing but a required field"},
		{name: "no keyId", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: bson.D{{Key: "hash", Value: hash20(0)}}}},
			code: mongoerr.IDLFailedToParse, msg: "BSON field 'find.$clusterTime.signature.keyId' is missing but a required field"},
		{name: "hash of another subtype", ct: bson.D{{Key: "clusterTime", Value: ts},
			{Key: "signature", Value: sig(bson.Binary{Subtype: 4, Data: make([]byte, 16)}, int64(1))}},
			code: mongoerr.TypeMismatch, msg: "BSON field 'find.$clusterTime.signature.hash' is the wrong binData type 'UUID', expected type 'general'"},
		{name: "hash not binData", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: sig("00", int64(1))}},
			code: mongoerr.TypeMismatch, msg: "BSON field 'find.$clusterTime.signature.hash' is the wrong type 'string', expected type 'binData'"},
		{name: "short hash", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: sig(bson.Binary{Data: []byte{1, 2}}, int64(1))}},
			code: mongoerr.UnsupportedFormat, msg: "Unsupported SHA1Block hash length: 2"},
		{name: "keyId not a number", ct: bson.D{{Key: "clusterTime", Value: ts}, {Key: "signature", Value: sig(hash20(0), "1")}},
			code: mongoerr.TypeMismatch, msg: "BSON field 'find.$clusterTime.signature.keyId' is the wrong type 'string', expected types '[long, int, decimal, double]'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, present, err := Parse("find", command(tt.ct))
			if tt.code != 0 {
				e := mongoerr.As(err)
				if err == nil || e.Code != tt.code || e.Msg != tt.msg {
					t.Fatalf("err = %v, want %d %q", err, tt.code, tt.msg)
				}
				return
			}
			if err != nil || present != tt.present || got != tt.want {
				t.Fatalf("Parse = %+v, %v, %v; want %+v, %v", got, present, err, tt.want, tt.present)
			}
		})
	}
}

// Bytes that are not BSON are refused, never read past.
func TestParseMalformed(t *testing.T) {
	good := command(bson.D{{Key: "clusterTime", Value: bson.Timestamp{T: 1, I: 1}}})
	for cut := 0; cut < len(good); cut++ {
		if _, _, err := Parse("find", good[:cut]); err == nil {
			t.Fatalf("a body cut at %d of %d parsed", cut, len(good))
		}
	}
}

// What a server appends is what it parses back.
func TestAppendElementRoundTrip(t *testing.T) {
	s := Signed{Time: bson.Timestamp{T: 1700000000, I: 3}, Signature: Signature{Hash: [hashLen]byte{9, 8, 7}, KeyID: -4}}
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = bsoncore.AppendStringElement(doc, "ping", "x")
	doc = AppendElement(doc, s)
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	got, present, err := Parse("ping", doc)
	if err != nil || !present || got != s {
		t.Fatalf("Parse(AppendElement(%+v)) = %+v, %v, %v", s, got, present, err)
	}
}

// Drivers send $clusterTime with every command: reading it must cost no allocation.
func TestParseAllocatesNothing(t *testing.T) {
	body := command(bson.D{{Key: "clusterTime", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "signature", Value: sig(hash20(1), int64(7))}})
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Parse("find", body) }); n != 0 {
		t.Fatalf("Parse allocates %v times", n)
	}
}
