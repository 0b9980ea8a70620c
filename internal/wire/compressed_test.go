package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// compressedFrame builds an OP_COMPRESSED frame field by field, so tests can make it lie.
func compressedFrame(orig wiremessage.OpCode, size int32, id wiremessage.CompressorID, payload []byte) []byte {
	out := wiremessage.AppendHeader(nil, 0, 21, 22, OpCompressed)
	out = wiremessage.AppendCompressedOriginalOpCode(out, orig)
	out = wiremessage.AppendCompressedUncompressedSize(out, size)
	out = wiremessage.AppendCompressedCompressorID(out, id)
	return SetLength(append(out, payload...))
}

func mustCompressPayload(t *testing.T, in []byte, id wiremessage.CompressorID) []byte {
	t.Helper()
	out, err := driver.CompressPayload(in, driver.CompressionOpts{
		Compressor: id, ZlibLevel: wiremessage.DefaultZlibLevel, ZstdLevel: wiremessage.DefaultZstdLevel,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var compressors = []wiremessage.CompressorID{CompressorSnappy, CompressorZlib, CompressorZstd}

func TestCompressRoundTrip(t *testing.T) {
	frames := map[string][]byte{
		"insert": insertMsg(), "hello": helloQuery(), "reply": AppendReply(nil, 1, 2, helloDoc()),
		"checksum": AddChecksum(findMsg()), "large": AppendMsg(nil, 1, 0, 0, insertBody(), docsSequence("documents", 5000)),
	}
	for name, frame := range frames {
		for _, id := range compressors {
			t.Run(name+"/"+id.String(), func(t *testing.T) {
				c, err := Compress(frame, id)
				if err != nil {
					t.Fatal(err)
				}
				h, err := ParseHeader(c)
				if err != nil || h.OpCode != OpCompressed {
					t.Fatalf("compressed header %+v, %v", h, err)
				}
				orig, _ := ParseHeader(frame)
				if h.RequestID != orig.RequestID || h.ResponseTo != orig.ResponseTo {
					t.Errorf("ids %d/%d, want %d/%d", h.RequestID, h.ResponseTo, orig.RequestID, orig.ResponseTo)
				}
				got, gotID, err := Decompress(c)
				if err != nil {
					t.Fatal(err)
				}
				if gotID != id || !bytes.Equal(got, frame) {
					t.Fatalf("Decompress gave compressor %v and a different frame", gotID)
				}
			})
		}
	}
}

func TestCompressNoop(t *testing.T) {
	frame := insertMsg()
	c, err := Compress(frame, CompressorNoop)
	if err != nil || !bytes.Equal(c, frame) {
		t.Fatalf("Compress(noop) = %v, want the frame as is", err)
	}
	// A client may still send OP_COMPRESSED with the noop compressor.
	got, id, err := Decompress(compressedFrame(OpMsg, int32(len(frame)-HeaderLen), CompressorNoop, frame[HeaderLen:]))
	if err != nil {
		t.Fatal(err)
	}
	if id != CompressorNoop || !bytes.Equal(got[HeaderLen:], frame[HeaderLen:]) {
		t.Fatal("noop Decompress changed the message")
	}
	if h, _ := ParseHeader(got); h.RequestID != 21 || h.ResponseTo != 22 || h.OpCode != OpMsg {
		t.Fatalf("rebuilt header %+v", h)
	}
}

func TestCompressRefuses(t *testing.T) {
	c, err := Compress(insertMsg(), CompressorZlib)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compress(c, CompressorZstd); err == nil {
		t.Error("compressed an OP_COMPRESSED frame")
	}
	if _, err := Compress(insertMsg()[:20], CompressorSnappy); err == nil {
		t.Error("compressed a frame whose header lies")
	}
	if _, err := Compress(insertMsg(), 42); err == nil {
		t.Error("compressed with an unknown compressor")
	}
}

// As mongod, a frame that would not fit the limit once compressed goes out uncompressed.
func TestCompressKeepsOversizedFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 48 MB frame")
	}
	frame := make([]byte, MaxFrameLen)
	rand.NewChaCha8([32]byte{7}).Read(frame) // incompressible
	frame = wiremessage.AppendHeader(frame[:0], 0, 1, 0, OpMsg)[:MaxFrameLen]
	SetLength(frame)
	c, err := Compress(frame, CompressorSnappy)
	if err != nil {
		t.Fatal(err)
	}
	if &c[0] != &frame[0] || len(c) != len(frame) {
		t.Fatal("an oversized compressed frame was returned")
	}
}

func TestDecompressRejects(t *testing.T) {
	frame := insertMsg()
	body := frame[HeaderLen:]
	size := int32(len(body))
	type rejectCase struct {
		name  string
		frame []byte
		code  mongoerr.Code
	}
	tests := []rejectCase{
		{"not OP_COMPRESSED", frame, mongoerr.ProtocolError},
		{"header too short", SetLength(wiremessage.AppendHeader(nil, 0, 1, 0, OpCompressed)), mongoerr.BadValue},
		{"nested OP_COMPRESSED", compressedFrame(OpCompressed, size, CompressorNoop, body), mongoerr.ProtocolError},
		{"negative size", compressedFrame(OpMsg, -1, CompressorNoop, body), mongoerr.BadValue},
		{"size above the frame limit", compressedFrame(OpMsg, MaxFrameLen-HeaderLen+1, CompressorNoop, body), mongoerr.BadValue},
		{"unknown compressor", compressedFrame(OpMsg, size, 9, body), mongoerr.InternalError},
		{"noop size too large", compressedFrame(OpMsg, size+1, CompressorNoop, body), mongoerr.BadValue},
		{"noop size too small", compressedFrame(OpMsg, size-1, CompressorNoop, body), mongoerr.BadValue},
	}
	for _, id := range compressors {
		payload := mustCompressPayload(t, body, id)
		// zlib and zstd carry checksums, so flipping data bytes must be caught; snappy has none,
		// so its stream is cut into copies that reach before the start of the output.
		corrupt := append([]byte{}, payload...)
		for i := len(corrupt) / 2; i < len(corrupt)/2+4; i++ {
			corrupt[i] ^= 0x5a
		}
		if id == CompressorSnappy {
			_, n := binary.Uvarint(corrupt)
			for i := n; i < len(corrupt); i++ {
				corrupt[i] = 0xff
			}
		}
		tests = append(tests,
			rejectCase{id.String() + " corrupted", compressedFrame(OpMsg, size, id, corrupt), mongoerr.BadValue},
			rejectCase{id.String() + " truncated", compressedFrame(OpMsg, size, id, payload[:len(payload)-2]), mongoerr.BadValue},
			rejectCase{id.String() + " size too large", compressedFrame(OpMsg, size+1, id, payload), mongoerr.BadValue},
			rejectCase{id.String() + " size too small", compressedFrame(OpMsg, size-1, id, payload), mongoerr.BadValue},
			rejectCase{id.String() + " size zero", compressedFrame(OpMsg, 0, id, payload), mongoerr.BadValue},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Decompress(tt.frame)
			requireCode(t, err, tt.code)
		})
	}
}

// A size no payload of that length can reach is refused before the message is allocated.
func TestDecompressRefusesImplausibleSizeCheaply(t *testing.T) {
	body := insertMsg()[HeaderLen:]
	const lie = 40_000_000
	for _, id := range append([]wiremessage.CompressorID{CompressorNoop}, compressors...) {
		payload := body
		if id != CompressorNoop {
			payload = mustCompressPayload(t, body, id)
		}
		frame := compressedFrame(OpMsg, lie, id, payload)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Decompress(frame)
		runtime.ReadMemStats(&after)
		requireCode(t, err, mongoerr.BadValue)
		// Decoders set up about 1 MB of their own state on first use; the lie is 40 MB.
		if n := after.TotalAlloc - before.TotalAlloc; n > lie/10 {
			t.Errorf("%v: allocated %d bytes to refuse a %d-byte frame", id, n, len(frame))
		}
	}
}

// A claimed size is never trusted: a lying header must not make a small payload inflate past it.
func TestDecompressZstdStaysWithinAnnouncedSize(t *testing.T) {
	big := make([]byte, 1<<20)
	payload := mustCompressPayload(t, big, CompressorZstd)
	if len(payload) > 1024 {
		t.Fatalf("zeros compressed to %d bytes", len(payload))
	}
	_, _, err := Decompress(compressedFrame(OpMsg, 100, CompressorZstd, payload))
	requireCode(t, err, mongoerr.BadValue)
	got, _, err := Decompress(compressedFrame(OpMsg, int32(len(big)), CompressorZstd, payload))
	if err != nil || len(got) != HeaderLen+len(big) {
		t.Fatalf("honest size: %d bytes, %v", len(got), err)
	}
	if binary.LittleEndian.Uint32(got) != uint32(len(got)) {
		t.Fatal("rebuilt header has the wrong length")
	}
}
