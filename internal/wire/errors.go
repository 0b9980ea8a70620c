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
