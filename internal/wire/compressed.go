package wire

import (
	"bytes"
	"compress/zlib"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
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

// compressedHeaderLen is originalOpcode, uncompressedSize and compressorId after the header.
const compressedHeaderLen = 9

// Decompress turns an OP_COMPRESSED frame back into the original frame (header rebuilt with the
// original opcode and the same ids). It returns the compressor used, so a reply can be
// compressed the same way. The output must be exactly the announced size. Errors wrap
// ErrBadFrame.
func Decompress(frame []byte) ([]byte, wiremessage.CompressorID, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return nil, 0, err
	}
	if h.OpCode != OpCompressed {
		return nil, 0, frameErr(mongoerr.ProtocolError, "opcode %d is not OP_COMPRESSED", h.OpCode)
	}
	rem := frame[HeaderLen:]
	if len(rem) < compressedHeaderLen {
		return nil, 0, frameErr(mongoerr.BadValue, "Invalid compressed message header")
	}
	orig, rem, _ := wiremessage.ReadCompressedOriginalOpCode(rem)
	size, rem, _ := wiremessage.ReadCompressedUncompressedSize(rem)
	id, rem, _ := wiremessage.ReadCompressedCompressorID(rem)
	if orig == OpCompressed {
		return nil, 0, frameErr(mongoerr.ProtocolError, "OP_COMPRESSED wraps OP_COMPRESSED")
	}
	if size < 0 || size > MaxFrameLen-HeaderLen {
		return nil, 0, frameErr(mongoerr.BadValue, "Decompressed message would be larger than maximum message size")
	}
	out := make([]byte, HeaderLen+int(size))
	wiremessage.AppendHeader(out[:0], int32(len(out)), h.RequestID, h.ResponseTo, orig)
	if err := decompressInto(out[HeaderLen:], rem, id); err != nil {
		return nil, 0, err
	}
	return out, id, nil
}

// decompressInto fills dst, whose length is the announced size, with the decompressed payload;
// a payload that decompresses to any other length is refused. Each decoder writes into dst
// directly so the largest legal message is allocated once.
func decompressInto(dst, payload []byte, id wiremessage.CompressorID) error {
	var err error
	switch id {
	case CompressorNoop:
		if len(payload) != len(dst) {
			return frameErr(mongoerr.BadValue, "Decompressing message returned less data than expected")
		}
		copy(dst, payload)
		return nil
	case CompressorSnappy:
		err = snappyInto(dst, payload)
	case CompressorZlib:
		err = zlibInto(dst, payload)
	case CompressorZstd:
		err = zstdInto(dst, payload)
	default:
		return frameErr(mongoerr.InternalError, "Compression algorithm specified in message is not available")
	}
	if err != nil {
		return frameErr(mongoerr.BadValue, "cannot decompress %s message of %d bytes: %v", id, len(dst), err)
	}
	return nil
}

func snappyInto(dst, payload []byte) error {
	n, err := snappy.DecodedLen(payload)
	if err != nil {
		return err
	}
	if n != len(dst) {
		return errSizeMismatch
	}
	// Strict: mongod's snappy refuses the S2 extensions the default decoder accepts.
	_, err = snappy.DecodeStrict(dst, payload)
	return err
}

// zlibReaders recycles inflaters (about 40 KB of state each).
var zlibReaders sync.Pool

func zlibInto(dst, payload []byte) error {
	src := bytes.NewReader(payload)
	r, _ := zlibReaders.Get().(io.ReadCloser)
	var err error
	if r == nil {
		r, err = zlib.NewReader(src)
	} else {
		err = r.(zlib.Resetter).Reset(src, nil)
	}
	if err != nil {
		return err
	}
	defer zlibReaders.Put(r)
	if _, err := io.ReadFull(r, dst); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return errSizeMismatch
		}
		return err
	}
	// The stream must end here: reading on verifies the Adler-32 trailer and catches a payload
	// longer than announced, which io.ReadFull alone would silently cut.
	var one [1]byte
	if n, err := io.ReadFull(r, one[:]); n != 0 {
		return errSizeMismatch
	} else if err != io.EOF {
		return err
	}
	return nil
}

// zstdDecoder is capped at the frame limit and at the destination's capacity, so a small
// hostile frame cannot inflate beyond what its header announced.
var zstdDecoder = func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxFrameLen),
		zstd.WithDecodeAllCapLimit(true), zstd.WithDecoderConcurrency(0))
	if err != nil {
		panic(err) // only on invalid options, which are constant
	}
	return d
}()

func zstdInto(dst, payload []byte) error {
	out, err := zstdDecoder.DecodeAll(payload, dst[:0])
	if err != nil {
		return err
	}
	if len(out) != len(dst) {
		return errSizeMismatch
	}
	if len(out) > 0 && &out[0] != &dst[0] { // the cap limit should keep it in place; never trust it blindly
		copy(dst, out)
	}
	return nil
}

var errSizeMismatch = errors.New("size differs from the announced uncompressed size")

// Compress wraps a whole frame in OP_COMPRESSED with the given compressor. Noop returns it as is,
// and so does a frame whose compressed form would exceed the frame limit, as mongod does.
func Compress(frame []byte, id wiremessage.CompressorID) ([]byte, error) {
	if id == CompressorNoop {
		return frame, nil
	}
	h, err := ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	if h.OpCode == OpCompressed {
		return nil, frameErr(mongoerr.InternalError, "frame is already OP_COMPRESSED")
	}
	payload, err := driver.CompressPayload(frame[HeaderLen:], driver.CompressionOpts{
		Compressor: id, ZlibLevel: wiremessage.DefaultZlibLevel, ZstdLevel: wiremessage.DefaultZstdLevel,
	})
	if err != nil {
		return nil, err
	}
	if HeaderLen+compressedHeaderLen+len(payload) > MaxFrameLen {
		return frame, nil
	}
	out := wiremessage.AppendHeader(make([]byte, 0, HeaderLen+compressedHeaderLen+len(payload)), 0, h.RequestID, h.ResponseTo, OpCompressed)
	out = wiremessage.AppendCompressedOriginalOpCode(out, h.OpCode)
	out = wiremessage.AppendCompressedUncompressedSize(out, int32(len(frame)-HeaderLen))
	out = wiremessage.AppendCompressedCompressorID(out, id)
	out = append(out, payload...)
	return SetLength(out), nil
}
