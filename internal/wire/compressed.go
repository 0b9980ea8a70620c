package wire

import (
	"github.com/klauspost/compress/zstd"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// Compressor ids and the names hello negotiates.
const (
	CompressorNoop   = wiremessage.CompressorNoOp
	CompressorSnappy = wiremessage.CompressorSnappy
	CompressorZlib   = wiremessage.CompressorZLib
	CompressorZstd   = wiremessage.CompressorZstd
)

// CompressorNames maps the names used in hello's compression array to their ids, in our order
// of preference.
var CompressorNames = []struct {
	Name string
	ID   wiremessage.CompressorID
}{{"zstd", CompressorZstd}, {"snappy", CompressorSnappy}, {"zlib", CompressorZlib}}

// Decompress turns an OP_COMPRESSED frame back into the original frame (header rebuilt with the
// original opcode and the same ids). It returns the compressor used, so a reply can be
// compressed the same way. Errors wrap ErrBadFrame.
func Decompress(frame []byte) ([]byte, wiremessage.CompressorID, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return nil, 0, err
	}
	if h.OpCode != OpCompressed {
		return nil, 0, frameErr("opcode %d is not OP_COMPRESSED", h.OpCode)
	}
	rem := frame[HeaderLen:]
	orig, rem, ok := wiremessage.ReadCompressedOriginalOpCode(rem)
	if !ok {
		return nil, 0, frameErr("OP_COMPRESSED too short")
	}
	if orig == OpCompressed {
		return nil, 0, frameErr("OP_COMPRESSED wraps OP_COMPRESSED")
	}
	size, rem, ok := wiremessage.ReadCompressedUncompressedSize(rem)
	if !ok || size < 0 || size > MaxFrameLen-HeaderLen {
		return nil, 0, frameErr("OP_COMPRESSED uncompressed size %d out of bounds", size)
	}
	id, rem, ok := wiremessage.ReadCompressedCompressorID(rem)
	if !ok {
		return nil, 0, frameErr("OP_COMPRESSED too short")
	}
	out := make([]byte, HeaderLen, HeaderLen+int(size))
	out = wiremessage.AppendHeader(out[:0], 0, h.RequestID, h.ResponseTo, orig)
	switch id {
	case CompressorNoop:
		if len(rem) != int(size) {
			return nil, 0, frameErr("OP_COMPRESSED noop size mismatch")
		}
		out = append(out, rem...)
	case CompressorSnappy, CompressorZlib, CompressorZstd:
		body, err := decompressBounded(rem, id, size)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, body...)
	default:
		return nil, 0, frameErr("OP_COMPRESSED unknown compressor %d", id)
	}
	return SetLength(out), id, nil
}

// Compress wraps a whole frame in OP_COMPRESSED with the given compressor; noop returns it as is.
func Compress(frame []byte, id wiremessage.CompressorID) ([]byte, error) {
	if id == CompressorNoop {
		return frame, nil
	}
	h, err := ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	payload, err := driver.CompressPayload(frame[HeaderLen:], driver.CompressionOpts{
		Compressor: id, ZlibLevel: wiremessage.DefaultZlibLevel, ZstdLevel: wiremessage.DefaultZstdLevel,
	})
	if err != nil {
		return nil, err
	}
	out := wiremessage.AppendHeader(make([]byte, 0, HeaderLen+9+len(payload)), 0, h.RequestID, h.ResponseTo, OpCompressed)
	out = wiremessage.AppendCompressedOriginalOpCode(out, h.OpCode)
	out = wiremessage.AppendCompressedUncompressedSize(out, int32(len(frame)-HeaderLen))
	out = wiremessage.AppendCompressedCompressorID(out, id)
	out = append(out, payload...)
	return SetLength(out), nil
}

// zstdDecoder caps memory at the frame limit so a small hostile frame cannot inflate without
// bound; the driver's own pooled decoder has no such cap.
var zstdDecoder = func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxFrameLen), zstd.WithDecoderConcurrency(1))
	if err != nil {
		panic(err) // only on invalid options, which are constant
	}
	return d
}()

func decompressBounded(in []byte, id wiremessage.CompressorID, size int32) ([]byte, error) {
	var out []byte
	var err error
	if id == CompressorZstd {
		out, err = zstdDecoder.DecodeAll(in, make([]byte, 0, size))
	} else {
		out, err = driver.DecompressPayload(in, driver.CompressionOpts{Compressor: id, UncompressedSize: size})
	}
	if err != nil {
		return nil, frameErr("OP_COMPRESSED cannot be decompressed: %v", err)
	}
	if len(out) != int(size) {
		return nil, frameErr("OP_COMPRESSED decompressed to %d bytes, header says %d", len(out), size)
	}
	return out, nil
}
