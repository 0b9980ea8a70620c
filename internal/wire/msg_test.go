package wire

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

func TestParseMsgRoundTrip(t *testing.T) {
	updates := Sequence{Identifier: "updates", Raw: marshal(bson.D{
		{Key: "q", Value: bson.D{{Key: "_id", Value: int32(1)}}},
		{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: int32(2)}}}}},
	})}
	tests := []struct {
		name     string
		flags    wiremessage.MsgFlag
		seqs     []Sequence
		checksum bool
	}{
		{name: "body only"},
		{name: "insert documents", seqs: []Sequence{docsSequence("documents", 3)}},
		{name: "two sequences", seqs: []Sequence{docsSequence("documents", 2), updates}},
		{name: "empty sequence", seqs: []Sequence{{Identifier: "documents"}}},
		{name: "moreToCome", flags: MoreToCome, seqs: []Sequence{docsSequence("documents", 1)}},
		{name: "exhaustAllowed is optional, so accepted", flags: ExhaustAllowed},
		{name: "unknown optional bit accepted", flags: 1 << 20},
		{name: "checksum", seqs: []Sequence{docsSequence("documents", 3)}, checksum: true},
		{name: "checksum and moreToCome", flags: MoreToCome, checksum: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := insertBody()
			frame := AppendMsg([]byte("prefix"), 11, 12, tt.flags, body, tt.seqs...)
			if !bytes.Equal(frame[:6], []byte("prefix")) {
				t.Fatal("AppendMsg overwrote dst")
			}
			frame = frame[6:]
			wantFlags := tt.flags
			if tt.checksum {
				frame = AddChecksum(frame)
				wantFlags |= ChecksumPresent
			}
			m, err := ParseMsg(frame)
			if err != nil {
				t.Fatal(err)
			}
			want := Msg{
				Header: Header{Length: int32(len(frame)), RequestID: 11, ResponseTo: 12, OpCode: OpMsg},
				Flags:  wantFlags, Body: body, Sequences: tt.seqs,
			}
			if len(tt.seqs) > 0 && len(tt.seqs[0].Raw) == 0 {
				want.Sequences = []Sequence{{Identifier: tt.seqs[0].Identifier, Raw: []byte{}}}
			}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("ParseMsg =\n %+v\nwant\n %+v", m, want)
			}
			if got := CommandName(m.Body); got != "insert" {
				t.Errorf("CommandName = %q", got)
			}
		})
	}
}

// A body may follow the sequences (the OP_MSG spec puts no order on sections).
func TestParseMsgBodyAfterSequence(t *testing.T) {
	seq := docsSequence("documents", 2)
	m, err := ParseMsg(rawMsg(0, seqSection(seq), bodySection(insertBody())))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Body, insertBody()) || len(m.Sequences) != 1 || !bytes.Equal(m.Sequences[0].Raw, seq.Raw) {
		t.Fatalf("ParseMsg = %+v", m)
	}
}

func TestParseMsgRejects(t *testing.T) {
	body := bodySection(findBody())
	corrupted := AddChecksum(findMsg())
	corrupted[30] ^= 1
	badElement := append([]byte{}, findBody()...)
	badElement[4] = 0x7f // type of the first element
	truncatedDoc := docsSequence("documents", 2)
	truncatedDoc.Raw = truncatedDoc.Raw[:len(truncatedDoc.Raw)-3]
	dotted := marshal(bson.D{{Key: "update", Value: "c"}, {Key: "a", Value: bson.D{{Key: "b", Value: int32(1)}}}})
	withArray := marshal(bson.D{{Key: "update", Value: "c"}, {Key: "a", Value: bson.A{int32(1)}}})
	seqOfLen := func(n uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{1}, n) }

	tests := []struct {
		name  string
		frame []byte
		code  mongoerr.Code
		msg   string
	}{
		{"not OP_MSG", helloQuery(), mongoerr.ProtocolError, ""},
		{"too short for flags", SetLength(wiremessage.AppendHeader(nil, 0, 1, 0, OpMsg)), mongoerr.ProtocolError, ""},
		{"unknown required flag bit 2", rawMsg(1<<2, body), mongoerr.IllegalOpMsgFlag,
			"Message contains illegal flags value: Ob00000000000000000000000000000100"},
		{"unknown required flag bit 15", rawMsg(1<<15|uint32(ExhaustAllowed), body), mongoerr.IllegalOpMsgFlag,
			"Message contains illegal flags value: Ob00000000000000011000000000000000"},
		{"checksum flag without room", rawMsg(uint32(ChecksumPresent), []byte{0, 0, 0, 0}), 51251, ""},
		{"checksum mismatch", corrupted, mongoerr.ChecksumMismatch, "OP_MSG checksum does not match contents"},
		{"no sections", rawMsg(0), 40587, "OP_MSG messages must have a body"},
		{"only a sequence", rawMsg(0, seqSection(docsSequence("documents", 1))), 40587, ""},
		{"two bodies", rawMsg(0, body, body), 40430, "Multiple body sections in message"},
		{"unknown section kind", rawMsg(0, body, []byte{3, 5, 0, 0, 0, 0}), 40432, "Unknown section kind 3"},
		{"security token", rawMsg(0, []byte{2, 5, 0, 0, 0, 0}, body), mongoerr.Unauthorized, "Unsupported Security Token provided"},
		{"three sequences", rawMsg(0, body, seqSection(docsSequence("a", 1)), seqSection(docsSequence("b", 1)),
			seqSection(docsSequence("c", 1))), mongoerr.TooManyDocumentSequences, "Too many document sequences in OP_MSG"},
		{"duplicate sequence", rawMsg(0, body, seqSection(docsSequence("documents", 1)), seqSection(docsSequence("documents", 1))),
			40431, "Duplicate document sequence: documents"},
		{"sequence also in body", rawMsg(0, bodySection(marshal(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{}}})),
			seqSection(docsSequence("documents", 1))), 40433, "Duplicate field between body and document sequence documents"},
		{"dotted sequence also in body", rawMsg(0, bodySection(dotted), seqSection(docsSequence("a.b", 1))), 40433, ""},
		{"array on the dotted path", rawMsg(0, bodySection(withArray), seqSection(docsSequence("a.b", 1))), 40433, ""},
		{"body length beyond frame", rawMsg(0, body[:len(body)-1]), mongoerr.InvalidBSON, ""},
		{"body length below 5", rawMsg(0, []byte{0, 4, 0, 0, 0}), mongoerr.InvalidBSON, ""},
		{"body with bad element", rawMsg(0, bodySection(badElement)), mongoerr.InvalidBSON, ""},
		{"stray byte after body", rawMsg(0, body, []byte{1}), mongoerr.ProtocolError, ""},
		{"sequence size below 4", rawMsg(0, body, seqOfLen(3)), mongoerr.ProtocolError, ""},
		{"sequence size beyond frame", rawMsg(0, body, append(seqOfLen(100), "documents\x00"...)), mongoerr.ProtocolError, ""},
		{"sequence identifier not terminated", rawMsg(0, body, append(seqOfLen(13), "documents"...)), mongoerr.ProtocolError, ""},
		{"sequence with truncated document", rawMsg(0, body, seqSection(truncatedDoc)), mongoerr.InvalidBSON, ""},
		{"sequence with invalid document", rawMsg(0, body, seqSection(Sequence{Identifier: "documents", Raw: badElement})),
			mongoerr.InvalidBSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMsg(tt.frame)
			requireCode(t, err, tt.code)
			if tt.msg != "" {
				if got := mongoerr.As(err).Msg; got != tt.msg {
					t.Errorf("message %q, want %q", got, tt.msg)
				}
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("Error() = %q lacks %q", err.Error(), tt.msg)
				}
			}
		})
	}
}

func TestSequenceDocs(t *testing.T) {
	seq := docsSequence("documents", 3)
	docs, err := seq.Docs()
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3", len(docs))
	}
	for i, d := range docs {
		if id := d.Lookup("_id").Int32(); id != int32(i) {
			t.Errorf("document %d has _id %d", i, id)
		}
	}
	if docs, err := (Sequence{Identifier: "documents"}).Docs(); err != nil || len(docs) != 0 {
		t.Errorf("empty sequence: %v, %v", docs, err)
	}
	seq.Raw = seq.Raw[:len(seq.Raw)-1]
	_, err = seq.Docs()
	requireCode(t, err, mongoerr.InvalidBSON)
}

// The router rewrites a client's frame, cuts its checksum off and has a fresh one added.
func TestAddChecksumAfterRewrite(t *testing.T) {
	msg := AddChecksum(insertMsg())
	binary.LittleEndian.PutUint32(msg[HeaderLen:], binary.LittleEndian.Uint32(msg[HeaderLen:])|uint32(ExhaustAllowed))
	if _, err := ParseMsg(msg); err == nil {
		t.Fatal("a flag change did not break the checksum")
	}
	msg = AddChecksum(msg[:len(msg)-4])
	m, err := ParseMsg(msg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Flags != ChecksumPresent|ExhaustAllowed {
		t.Errorf("flags = %v", m.Flags)
	}
}

func TestCommandName(t *testing.T) {
	tests := []struct {
		name string
		body bsoncore.Document
		want string
	}{
		{"find", findBody(), "find"},
		{"hello", helloDoc(), "isMaster"},
		{"not a common command", marshal(bson.D{{Key: "shardCollection", Value: "db.c"}}), "shardCollection"},
		{"empty document", marshal(bson.D{}), ""},
		{"nil", nil, ""},
		{"garbage", bsoncore.Document{1, 2, 3}, ""},
	}
	for _, tt := range tests {
		if got := CommandName(tt.body); got != tt.want {
			t.Errorf("%s: CommandName = %q, want %q", tt.name, got, tt.want)
		}
	}
}
