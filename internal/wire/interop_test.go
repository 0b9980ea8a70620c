package wire

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// The official driver's wiremessage readers and writers are the reference for interop: frames we
// build must read back with them, and frames built the way the driver builds them must parse here.

// driverSections reads an OP_MSG the way the driver does, checksum aside.
func driverSections(t *testing.T, frame []byte) (wiremessage.MsgFlag, bsoncore.Document, map[string][]bsoncore.Document) {
	t.Helper()
	length, _, _, op, rem, ok := wiremessage.ReadHeader(frame)
	if !ok || int(length) != len(frame) || op != wiremessage.OpMsg {
		t.Fatalf("driver header: ok %v, length %d of %d, opcode %v", ok, length, len(frame), op)
	}
	flags, rem, ok := wiremessage.ReadMsgFlags(rem)
	if !ok {
		t.Fatal("driver: no flags")
	}
	if flags&wiremessage.ChecksumPresent != 0 {
		if _, _, ok := wiremessage.ReadMsgChecksum(rem[len(rem)-4:]); !ok {
			t.Fatal("driver: no checksum")
		}
		rem = rem[:len(rem)-4]
	}
	var body bsoncore.Document
	seqs := map[string][]bsoncore.Document{}
	for len(rem) > 0 {
		var stype wiremessage.SectionType
		stype, rem, _ = wiremessage.ReadMsgSectionType(rem)
		switch stype {
		case wiremessage.SingleDocument:
			body, rem, ok = wiremessage.ReadMsgSectionSingleDocument(rem)
		case wiremessage.DocumentSequence:
			var id string
			var docs []bsoncore.Document
			id, docs, rem, ok = wiremessage.ReadMsgSectionDocumentSequence(rem)
			seqs[id] = docs
		default:
			t.Fatalf("driver: section kind %d", stype)
		}
		if !ok {
			t.Fatalf("driver: malformed section of kind %d", stype)
		}
	}
	return flags, body, seqs
}

func TestDriverReadsOurOpMsg(t *testing.T) {
	seq := docsSequence("documents", 4)
	for _, checksum := range []bool{false, true} {
		frame := AppendMsg(nil, 3, 4, MoreToCome, insertBody(), seq)
		if checksum {
			frame = AddChecksum(frame)
		}
		flags, body, seqs := driverSections(t, frame)
		if flags&^ChecksumPresent != MoreToCome || !bytes.Equal(body, insertBody()) {
			t.Fatalf("driver read flags %v, body %s", flags, body)
		}
		want, _ := seq.Docs()
		got := seqs["documents"]
		if len(got) != len(want) {
			t.Fatalf("driver read %d documents, want %d", len(got), len(want))
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("document %d differs", i)
			}
		}
		if !wiremessage.IsMsgMoreToCome(frame) {
			t.Error("driver does not see moreToCome")
		}
	}
}

// driverMsg builds an insert the way the driver's operation does: body, then its batch sequence.
func driverMsg(t *testing.T) ([]byte, []bsoncore.Document) {
	t.Helper()
	docs, err := docsSequence("documents", 3).Docs()
	if err != nil {
		t.Fatal(err)
	}
	idx, dst := wiremessage.AppendHeaderStart(nil, 99, 0, wiremessage.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, 0)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	dst = append(dst, insertBody()...)
	batches := &driver.Batches{Identifier: "documents", Documents: docs}
	n, dst, err := batches.AppendBatchSequence(dst, 100, 1<<20)
	if err != nil || n != len(docs) {
		t.Fatalf("AppendBatchSequence: %d, %v", n, err)
	}
	return bsoncore.UpdateLength(dst, idx, int32(len(dst[idx:]))), docs
}

func TestWeReadDriverOpMsg(t *testing.T) {
	frame, docs := driverMsg(t)
	m, err := ParseMsg(frame)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.RequestID != 99 || !bytes.Equal(m.Body, insertBody()) || len(m.Sequences) != 1 || m.Sequences[0].Identifier != "documents" {
		t.Fatalf("ParseMsg = %+v", m)
	}
	got, err := m.Sequences[0].Docs()
	if err != nil || len(got) != len(docs) {
		t.Fatalf("Docs: %d, %v", len(got), err)
	}
	// Re-encoding what we parsed gives the driver's bytes back.
	if again := AppendMsg(nil, 99, 0, m.Flags, m.Body, m.Sequences...); !bytes.Equal(again, frame) {
		t.Fatal("AppendMsg(ParseMsg(driver frame)) differs from the driver frame")
	}
}

func TestDriverReadsOurOpQueryAndReply(t *testing.T) {
	frame := helloQuery()
	_, reqID, _, op, rem, ok := wiremessage.ReadHeader(frame)
	if !ok || op != wiremessage.OpQuery || reqID != 1 {
		t.Fatalf("driver header: %v %v %d", ok, op, reqID)
	}
	_, rem, _ = wiremessage.ReadQueryFlags(rem)
	ns, rem, _ := wiremessage.ReadQueryFullCollectionName(rem)
	_, rem, _ = wiremessage.ReadQueryNumberToSkip(rem)
	ntr, rem, _ := wiremessage.ReadQueryNumberToReturn(rem)
	query, rem, ok := wiremessage.ReadQueryQuery(rem)
	if !ok || ns != "admin.$cmd" || ntr != -1 || !bytes.Equal(query, helloDoc()) || len(rem) != 0 {
		t.Fatalf("driver read ns %q, numberToReturn %d, query %s, %d left", ns, ntr, query, len(rem))
	}

	reply := AppendReply(nil, 2, 1, helloDoc())
	_, _, respTo, op, rem, _ := wiremessage.ReadHeader(reply)
	_, rem, _ = wiremessage.ReadReplyFlags(rem)
	_, rem, _ = wiremessage.ReadReplyCursorID(rem)
	_, rem, _ = wiremessage.ReadReplyStartingFrom(rem)
	n, rem, _ := wiremessage.ReadReplyNumberReturned(rem)
	docs, _, _ := wiremessage.ReadReplyDocuments(rem)
	if op != wiremessage.OpReply || respTo != 1 || n != 1 || len(docs) != 1 || !bytes.Equal(docs[0], helloDoc()) {
		t.Fatalf("driver read opcode %v, responseTo %d, %d/%d documents", op, respTo, n, len(docs))
	}
}

func TestCompressedInterop(t *testing.T) {
	frame := insertMsg()
	for _, id := range compressors {
		t.Run(id.String(), func(t *testing.T) {
			// Ours, read as the driver reads a compressed reply.
			c, err := Compress(frame, id)
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, _, rem, _ := wiremessage.ReadHeader(c)
			orig, rem, _ := wiremessage.ReadCompressedOriginalOpCode(rem)
			size, rem, _ := wiremessage.ReadCompressedUncompressedSize(rem)
			gotID, rem, _ := wiremessage.ReadCompressedCompressorID(rem)
			out, err := driver.DecompressPayload(rem, driver.CompressionOpts{Compressor: gotID, UncompressedSize: size})
			if err != nil || orig != OpMsg || gotID != id || !bytes.Equal(out, frame[HeaderLen:]) {
				t.Fatalf("driver decompressed opcode %v, compressor %v: %v", orig, gotID, err)
			}

			// The driver's, built as its connection compresses a request.
			_, reqID, respTo, op, body, _ := wiremessage.ReadHeader(frame)
			idx, dst := wiremessage.AppendHeaderStart(nil, reqID, respTo, wiremessage.OpCompressed)
			dst = wiremessage.AppendCompressedOriginalOpCode(dst, op)
			dst = wiremessage.AppendCompressedUncompressedSize(dst, int32(len(body)))
			dst = wiremessage.AppendCompressedCompressorID(dst, id)
			dst = wiremessage.AppendCompressedCompressedMessage(dst, mustCompressPayload(t, body, id))
			dst = bsoncore.UpdateLength(dst, idx, int32(len(dst[idx:])))
			back, backID, err := Decompress(dst)
			if err != nil || backID != id || !bytes.Equal(back, frame) {
				t.Fatalf("Decompress(driver frame): %v", err)
			}
		})
	}
}
