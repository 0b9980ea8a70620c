// Package wire reads and writes MongoDB wire-protocol messages: frames with bounds, OP_MSG,
// OP_QUERY/OP_REPLY for the legacy handshake, and OP_COMPRESSED. Parsed messages are views over
// the frame's bytes; nothing is copied or fully decoded on the hot path.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

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

// ErrBadFrame marks an error after which the connection cannot be trusted and must be closed.
var ErrBadFrame = errors.New("bad frame")

func frameErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFrame, fmt.Sprintf(format, args...))
}

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
		return Header{}, frameErr("short header (%d bytes)", len(frame))
	}
	if int(length) != len(frame) {
		return Header{}, frameErr("header length %d, frame %d bytes", length, len(frame))
	}
	return Header{Length: length, RequestID: reqID, ResponseTo: respTo, OpCode: op}, nil
}

// ReadFrame reads one whole message. buf is reused when it is large enough; the returned slice
// aliases it. A length outside [16, 48,000,000] returns ErrBadFrame before reading the body.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.LittleEndian.Uint32(hdr[:]))
	if n < HeaderLen || n > MaxFrameLen {
		return nil, frameErr("message length %d outside [%d, %d]", n, HeaderLen, MaxFrameLen)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// SetLength writes len(msg) into the header; messages are built with a placeholder length.
func SetLength(msg []byte) []byte {
	binary.LittleEndian.PutUint32(msg, uint32(len(msg)))
	return msg
}

// SetResponseTo rewrites the responseTo field of a whole message in place.
func SetResponseTo(msg []byte, responseTo int32) {
	binary.LittleEndian.PutUint32(msg[8:], uint32(responseTo))
}

// SetRequestID rewrites the requestID field of a whole message in place.
func SetRequestID(msg []byte, requestID int32) {
	binary.LittleEndian.PutUint32(msg[4:], uint32(requestID))
}
