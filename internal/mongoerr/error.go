package mongoerr

import (
	"errors"
	"fmt"
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

// As extracts an *Error from err; any other non-nil error becomes InternalError.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var me *Error
	if errors.As(err, &me) {
		return me
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

// FromReply returns the command error a reply document carries, or nil when it has ok: 1 (or
// true). Write errors (writeErrors) are not command errors and are not reported here. Fields
// beyond the status (writeConcernError, errInfo, keyValue, ...) are kept in Extra so that Reply
// gives them back. operationTime, $clusterTime and topologyVersion are not: they describe the
// member that answered, and the router reports its own.
func FromReply(doc bsoncore.Document) *Error {
	okv, err := doc.LookupErr("ok")
	if err != nil {
		return &Error{Code: InternalError, Msg: "reply has no ok field"}
	}
	if ok, isNum := okv.AsFloat64OK(); isNum && ok == 1 {
		return nil
	} else if b, isBool := okv.BooleanOK(); isBool && b {
		return nil
	}
	e := &Error{Code: UnknownError}
	if c, ok := doc.Lookup("code").AsInt64OK(); ok && c == int64(int32(c)) {
		e.Code = Code(c)
	}
	e.Msg, _ = doc.Lookup("errmsg").StringValueOK()
	if arr, ok := doc.Lookup("errorLabels").ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			if s, ok := v.StringValueOK(); ok {
				e.Labels = append(e.Labels, s)
			}
		}
	}
	e.Extra = extraFields(doc)
	return e
}

// extraFields is doc without the fields AppendFields writes itself and those that describe the
// answering member; nil when nothing is left.
func extraFields(doc bsoncore.Document) bsoncore.Document {
	elems, _ := doc.Elements()
	var idx int32
	var dst []byte
	for _, el := range elems {
		switch el.Key() {
		case "ok", "errmsg", "code", "codeName", "errorLabels", "operationTime", "$clusterTime", "topologyVersion":
			continue
		}
		if dst == nil {
			idx, dst = bsoncore.AppendDocumentStart(nil)
		}
		dst = append(dst, el...)
	}
	if dst == nil {
		return nil
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// MarshalBSON lets an Error be embedded in documents built with the bson package.
func (e *Error) MarshalBSON() ([]byte, error) { return e.Reply(), nil }

var _ bson.Marshaler = (*Error)(nil)
