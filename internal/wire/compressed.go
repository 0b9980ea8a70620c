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
	if err := plausible(rem, id, int(size)); err != nil {
		return nil, 0, err
	}
	out, err := inflate(rem, id, int(size))
	if err != nil {
		return nil, 0, frameErr(mongoerr.BadValue, "cannot decompress %s message of %d bytes: %v", id, size, err)
	}
	wiremessage.AppendHeader(out[:0], int32(len(out)), h.RequestID, h.ResponseTo, orig)
	return out, id, nil
}

// maxDeflateRatio is the most deflate can expand its input.
const maxDeflateRatio = 1032

// plausible refuses, before anything is allocated, a payload that cannot decompress to size
// bytes: announcing 48 MB in a 30-byte frame must not cost 48 MB.
func plausible(payload []byte, id wiremessage.CompressorID, size int) error {
	var err error
	switch id {
	case CompressorNoop:
		if len(payload) != size {
			err = errSizeMismatch
		}
	case CompressorSnappy:
		var n int
		if n, err = snappy.DecodedLen(payload); err == nil && n != size {
			err = errSizeMismatch
		}
	case CompressorZlib:
		if size > maxDeflateRatio*len(payload) {
			err = errSizeMismatch
		}
	case CompressorZstd:
		// A frame may omit its content size, and a payload may hold several frames; only a first
		// frame larger than the whole is certainly a lie.
		var h zstd.Header
		if err = h.Decode(payload); err == nil && h.HasFCS && h.FrameContentSize > uint64(size) {
			err = errSizeMismatch
		}
	default:
		return frameErr(mongoerr.InternalError, "Compression algorithm specified in message is not available")
	}
	if err != nil {
		return frameErr(mongoerr.BadValue, "cannot decompress %s message of %d bytes: %v", id, size, err)
	}
	return nil
}

// inflate returns room for the header followed by the decompressed payload of a compressor
// plausible accepted, which must be exactly size bytes. Decoders write in place, so the message
// is allocated once.
func inflate(payload []byte, id wiremessage.CompressorID, size int) ([]byte, error) {
	if id == CompressorZstd {
		return zstdInflate(payload, size)
	}
	out := make([]byte, HeaderLen+size)
	var err error
	switch id {
	case CompressorSnappy:
		// Strict: mongod's snappy refuses the S2 extensions the default decoder accepts.
		_, err = snappy.DecodeStrict(out[HeaderLen:], payload)
	case CompressorZlib:
		err = zlibInto(out[HeaderLen:], payload)
	default: // noop
		copy(out[HeaderLen:], payload)
	}
	return out, err
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

// zstdDecoder never produces more than a frame may hold (which also caps its window).
var zstdDecoder = func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxFrameLen), zstd.WithDecoderConcurrency(0))
	if err != nil {
		panic(err) // only on invalid options, which are constant
	}
	return d
}()

// zstdInflate sizes its buffer by the frame's own content size, not by the announced size,
// which plausible cannot check when a payload holds several frames: memory follows the data
// that actually decompresses.
func zstdInflate(payload []byte, size int) ([]byte, error) {
	hint := min(size, readChunk)
	var h zstd.Header
	if h.Decode(payload) == nil && h.HasFCS && h.FrameContentSize <= uint64(size) {
		hint = int(h.FrameContentSize)
	}
	out, err := zstdDecoder.DecodeAll(payload, make([]byte, HeaderLen, HeaderLen+hint))
	if err != nil {
		return nil, err
	}
	if len(out) != HeaderLen+size {
		return nil, errSizeMismatch
	}
	return out, nil
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
