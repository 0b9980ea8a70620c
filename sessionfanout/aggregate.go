package sessionfanout

import (
	"slices"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Failure returns the error r stands for, or nil when its reply is ok: its call's error
// (mongoerr.As), or the command error its reply carries.
func Failure[T Target](r Result[T, outcome.Reply]) *mongoerr.Error {
	if r.Err != nil {
		return mongoerr.As(r.Err)
	}
	return r.Value.Status.Err(r.Value.Body)
}

// Aggregate folds the replies of a broadcast into one reply; see AppendAggregate.
func Aggregate[T Target](results []Result[T, outcome.Reply], onFailure *mongoerr.Error) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = AppendAggregate(dst, results, onFailure)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// sizeHint estimates the length of a failure reply's fields, so it is built without regrowing.
func sizeHint[T Target](results []Result[T, outcome.Reply]) int {
	const status, perError = 128, 96 // status fields; an error document but its message
	n := status
	for _, r := range results {
		n += len(r.Target.String()) + 2 + len(r.Value.Body)
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
// tells an operator which target failed. Failures are those Failure returns.
func AppendAggregate[T Target](dst []byte, results []Result[T, outcome.Reply], onFailure *mongoerr.Error) []byte {
	failures := make([]*mongoerr.Error, len(results))
	for i, r := range results {
		failures[i] = Failure(r)
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
		key := strings.ReplaceAll(r.Target.String(), "\x00", "")
		if r.Err == nil {
			dst = bsoncore.AppendDocumentElement(dst, key, r.Value.Body)
		} else {
			ei, d := bsoncore.AppendDocumentElementStart(dst, key)
			d = failures[i].AppendFields(d)
			dst, _ = bsoncore.AppendDocumentEnd(d, ei)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
