package memshard

import (
	"encoding/hex"
	"math"
	"sort"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResumeTokenMatchesMongod encodes tokens that mongod 7/8 servers returned (version 2
// event tokens, _id an ObjectId or a string) and compares them byte for byte.
func TestResumeTokenMatchesMongod(t *testing.T) {
	oid, _ := bson.ObjectIDFromHex("66b518c657c4c7204e91e80f")
	cases := []struct {
		name, want string
		ts         bson.Timestamp
		uuid, op   string
		id         any
	}{
		{"insert with ObjectId _id",
			"8266B518C6000000012B042C0100296E5A1004CDFFC2D506504F98B11EDBF328641438463C6F7065726174696F6E54797065003C696E736572740046646F63756D656E744B65790046645F6964006466B518C657C4C7204E91E80F000004",
			bson.Timestamp{T: 0x66B518C6, I: 1}, "CDFFC2D506504F98B11EDBF328641438", opInsert, oid},
		{"update with string _id",
			"8265580539000000012B042C0100296E5A1004A7F55A5B35BD4C7DB2CD56C6CFEA9C49463C6F7065726174696F6E54797065003C7570646174650046646F63756D656E744B657900463C5F6964003C6265657200000004",
			bson.Timestamp{T: 0x65580539, I: 1}, "A7F55A5B35BD4C7DB2CD56C6CFEA9C49", opUpdate, "beer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := &changeEvent{ts: pack(c.ts), op: c.op, uuid: mustHex(t, c.uuid), docKey: bson.Raw(marshal(t, bson.D{{Key: "_id", Value: c.id}}))}
			if got := e.resumeToken().data(); got != c.want {
				t.Fatalf("token\n got %s\nwant %s", got, c.want)
			}
			tok, data, err := parseResumeToken(e.resumeToken().encode())
			if err != nil || data != c.want || tok.clusterTime != c.ts || tok.tokenType != tokenEvent || tok.version != 2 {
				t.Fatalf("parse: %+v %q %v", tok, data, err)
			}
		})
	}
}

// TestResumeTokensSortLikeTheirEvents: tokens order by cluster time, then transaction position,
// whatever the document keys; a high-water mark sorts before the events of its time.
func TestResumeTokensSortLikeTheirEvents(t *testing.T) {
	uuid := mustHex(t, "A7F55A5B35BD4C7DB2CD56C6CFEA9C49")
	ids := []any{int32(5), "a", math.Pi, int64(-7), bson.D{{Key: "x", Value: 1}}, 0.5, -1e300}
	var events []*changeEvent
	for ts := uint32(1); ts <= 3; ts++ {
		for i, id := range ids {
			events = append(events, &changeEvent{ts: pack(bson.Timestamp{T: 100, I: ts}), opIndex: int32(i), op: opInsert,
				uuid: uuid, docKey: bson.Raw(marshal(t, bson.D{{Key: "_id", Value: id}}))})
		}
	}
	var datas []string
	for i, e := range events {
		d := e.resumeToken().data()
		if i > 0 && d <= datas[i-1] {
			t.Fatalf("event %d token %s does not sort after %s", i, d, datas[i-1])
		}
		datas = append(datas, d)
		if hwm := highWaterMark(unpack(e.ts)).data(); e.opIndex == 0 && hwm >= d {
			t.Fatalf("high-water mark %s does not sort before %s", hwm, d)
		}
	}
	if !sort.StringsAreSorted(datas) {
		t.Fatal("tokens out of order")
	}
}

func TestParseResumeTokenErrors(t *testing.T) {
	event := (&changeEvent{ts: pack(bson.Timestamp{T: 9, I: 9}), op: opInsert, uuid: make([]byte, 16),
		docKey: bson.Raw(marshal(t, bson.D{{Key: "_id", Value: 1}}))}).resumeToken().data()
	cases := []struct {
		name string
		doc  bson.D
		code mongoerr.Code
	}{
		{"no _data", bson.D{{Key: "x", Value: 1}}, 40647},
		{"_data not a string", bson.D{{Key: "_data", Value: 1}}, 40647},
		{"not hex", bson.D{{Key: "_data", Value: "zz"}}, mongoerr.FailedToParse},
		{"empty", bson.D{{Key: "_data", Value: ""}}, 40649},
		{"no timestamp", bson.D{{Key: "_data", Value: "2B02"}}, 50811},
		{"bad version", bson.D{{Key: "_data", Value: "8200000001000000012B0A04"}}, 50795},
		{"truncated", bson.D{{Key: "_data", Value: event[:40]}}, mongoerr.InvalidUUID},
		{"trailing bytes", bson.D{{Key: "_data", Value: event[:len(event)-2] + "0A04"}}, 40646},
		{"bad _typeBits", bson.D{{Key: "_data", Value: event}, {Key: "_typeBits", Value: "x"}}, 40648},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := parseResumeToken(bson.Raw(marshal(t, c.doc)))
			if e := mongoerr.As(err); e == nil || e.Code != c.code {
				t.Fatalf("got %v, want code %d", err, c.code)
			}
		})
	}
	if _, _, err := parseResumeToken(bson.Raw(marshal(t, bson.D{{Key: "_data", Value: event}}))); err != nil {
		t.Fatalf("a valid token: %v", err)
	}
}
