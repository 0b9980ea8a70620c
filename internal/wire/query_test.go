package wire

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// rawQuery assembles an OP_QUERY frame with any flags and trailing bytes after the query.
func rawQuery(flags wiremessage.QueryFlag, ns string, query bsoncore.Document, tail ...byte) []byte {
	out := wiremessage.AppendHeader(nil, 0, 3, 0, OpQuery)
	out = wiremessage.AppendQueryFlags(out, flags)
	out = wiremessage.AppendQueryFullCollectionName(out, ns)
	out = wiremessage.AppendQueryNumberToSkip(out, 0)
	out = wiremessage.AppendQueryNumberToReturn(out, -1)
	out = append(out, query...)
	return SetLength(append(out, tail...))
}

func TestParseQueryHello(t *testing.T) {
	frame := helloQuery()
	q, err := ParseQuery(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := Query{
		Header:             Header{Length: int32(len(frame)), RequestID: 1, OpCode: OpQuery},
		FullCollectionName: "admin.$cmd", NumberToReturn: -1, Query: helloDoc(),
	}
	if !reflect.DeepEqual(q, want) {
		t.Fatalf("ParseQuery =\n %+v\nwant\n %+v", q, want)
	}
	if q.Database() != "admin" || !bytes.Equal(q.Command(), helloDoc()) {
		t.Fatalf("Database %q, Command %s", q.Database(), q.Command())
	}
}

func TestQueryCommand(t *testing.T) {
	hello := marshal(bson.D{{Key: "isMaster", Value: int32(1)}})
	rp := bson.D{{Key: "mode", Value: "secondaryPreferred"}}
	tests := []struct {
		name  string
		query bsoncore.Document
		want  bsoncore.Document
	}{
		{"plain", hello, hello},
		{"$query wrapper", marshal(bson.D{{Key: "$query", Value: hello}, {Key: "$readPreference", Value: rp}}), hello},
		{"query wrapper", marshal(bson.D{{Key: "query", Value: hello}, {Key: "$readPreference", Value: rp}}), hello},
		{"$query not first is no wrapper", marshal(bson.D{{Key: "isMaster", Value: int32(1)}, {Key: "$query", Value: hello}}), nil},
		{"$query not a document", marshal(bson.D{{Key: "$query", Value: int32(1)}}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(rawQuery(0, "admin.$cmd", tt.query))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == nil {
				want = tt.query
			}
			if got := q.Command(); !bytes.Equal(got, want) {
				t.Errorf("Command() = %s, want %s", got, want)
			}
		})
	}
}

func TestQueryDatabase(t *testing.T) {
	for ns, want := range map[string]string{"admin.$cmd": "admin", "db.coll.sub": "db", "nodot": "nodot", "": "", ".x": ""} {
		if got := (Query{FullCollectionName: ns}).Database(); got != want {
			t.Errorf("Database(%q) = %q, want %q", ns, got, want)
		}
	}
}

func TestParseQueryReturnFieldsSelector(t *testing.T) {
	sel := marshal(bson.D{{Key: "ok", Value: int32(1)}})
	q, err := ParseQuery(rawQuery(wiremessage.SecondaryOK, "admin.$cmd", helloDoc(), sel...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q.ReturnFieldsSelector, sel) || q.Flags != wiremessage.SecondaryOK {
		t.Fatalf("selector %s, flags %v", q.ReturnFieldsSelector, q.Flags)
	}
	for name, tail := range map[string][]byte{
		"truncated selector": sel[:len(sel)-1],
		"two selectors":      append(append([]byte{}, sel...), sel...),
		"garbage":            {1, 2, 3},
		"invalid selector":   {6, 0, 0, 0, 0x7f, 0},
	} {
		_, err := ParseQuery(rawQuery(0, "admin.$cmd", helloDoc(), tail...))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		requireCode(t, err, mongoerr.InvalidBSON)
	}
}

func TestParseQueryRejects(t *testing.T) {
	full := helloQuery()
	// Offsets in full: flags at 16, the name "admin.$cmd\0" at 20..30, skip at 31, return at 35,
	// query at 39.
	truncate := func(n int) []byte { return SetLength(append([]byte{}, full[:n]...)) }
	badQuery := rawQuery(0, "admin.$cmd", bsoncore.Document{6, 0, 0, 0, 0x7f, 0})
	tests := []struct {
		name  string
		frame []byte
		code  mongoerr.Code
	}{
		{"not OP_QUERY", findMsg(), mongoerr.ProtocolError},
		{"no flags", truncate(18), mongoerr.ProtocolError},
		{"name unterminated", truncate(25), mongoerr.ProtocolError},
		{"no numberToSkip", truncate(33), mongoerr.ProtocolError},
		{"no numberToReturn", truncate(37), mongoerr.ProtocolError},
		{"no query", truncate(39), mongoerr.InvalidBSON},
		{"truncated query", truncate(len(full) - 1), mongoerr.InvalidBSON},
		{"invalid query", badQuery, mongoerr.InvalidBSON},
		{"header length lies", append(append([]byte{}, full...), 0), mongoerr.ProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQuery(tt.frame)
			requireCode(t, err, tt.code)
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	a := marshal(bson.D{{Key: "ismaster", Value: true}, {Key: "ok", Value: 1.0}})
	b := marshal(bson.D{{Key: "x", Value: "y"}})
	for _, docs := range [][]bsoncore.Document{nil, {a}, {a, b, a}} {
		frame := AppendReply(nil, 5, 1, docs...)
		r, err := ParseReply(frame)
		if err != nil {
			t.Fatal(err)
		}
		want := Reply{Header: Header{Length: int32(len(frame)), RequestID: 5, ResponseTo: 1, OpCode: OpReply}, Documents: docs}
		if !reflect.DeepEqual(r, want) {
			t.Fatalf("ParseReply =\n %+v\nwant\n %+v", r, want)
		}
	}
}

func TestParseReplyRejects(t *testing.T) {
	doc := marshal(bson.D{{Key: "ok", Value: 1.0}})
	good := AppendReply(nil, 5, 1, doc)
	withCount := func(n int32) []byte {
		f := append([]byte{}, good...)
		binary.LittleEndian.PutUint32(f[32:], uint32(n))
		return f
	}
	tests := []struct {
		name  string
		frame []byte
		code  mongoerr.Code
	}{
		{"not OP_REPLY", helloQuery(), mongoerr.ProtocolError},
		{"too short", SetLength(append([]byte{}, good[:30]...)), mongoerr.ProtocolError},
		{"negative count", withCount(-1), mongoerr.ProtocolError},
		{"more documents announced than sent", withCount(2), mongoerr.InvalidBSON},
		{"fewer documents announced than sent", withCount(0), mongoerr.ProtocolError},
		{"invalid document", AppendReply(nil, 5, 1, bsoncore.Document{6, 0, 0, 0, 0x7f, 0}), mongoerr.InvalidBSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseReply(tt.frame)
			requireCode(t, err, tt.code)
		})
	}
}
