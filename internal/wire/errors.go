package wire

import (
	"errors"
	"fmt"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// ErrBadFrame marks an error after which the connection cannot be trusted and must be closed.
var ErrBadFrame = errors.New("bad frame")

// frameError is a malformed message. It matches ErrBadFrame (errors.Is) and wraps the error
// mongod reports for the same fault (mongoerr.As finds it), so a caller can answer the client in
// MongoDB's terms before it closes the connection.
type frameError struct{ err *mongoerr.Error }

func (e *frameError) Error() string        { return ErrBadFrame.Error() + ": " + e.err.Msg }
func (e *frameError) Is(target error) bool { return target == ErrBadFrame }
func (e *frameError) Unwrap() error        { return e.err }

func frameErr(code mongoerr.Code, format string, args ...any) error {
	return &frameError{err: &mongoerr.Error{Code: code, Msg: fmt.Sprintf(format, args...)}}
}

// ClosesConnection reports whether a parse error ends the connection, as on mongod: the framing
// itself cannot be trusted (ProtocolError), or the code is in mongod's
// ConnectionFatalMessageParseError category (IllegalOpMsgFlag, TooManyDocumentSequences,
// ChecksumMismatch). mongod answers every other parse error (invalid BSON in a body, two bodies,
// an unknown section kind, ...) with an error reply and keeps the connection.
func ClosesConnection(err error) bool {
	var fe *frameError
	if !errors.As(err, &fe) {
		return true
	}
	switch fe.err.Code {
	case mongoerr.ProtocolError, mongoerr.IllegalOpMsgFlag, mongoerr.TooManyDocumentSequences, mongoerr.ChecksumMismatch:
		return true
	}
	return false
}
