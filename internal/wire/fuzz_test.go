package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// Seeds live in testdata/fuzz/<FuzzName>/: real frames (hello over OP_QUERY, find and insert
// OP_MSGs with sequences and checksums, compressed frames) and near misses.

// checkBadFrame holds for every error a parser returns: it closes the connection and still
// answers in MongoDB's terms.
func checkBadFrame(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrBadFrame) {
		t.Fatalf("error %v does not wrap ErrBadFrame", err)
	}
	if e := mongoerr.As(err); e.Code == 0 || e.Msg == "" {
		t.Fatalf("error %v carries no code or message", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := ReadFrame(bytes.NewReader(data), nil)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) && err != io.EOF && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error %v", err)
			}
			if errors.Is(err, ErrBadFrame) {
				checkBadFrame(t, err)
			}
			return
		}
		if len(frame) < HeaderLen || len(frame) > MaxFrameLen || !bytes.Equal(frame, data[:len(frame)]) {
			t.Fatalf("read %d bytes that are not the input's first", len(frame))
		}
		if _, err := ParseHeader(frame); err != nil {
			t.Fatalf("ReadFrame returned a frame ParseHeader refuses: %v", err)
		}
	})
}

// Anything ParseMsg accepts re-encodes with AppendMsg (and AddChecksum) into a frame that parses
// to the same message.
func FuzzParseMsg(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := ParseMsg(frame)
		if err != nil {
			checkBadFrame(t, err)
			return
		}
		CommandName(m.Body)
		for _, s := range m.Sequences {
			if _, err := s.Docs(); err != nil {
				t.Fatalf("accepted sequence %q has bad documents: %v", s.Identifier, err)
			}
		}
		again := AppendMsg(nil, m.Header.RequestID, m.Header.ResponseTo, m.Flags, m.Body, m.Sequences...)
		if m.Flags&ChecksumPresent != 0 {
			again = AddChecksum(again)
		}
		m2, err := ParseMsg(again)
		if err != nil {
			t.Fatalf("re-encoded message does not parse: %v", err)
		}
		m.Header.Length = m2.Header.Length
		if len(m.Sequences) == 0 {
			m.Sequences = m2.Sequences
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded message differs:\n %+v\n %+v", m, m2)
		}
	})
}

// Anything ParseQuery accepts is rebuilt byte for byte from its fields.
func FuzzParseQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		q, err := ParseQuery(frame)
		if err != nil {
			checkBadFrame(t, err)
			return
		}
		q.Command()
		q.Database()
		out := wiremessage.AppendHeader(nil, 0, q.Header.RequestID, q.Header.ResponseTo, OpQuery)
		out = wiremessage.AppendQueryFlags(out, q.Flags)
		out = wiremessage.AppendQueryFullCollectionName(out, q.FullCollectionName)
		out = wiremessage.AppendQueryNumberToSkip(out, q.NumberToSkip)
		out = wiremessage.AppendQueryNumberToReturn(out, q.NumberToReturn)
		out = append(out, q.Query...)
		out = SetLength(append(out, q.ReturnFieldsSelector...))
		if !bytes.Equal(out, frame) {
			t.Fatalf("rebuilt frame differs from the accepted one")
		}
	})
}

// Anything Decompress accepts is a frame of the announced size with the original ids, and
// compressing it again with the same compressor gives it back.
func FuzzDecompress(f *testing.F) {
	f.Fuzz(func(t *testing.T, frame []byte) {
		out, id, err := Decompress(frame)
		if err != nil {
			checkBadFrame(t, err)
			return
		}
		in, _ := ParseHeader(frame)
		h, err := ParseHeader(out)
		if err != nil {
			t.Fatalf("decompressed frame has a bad header: %v", err)
		}
		if h.RequestID != in.RequestID || h.ResponseTo != in.ResponseTo || h.OpCode == OpCompressed ||
			h.OpCode != wiremessage.OpCode(binary.LittleEndian.Uint32(frame[HeaderLen:])) {
			t.Fatalf("decompressed header %+v from %+v", h, in)
		}
		if id == CompressorNoop {
			return
		}
		c, err := Compress(out, id)
		if err != nil {
			t.Fatalf("Compress: %v", err)
		}
		back, backID, err := Decompress(c)
		if err != nil || backID != id || !bytes.Equal(back, out) {
			t.Fatalf("round trip through %v: %v", id, err)
		}
	})
}
