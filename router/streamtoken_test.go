package router

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Shard tokens as mongod writes them (resume_token.cpp): a high-water mark at a time, and an
// event's token (memshard's, with a collection UUID and documentKey).
const (
	hwmToken   = "8269B03187000000022B0429296E1404"
	eventToken = "826B118EA7000000012B042C0100296E5A100468387AE6BD004B1AA030AEE096AFF1E5463C6F7065726174696F6E54797065003C696E736572740046646F63756D656E744B65790046645F696400646B118EA74EDB47ED75178788000004"
)

func tokenOf(data string) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().AppendString("_data", data).Build()
}

// TestStreamTokenRoundTrip: a shard's token with the shard's name is the router's token, which
// reads back as the same shard token and shard; a shard's own token reads as no shard's.
func TestStreamTokenRoundTrip(t *testing.T) {
	typeBits := []byte{0x01}
	shardTok := bsoncore.NewDocumentBuilder().AppendString("_data", eventToken).
		AppendBinary("_typeBits", bson.TypeBinaryGeneric, typeBits).Build()
	pos, err := shardPos(shardTok, "rs1")
	if err != nil {
		t.Fatal(err)
	}
	routerTok := pos.routerToken()
	data := bson.Raw(routerTok).Lookup("_data").StringValue()
	if want := eventToken + "727331" + "03" + "F1"; data != want {
		t.Fatalf("router token %s, want %s", data, want)
	}
	back, routed, err := parseStreamToken(routerTok)
	if err != nil || !routed || back.compare(pos) != 0 || !slices.Equal(back.typeBits, typeBits) {
		t.Fatalf("read back %+v routed %v (%v), want %+v", back, routed, err, pos)
	}
	if !bsoncore.Document(back.shardToken()).Lookup("_data").Equal(bsoncore.Document(shardTok).Lookup("_data")) {
		t.Fatalf("the shard's token is not given back as it was: %v", bson.Raw(back.shardToken()))
	}
	if got := back.clusterTime(); got != (bson.Timestamp{T: 0x6B118EA7, I: 1}) {
		t.Fatalf("cluster time %v", got)
	}
	raw, routed, err := parseStreamToken(tokenOf(hwmToken))
	if err != nil || routed || raw.shard != "" || raw.data != hwmToken {
		t.Fatalf("a shard's token: %+v routed %v %v", raw, routed, err)
	}
	if _, err := shardPos(routerTok, "rs1"); err == nil {
		t.Fatal("a shard returning a router's token was accepted")
	}
}

// TestStreamTokenOrder: the router's tokens sort as the positions they name: by the shard's
// token (its cluster time first), then by the shard's name; a time's position comes before
// every token at that time and after every earlier one.
func TestStreamTokenOrder(t *testing.T) {
	at := func(ts bson.Timestamp, rest string, shard string) streamPos {
		return streamPos{data: timePos(ts).data + rest, shard: shard}
	}
	early, late := bson.Timestamp{T: 100, I: 7}, bson.Timestamp{T: 100, I: 8}
	positions := []streamPos{
		at(early, "2B0429296E1404", "rs1"), // a high-water mark
		at(early, "2B042C010029", "rs0"),
		at(early, "2B042C010029", "rs1"), // the same shard token from another shard: by name
		at(early, "2B042C010129", "rs0"),
		timePos(late),
		at(late, "2B0429296E1404", ""),
		at(late, "2B042C010029", "rs10"),
	}
	for i := 1; i < len(positions); i++ {
		a, b := positions[i-1], positions[i]
		if a.compare(b) >= 0 || b.compare(a) <= 0 {
			t.Fatalf("position %d does not sort before %d: %+v %+v", i-1, i, a, b)
		}
		ta := bson.Raw(a.routerToken()).Lookup("_data").StringValue()
		tb := bson.Raw(b.routerToken()).Lookup("_data").StringValue()
		if a.shard != b.shard && a.data == b.data {
			continue // equal shard tokens: names of different lengths need not sort as strings
		}
		if ta >= tb {
			t.Fatalf("router tokens do not sort as their positions: %s %s", ta, tb)
		}
	}
}

func TestStreamTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		doc  bsoncore.Document
		code mongoerr.Code
	}{
		{bsoncore.NewDocumentBuilder().AppendInt32("_data", 1).Build(), 40647},
		{bsoncore.NewDocumentBuilder().Build(), 40647},
		{bsoncore.NewDocumentBuilder().AppendString("_data", hwmToken).AppendString("_typeBits", "x").Build(), 40648},
		{tokenOf("XYZ"), mongoerr.FailedToParse},
		{tokenOf("8201"), 50811},
		{tokenOf("01" + hwmToken[2:]), 50811},
		{tokenOf(hwmToken + "FFF1"), mongoerr.InvalidResumeToken}, // a name longer than the token
	} {
		_, _, err := parseStreamToken(tc.doc)
		if e := mongoerr.As(err); err == nil || e.Code != tc.code {
			t.Errorf("%v: %v, want code %d", bson.Raw(tc.doc), err, tc.code)
		}
	}
}

// TestParseStreamStart: where a $changeStream starts, with mongod's errors for a start given
// twice or of the wrong type.
func TestParseStreamStart(t *testing.T) {
	ts := bson.Timestamp{T: 200, I: 3}
	spec := func(d bson.D) bsoncore.Document {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	s, err := parseStreamStart(spec(bson.D{{Key: "fullDocument", Value: "updateLookup"}, {Key: "startAtOperationTime", Value: ts}}))
	if err != nil || s.kind != "startAtOperationTime" || s.pos.compare(timePos(ts)) != 0 || s.routed {
		t.Fatalf("startAtOperationTime: %+v %v", s, err)
	}
	pos := streamPos{data: eventToken, shard: "rs2"}
	s, err = parseStreamStart(spec(bson.D{{Key: "startAfter", Value: bson.Raw(pos.routerToken())}}))
	if err != nil || s.kind != "startAfter" || s.pos.compare(pos) != 0 || !s.routed {
		t.Fatalf("startAfter: %+v %v", s, err)
	}
	if s, err = parseStreamStart(spec(bson.D{})); err != nil || s.kind != "" {
		t.Fatalf("no start: %+v %v", s, err)
	}
	for _, tc := range []struct {
		d    bson.D
		code mongoerr.Code
	}{
		{bson.D{{Key: "resumeAfter", Value: bson.Raw(tokenOf(hwmToken))}, {Key: "startAtOperationTime", Value: ts}}, 40674},
		{bson.D{{Key: "resumeAfter", Value: "x"}}, mongoerr.TypeMismatch},
		{bson.D{{Key: "startAtOperationTime", Value: 5}}, mongoerr.TypeMismatch},
		{bson.D{{Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: 1}}}}, 40647},
	} {
		if _, err := parseStreamStart(spec(tc.d)); mongoerr.As(err).Code != tc.code || err == nil {
			t.Errorf("%v: %v, want code %d", tc.d, err, tc.code)
		}
	}
}

// TestStreamOpenCommand: each shard runs the client's aggregate with its own start in place of
// the client's, and the client's later stages.
func TestStreamOpenCommand(t *testing.T) {
	body, err := bson.Marshal(bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$changeStream", Value: bson.D{{Key: "fullDocument", Value: "updateLookup"}, {Key: "resumeAfter", Value: bson.D{{Key: "_data", Value: "82"}}}}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "x", Value: 1}}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := bsoncore.Document(body).Lookup("pipeline", "0", "$changeStream").DocumentOK()
	open := streamOpen{body: body, spec: withoutKeys(spec, changeStreamStartKeys...)}
	got := bson.Raw(open.command("startAtOperationTime", tsValue(bson.Timestamp{T: 9, I: 1}))).String()
	want := `{"aggregate": {"$numberInt":"1"},"pipeline": [{"$changeStream": {"fullDocument": "updateLookup","startAtOperationTime": {"$timestamp":{"t":9,"i":1}}}},{"$match": {"x": {"$numberInt":"1"}}}],"cursor": {},"$db": "admin"}`
	if got != want {
		t.Fatalf("shard command\n got %s\nwant %s", got, want)
	}
	if strings.Contains(fmt.Sprint(bson.Raw(open.spec)), "resumeAfter") {
		t.Fatal("the client's start was kept")
	}
}
