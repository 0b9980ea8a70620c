package sessionfanout

import (
	"context"
	"errors"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// MapError is the default mapping of a call's error to the MongoDB error reported for its target:
// a *mongoerr.Error as is, a target's own timeout or any deadline as NetworkTimeout(89), the
// caller's cancellation as Interrupted(11601), anything else as HostUnreachable(6). Callers that
// know their transport's error types pass their own mapper and may fall back to this one.
func MapError(err error) *mongoerr.Error {
	var te *TimeoutError
	var me *mongoerr.Error
	switch {
	case errors.As(err, &te):
		return mongoerr.New(mongoerr.NetworkTimeout, "%v", te)
	case errors.As(err, &me):
		return me
	case errors.Is(err, context.DeadlineExceeded):
		return mongoerr.New(mongoerr.NetworkTimeout, "%v", err)
	case errors.Is(err, context.Canceled):
		return mongoerr.New(mongoerr.Interrupted, "%v", err)
	default:
		return mongoerr.New(mongoerr.HostUnreachable, "%v", err)
	}
}

// Failure returns the error r stands for, or nil when its reply is ok: the mapped Err, a malformed
// reply, or the command error the reply carries (ok: 0). A nil mapErr means MapError.
func Failure(r Result[bsoncore.Document], mapErr func(error) *mongoerr.Error) *mongoerr.Error {
	f, _ := judge(r, mapErr)
	return f
}

// judge returns r's failure and whether r.Value is a well-formed reply to embed in raw as is.
func judge(r Result[bsoncore.Document], mapErr func(error) *mongoerr.Error) (*mongoerr.Error, bool) {
	if r.Err != nil {
		return mapTransport(r.Err, mapErr), false
	}
	if err := r.Value.Validate(); err != nil {
		return mongoerr.New(mongoerr.ProtocolError, "invalid reply from %s: %v", r.Target, err), false
	}
	return mongoerr.FromReply(r.Value), true
}

func mapTransport(err error, mapErr func(error) *mongoerr.Error) *mongoerr.Error {
	if mapErr != nil {
		if e := mapErr(err); e != nil {
			return e
		}
	}
	return MapError(err)
}

// Aggregate folds the replies of a broadcast into one reply; see AppendAggregate.
func Aggregate(results []Result[bsoncore.Document], onFailure *mongoerr.Error, mapErr func(error) *mongoerr.Error) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = AppendAggregate(dst, results, onFailure, mapErr)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// sizeHint estimates the length of a failure reply's fields, so it is built without regrowing.
func sizeHint(results []Result[bsoncore.Document]) int {
	const status, perError = 128, 96 // status fields; an error document but its message
	n := status
	for _, r := range results {
		n += len(r.Target) + 2 + len(r.Value)
		if r.Err != nil {
			n += perError
		}
	}
	return n
}

// AppendAggregate appends the fields of the combined reply to an open document, so the caller can
// add its own fields (e.g. $clusterTime) after them. All targets ok: {ok: 1.0}. Otherwise
// {ok: 0.0, errmsg, code, codeName} of onFailure when given (the kill commands pass
// HostUnreachable "Failed to kill sessions on some hosts", as mongos), else of the highest-priority
// failure (earliest target on a tie), then raw: {<target>: <its reply, or an error document for a
// transport error or malformed reply>, ...} in target order, which mongos does not send but which
// tells an operator which target failed. Failures are mapped as Failure does.
func AppendAggregate(dst []byte, results []Result[bsoncore.Document], onFailure *mongoerr.Error, mapErr func(error) *mongoerr.Error) []byte {
	failures := make([]*mongoerr.Error, len(results))
	embed := make([]bool, len(results))
	for i, r := range results {
		failures[i], embed[i] = judge(r, mapErr)
	}
	top := mongoerr.Highest(failures)
	if top == nil {
		return bsoncore.AppendDoubleElement(dst, "ok", 1)
	}
	if onFailure != nil {
		top = onFailure
	}
	dst = slices.Grow(dst, sizeHint(results))
	// Only the status fields: another target's labels or extra info do not describe the whole.
	dst = (&mongoerr.Error{Code: top.Code, Msg: top.Msg}).AppendFields(dst)
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "raw")
	for i, r := range results {
		// A NUL would end the field name early and corrupt the document.
		key := strings.ReplaceAll(r.Target, "\x00", "")
		if embed[i] {
			dst = bsoncore.AppendDocumentElement(dst, key, r.Value)
		} else {
			ei, d := bsoncore.AppendDocumentElementStart(dst, key)
			d = failures[i].AppendFields(d)
			dst, _ = bsoncore.AppendDocumentEnd(d, ei)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
