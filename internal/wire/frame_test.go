package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// frameOfLength is a header claiming n bytes followed by body bytes (which may be fewer).
func frameOfLength(n int32, body int) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(n))
	return append(b, make([]byte, body)...)
}

// zeros is an endless source of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// largestRead records the largest buffer a reader was asked to fill.
type largestRead struct {
	r   io.Reader
	max int
}

func (l *largestRead) Read(p []byte) (int, error) {
	l.max = max(l.max, len(p))
	return l.r.Read(p)
}

func TestReadFrameBounds(t *testing.T) {
	tests := []struct {
		name    string
		length  int32
		wantErr bool
	}{
		{"negative", -1, true},
		{"zero", 0, true},
		{"below header", 15, true},
		{"header only", 16, false},
		{"typical", 1000, false},
		{"one chunk and a bit", readChunk + 5, false},
		{"max", MaxFrameLen, false},
		{"above max", MaxFrameLen + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(frameOfLength(tt.length, 0)), zeros{})
			got, err := ReadFrame(r, nil)
			if tt.wantErr {
				requireCode(t, err, mongoerr.ProtocolError)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != int(tt.length) || int32(binary.LittleEndian.Uint32(got)) != tt.length {
				t.Fatalf("got %d bytes with length field %d, want %d", len(got), binary.LittleEndian.Uint32(got), tt.length)
			}
		})
	}
}

func TestReadFrameShortInput(t *testing.T) {
	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"nothing", nil, io.EOF},
		{"part of the length", []byte{100, 0}, io.ErrUnexpectedEOF},
		{"length only", frameOfLength(100, 0), io.ErrUnexpectedEOF},
		{"truncated body", frameOfLength(100, 50), io.ErrUnexpectedEOF},
		{"one byte short", frameOfLength(100, 95), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tt.input), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if errors.Is(err, ErrBadFrame) {
				t.Fatalf("a short read is not a bad frame: %v", err)
			}
		})
	}
}

func TestReadFrameBackToBackAndReuse(t *testing.T) {
	first, second := findMsg(), insertMsg()
	r := bytes.NewReader(append(append([]byte{}, first...), second...))
	buf := make([]byte, 0, 4096)
	got, err := ReadFrame(r, buf)
	if err != nil || !bytes.Equal(got, first) {
		t.Fatalf("first frame: %v, equal %v", err, bytes.Equal(got, first))
	}
	if &got[0] != &buf[:1][0] {
		t.Error("a large enough buffer was not reused")
	}
	got, err = ReadFrame(r, got)
	if err != nil || !bytes.Equal(got, second) {
		t.Fatalf("second frame: %v, equal %v", err, bytes.Equal(got, second))
	}
	if _, err := ReadFrame(r, got); err != io.EOF {
		t.Fatalf("after the last frame err = %v, want io.EOF", err)
	}
}

// Frames larger than a chunk are read in growing pieces; every byte must land in place.
func TestReadFrameLargeContent(t *testing.T) {
	for _, n := range []int{readChunk - 1, readChunk, 3*readChunk + 7} {
		want := make([]byte, n)
		rand.NewChaCha8([32]byte{byte(n)}).Read(want)
		binary.LittleEndian.PutUint32(want, uint32(n))
		for _, buf := range [][]byte{nil, make([]byte, 0, n), make([]byte, 0, readChunk+1)} {
			got, err := ReadFrame(iotest.HalfReader(bytes.NewReader(want)), buf)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("n=%d cap=%d: err %v, equal %v", n, cap(buf), err, bytes.Equal(got, want))
			}
		}
	}
}

// A peer announcing a huge frame and sending little must not make us allocate it all up front.
func TestReadFrameAllocatesAsDataArrives(t *testing.T) {
	lr := &largestRead{r: bytes.NewReader(frameOfLength(MaxFrameLen, 10))}
	if _, err := ReadFrame(lr, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	if lr.max > readChunk {
		t.Fatalf("asked the reader for %d bytes at once, want at most %d before data arrives", lr.max, readChunk)
	}
}

func TestParseHeader(t *testing.T) {
	msg := findMsg()
	h, err := ParseHeader(msg)
	if err != nil {
		t.Fatal(err)
	}
	if h.Length != int32(len(msg)) || h.RequestID != 7 || h.ResponseTo != 0 || h.OpCode != OpMsg {
		t.Fatalf("header = %+v", h)
	}
	for _, bad := range [][]byte{nil, msg[:15], msg[:len(msg)-1], append(append([]byte{}, msg...), 0)} {
		_, err := ParseHeader(bad)
		requireCode(t, err, mongoerr.ProtocolError)
	}
}

func TestSetIDs(t *testing.T) {
	for _, checksum := range []bool{false, true} {
		msg := insertMsg()
		if checksum {
			msg = AddChecksum(msg)
		}
		n := len(msg)
		SetRequestID(msg, 42)
		SetResponseTo(msg, -3)
		if len(msg) != n {
			t.Fatalf("length changed from %d to %d", n, len(msg))
		}
		m, err := ParseMsg(msg) // the checksum, which covers the header, must still hold
		if err != nil {
			t.Fatalf("checksum %v: %v", checksum, err)
		}
		if m.Header.RequestID != 42 || m.Header.ResponseTo != -3 {
			t.Fatalf("header = %+v", m.Header)
		}
	}
	// Other opcodes are left alone apart from the field itself.
	q := helloQuery()
	before := append([]byte{}, q...)
	SetResponseTo(q, 9)
	binary.LittleEndian.PutUint32(before[8:], 9)
	if !bytes.Equal(q, before) {
		t.Fatal("SetResponseTo changed more than responseTo of an OP_QUERY")
	}
}
