// Package outcome reads what a command reply says of its own outcome, once: whether it
// succeeded, its error (code, codeName, errmsg, errorLabels), its write concern error and write
// errors, the cursor it opened, and the times it reports. Every decision the router takes on a
// shard's reply (retrying, cloaking state changes, SDAM feedback, metrics, cursors, the cluster
// clock, the session fan-outs) reads this one Status, with one rule for "is it ok, which code":
// mongod's getStatusFromCommandResult (src/mongo/rpc/get_status_from_command_result.cpp).
package outcome

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Status is a reply's outcome. The byte slices and documents are views into the reply: valid
// while it is.
type Status struct {
	// OK is ok's truth value, as mongod reads it (a number other than 0, or true).
	OK bool
	// Code is the error code of a reply that is not ok: its code field, UnknownError when it has
	// none, InternalError when the reply has no ok field at all.
	Code     mongoerr.Code
	CodeName []byte
	Errmsg   []byte
	Labels   bsoncore.Array // errorLabels as sent; nil when absent
	// WriteConcernCode is the code of a writeConcernError (UnknownError when it has none); 0 when
	// the reply has none.
	WriteConcernCode mongoerr.Code
	HasWriteErrors   bool
	Cursor           Cursor
	ClusterTime      bsoncore.Document // $clusterTime as sent; nil when absent
	OperationTime    uint64            // operationTime as t<<32 | i; 0 when absent
}

// Reply is a reply document and its status.
type Reply struct {
	Body   bsoncore.Document
	Status Status
}

// NewReply reads body's status.
func NewReply(body bsoncore.Document) Reply { return Reply{Body: body, Status: Read(body)} }

// Err is the command error the reply carries, nil when it is ok.
func (r Reply) Err() error {
	if e := r.Status.Err(r.Body); e != nil {
		return e
	}
	return nil
}

// Cursor is a reply's cursor.
type Cursor struct {
	Present bool
	ID      int64
	NS      []byte
}

// Read reads the status of a command reply in one scan of its top level, without allocating.
func Read(reply bsoncore.Document) Status {
	var s Status
	hasOK := false
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		v := el.Value()
		switch string(el.KeyBytes()) {
		case "ok":
			hasOK, s.OK = true, truth(v)
		case "code":
			s.Code = Code(v)
		case "codeName":
			s.CodeName, _ = bsonview.String(v)
		case "errmsg":
			s.Errmsg, _ = bsonview.String(v)
		case "errorLabels":
			s.Labels, _ = v.ArrayOK()
		case "writeConcernError":
			doc, _ := v.DocumentOK()
			code, _ := bsonview.Lookup(doc, "code")
			if s.WriteConcernCode = Code(code); s.WriteConcernCode == 0 {
				s.WriteConcernCode = mongoerr.UnknownError
			}
		case "writeErrors":
			arr, ok := v.ArrayOK()
			s.HasWriteErrors = ok && len(arr) > 5
		case "cursor":
			s.Cursor = cursorOf(v)
		case "$clusterTime":
			s.ClusterTime, _ = v.DocumentOK()
		case "operationTime":
			if t, i, ok := v.TimestampOK(); ok {
				s.OperationTime = uint64(t)<<32 | uint64(i)
			}
		}
		return true
	})
	switch {
	case !hasOK:
		s.OK, s.Code = false, mongoerr.InternalError
	case s.OK:
		s.Code = 0
	case s.Code == 0:
		s.Code = mongoerr.UnknownError
	}
	return s
}

// Failure is the code a shard request failed with, as mongos's request sender judges it: the
// reply's error code, else its write concern error's; 0 for a success.
func (s Status) Failure() mongoerr.Code {
	if !s.OK {
		return s.Code
	}
	return s.WriteConcernCode
}

// HasLabel reports whether the reply carries the error label l.
func (s Status) HasLabel(l string) bool {
	found := false
	bsonview.Each(bsoncore.Document(s.Labels), func(el bsoncore.Element) bool {
		found = stringIs(el.Value(), l)
		return !found
	})
	return found
}

// Err is the command error the reply carries, nil when it is ok: its code, message and labels,
// and the fields beyond the status (writeConcernError, errInfo, ...) as Extra, so that the error
// gives them back (mongoerr.Error.Reply). The fields that describe the member that answered
// (operationTime, $clusterTime, topologyVersion) are left out: the router reports its own.
func (s Status) Err(reply bsoncore.Document) *mongoerr.Error {
	if s.OK {
		return nil
	}
	e := &mongoerr.Error{Code: s.Code, Msg: string(s.Errmsg)}
	if s.Code == mongoerr.InternalError && s.Errmsg == nil && !hasOK(reply) {
		e.Msg = "reply has no ok field"
	}
	bsonview.Each(bsoncore.Document(s.Labels), func(el bsoncore.Element) bool {
		if v, ok := bsonview.String(el.Value()); ok {
			e.Labels = append(e.Labels, string(v))
		}
		return true
	})
	e.Extra = extraFields(reply)
	return e
}

// ErrOf is the command error reply carries, nil when it is ok: Read(reply).Err(reply).
func ErrOf(reply bsoncore.Document) *mongoerr.Error { return Read(reply).Err(reply) }

// extraFields is reply without the fields mongoerr.Error writes itself and those that describe
// the answering member; nil when nothing is left.
func extraFields(reply bsoncore.Document) bsoncore.Document {
	var idx int32
	var dst []byte
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		switch string(el.KeyBytes()) {
		case "ok", "errmsg", "code", "codeName", "errorLabels", "operationTime", "$clusterTime", "topologyVersion":
			return true
		}
		if dst == nil {
			idx, dst = bsoncore.AppendDocumentStart(nil)
		}
		dst = append(dst, el...)
		return true
	})
	if dst == nil {
		return nil
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// truth is BSONElement::trueValue, as getStatusFromCommandResult reads ok: a boolean's value, a
// number other than zero; null and undefined are false, every other value true.
func truth(v bsoncore.Value) bool {
	switch v.Type {
	case bsoncore.TypeBoolean:
		return v.Boolean()
	case bsoncore.TypeNull, bsoncore.TypeUndefined:
		return false
	}
	if f, ok := v.AsFloat64OK(); ok {
		return f != 0
	}
	return true
}

// Code reads a code field as the router keeps it: a number that fits an int32; 0 otherwise.
func Code(v bsoncore.Value) mongoerr.Code {
	c, ok := v.AsInt64OK()
	if !ok || c != int64(int32(c)) {
		return 0
	}
	return mongoerr.Code(c)
}

func cursorOf(v bsoncore.Value) Cursor {
	doc, ok := v.DocumentOK()
	if !ok {
		return Cursor{}
	}
	c := Cursor{Present: true}
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		switch string(el.KeyBytes()) {
		case "id":
			c.ID, _ = el.Value().AsInt64OK()
		case "ns":
			c.NS, _ = bsonview.String(el.Value())
		}
		return true
	})
	return c
}

func stringIs(v bsoncore.Value, want string) bool {
	s, ok := bsonview.String(v)
	return ok && string(s) == want
}

func hasOK(reply bsoncore.Document) bool {
	_, ok := bsonview.Lookup(reply, "ok")
	return ok
}
