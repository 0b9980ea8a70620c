package mongoerr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Error labels that drivers act on.
const (
	LabelRetryableWrite           = "RetryableWriteError"
	LabelTransientTransaction     = "TransientTransactionError"
	LabelUnknownTransactionCommit = "UnknownTransactionCommitResult"
)

// Error is a MongoDB command error: what becomes {ok: 0, errmsg, code, codeName, errorLabels}.
type Error struct {
	Code   Code
	Msg    string
	Labels []string
	// Extra holds additional top-level fields of the reply (e.g. keyPattern on DuplicateKey,
	// writeConcernError); each element is appended as is.
	Extra bsoncore.Document
}

// New builds an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	if len(args) == 0 {
		return &Error{Code: code, Msg: format}
	}
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return fmt.Sprintf("(%s) %s", e.Code.Name(), e.Msg) }

// WithLabels returns e with labels added (e itself is modified and returned).
func (e *Error) WithLabels(labels ...string) *Error {
	for _, l := range labels {
		if !e.HasLabel(l) {
			e.Labels = append(e.Labels, l)
		}
	}
	return e
}

// HasLabel reports whether e carries label.
func (e *Error) HasLabel(label string) bool {
	for _, l := range e.Labels {
		if l == label {
			return true
		}
	}
	return false
}

// Coded is an error that knows the code a server answers it with: a shard's HostError, a
// fan-out target's own timeout.
type Coded interface {
	error
	MongoCode() Code
}

// As is the MongoDB error a server answers err with, the one mapping of a Go error to a code: an
// *Error as is; a Coded error with its code and message; a cancelled context Interrupted; an
// expired deadline or timed-out I/O NetworkTimeout; anything else InternalError.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var coded Coded
	if errors.As(err, &coded) {
		return &Error{Code: coded.MongoCode(), Msg: err.Error()}
	}
	var me *Error
	if errors.As(err, &me) {
		return me
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Code: Interrupted, Msg: err.Error()}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return &Error{Code: NetworkTimeout, Msg: err.Error()}
	}
	return &Error{Code: InternalError, Msg: err.Error()}
}

// AppendFields appends ok, errmsg, code, codeName, errorLabels and Extra to an open document.
func (e *Error) AppendFields(dst []byte) []byte {
	dst = bsoncore.AppendDoubleElement(dst, "ok", 0)
	dst = bsoncore.AppendStringElement(dst, "errmsg", e.Msg)
	dst = bsoncore.AppendInt32Element(dst, "code", int32(e.Code))
	dst = bsoncore.AppendStringElement(dst, "codeName", e.Code.Name())
	if len(e.Labels) > 0 {
		var idx int32
		idx, dst = bsoncore.AppendArrayElementStart(dst, "errorLabels")
		for i, l := range e.Labels {
			dst = bsoncore.AppendStringElement(dst, strconv.Itoa(i), l)
		}
		dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	}
	if len(e.Extra) > 0 {
		elems, _ := e.Extra.Elements()
		for _, el := range elems {
			dst = append(dst, el...)
		}
	}
	return dst
}

// Reply is the whole error reply document.
func (e *Error) Reply() bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = e.AppendFields(dst)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// MarshalBSON lets an Error be embedded in documents built with the bson package.
func (e *Error) MarshalBSON() ([]byte, error) { return e.Reply(), nil }

var _ bson.Marshaler = (*Error)(nil)
