// Package wire reads and writes MongoDB wire-protocol messages: frames with bounds, OP_MSG,
// OP_QUERY/OP_REPLY for the legacy handshake, and OP_COMPRESSED. Parsed messages are views over
// the frame's bytes; nothing is copied or fully decoded on the hot path.
//
// Every parse error wraps ErrBadFrame and carries the code mongod gives the same fault, with
// mongod's message where it has one (mongoerr.As).
package wire

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// Frame bounds: the header alone is 16 bytes, and 48,000,000 is maxMessageSizeBytes.
const (
	HeaderLen   = 16
	MaxFrameLen = 48_000_000
)

// Opcodes in use.
const (
	OpReply      = wiremessage.OpReply
	OpQuery      = wiremessage.OpQuery
	OpCompressed = wiremessage.OpCompressed
	OpMsg        = wiremessage.OpMsg
)

// readChunk bounds what a peer can make ReadFrame allocate ahead of the bytes it actually sends:
// a header claiming 48 MB followed by silence costs this much, not 48 MB per connection.
const readChunk = 1 << 20

// Header is the 16-byte message header.
type Header struct {
	Length     int32
	RequestID  int32
	ResponseTo int32
	OpCode     wiremessage.OpCode
}

// ParseHeader reads the header of a whole frame and checks its length against len(frame).
func ParseHeader(frame []byte) (Header, error) {
	length, reqID, respTo, op, _, ok := wiremessage.ReadHeader(frame)
	if !ok {
		return Header{}, frameErr(mongoerr.ProtocolError, "short header (%d bytes)", len(frame))
	}
	if int(length) != len(frame) {
		return Header{}, frameErr(mongoerr.ProtocolError, "header length %d, frame %d bytes", length, len(frame))
	}
	return Header{Length: length, RequestID: reqID, ResponseTo: respTo, OpCode: op}, nil
}

// ReadFrame reads one whole message. buf is reused when it is large enough; the returned slice
// aliases it. A length outside [16, 48,000,000] returns ErrBadFrame before reading the body. A
// clean end of stream before the first byte is io.EOF; one inside a frame is io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	// The length is read into buf itself: a local array would escape through io.Reader.
	if cap(buf) < 4 {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:4]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	n := int(int32(binary.LittleEndian.Uint32(buf)))
	if n < HeaderLen || n > MaxFrameLen {
		return nil, frameErr(mongoerr.ProtocolError, "recv(): message msgLen %d is invalid. Min %d Max: %d", n, HeaderLen, MaxFrameLen)
	}
	if first := min(n, readChunk); cap(buf) < first {
		buf = append(make([]byte, 0, first), buf...)
	}
	for got := len(buf); got < n; got = len(buf) {
		next := n
		if cap(buf) < n {
			next = min(n, max(2*got, readChunk))
			buf = append(buf, make([]byte, next-got)...)
		}
		buf = buf[:next]
		if _, err := io.ReadFull(r, buf[got:]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// SetLength writes len(msg) into the header; messages are built with a placeholder length.
func SetLength(msg []byte) []byte {
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	return msg
}

// SetResponseTo rewrites the responseTo field of a whole message in place. The checksum of an
// OP_MSG that has one covers the header, so it is recomputed.
func SetResponseTo(msg []byte, responseTo int32) {
	binary.LittleEndian.PutUint32(msg[8:], uint32(responseTo))
	refreshChecksum(msg)
}

// SetRequestID rewrites the requestID field of a whole message in place, recomputing an OP_MSG
// checksum like SetResponseTo.
func SetRequestID(msg []byte, requestID int32) {
	binary.LittleEndian.PutUint32(msg[4:], uint32(requestID))
	refreshChecksum(msg)
}
