package wire

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// Query is a view over an OP_QUERY frame, which servers since 5.1 accept only for the legacy
// hello/isMaster handshake.
type Query struct {
	Header               Header
	Flags                wiremessage.QueryFlag
	FullCollectionName   string
	NumberToSkip         int32
	NumberToReturn       int32
	Query                bsoncore.Document
	ReturnFieldsSelector bsoncore.Document // nil when absent
}

// ParseQuery parses an OP_QUERY frame. Errors wrap ErrBadFrame.
func ParseQuery(frame []byte) (Query, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return Query{}, err
	}
	if h.OpCode != OpQuery {
		return Query{}, frameErr(mongoerr.ProtocolError, "opcode %d is not OP_QUERY", h.OpCode)
	}
	q := Query{Header: h}
	var ok bool
	rem := frame[HeaderLen:]
	if q.Flags, rem, ok = wiremessage.ReadQueryFlags(rem); !ok {
		return Query{}, frameErr(mongoerr.ProtocolError, "OP_QUERY too short for flags")
	}
	if q.FullCollectionName, rem, ok = wiremessage.ReadQueryFullCollectionName(rem); !ok {
		return Query{}, frameErr(mongoerr.ProtocolError, "OP_QUERY collection name is malformed")
	}
	if q.NumberToSkip, rem, ok = wiremessage.ReadQueryNumberToSkip(rem); !ok {
		return Query{}, frameErr(mongoerr.ProtocolError, "OP_QUERY too short for numberToSkip")
	}
	if q.NumberToReturn, rem, ok = wiremessage.ReadQueryNumberToReturn(rem); !ok {
		return Query{}, frameErr(mongoerr.ProtocolError, "OP_QUERY too short for numberToReturn")
	}
	if q.Query, rem, ok = wiremessage.ReadQueryQuery(rem); !ok {
		return Query{}, frameErr(mongoerr.InvalidBSON, "OP_QUERY query document is malformed")
	}
	if err := checkLimits(q.Query); err != nil {
		return Query{}, err
	}
	if len(rem) > 0 {
		sel, rest, ok := wiremessage.ReadQueryReturnFieldsSelector(rem)
		if !ok || len(rest) != 0 || checkLimits(sel) != nil {
			return Query{}, frameErr(mongoerr.InvalidBSON, "OP_QUERY returnFieldsSelector is malformed")
		}
		q.ReturnFieldsSelector = sel
	}
	return q, nil
}

// Database is the part of the full collection name before the first dot.
func (q Query) Database() string {
	for i := 0; i < len(q.FullCollectionName); i++ {
		if q.FullCollectionName[i] == '.' {
			return q.FullCollectionName[:i]
		}
	}
	return q.FullCollectionName
}

// Command is the command document: the query itself, or the content of its $query (or query)
// wrapper when that is the first key, as drivers send it with $readPreference beside.
func (q Query) Command() bsoncore.Document {
	switch name := CommandName(q.Query); name {
	case "$query", "query":
		if d, ok := q.Query.Lookup(name).DocumentOK(); ok {
			return d
		}
	}
	return q.Query
}

// AppendQuery appends a whole OP_QUERY frame; clients and tests use it.
func AppendQuery(dst []byte, requestID int32, fullCollectionName string, numberToReturn int32, query bsoncore.Document) []byte {
	start := len(dst)
	dst = wiremessage.AppendHeader(dst, 0, requestID, 0, OpQuery)
	dst = wiremessage.AppendQueryFlags(dst, 0)
	dst = wiremessage.AppendQueryFullCollectionName(dst, fullCollectionName)
	dst = wiremessage.AppendQueryNumberToSkip(dst, 0)
	dst = wiremessage.AppendQueryNumberToReturn(dst, numberToReturn)
	dst = append(dst, query...)
	SetLength(dst[start:])
	return dst
}

// Reply is a view over an OP_REPLY frame.
type Reply struct {
	Header       Header
	Flags        wiremessage.ReplyFlag
	CursorID     int64
	StartingFrom int32
	Documents    []bsoncore.Document
}

// AppendReply appends a whole OP_REPLY frame carrying docs.
func AppendReply(dst []byte, requestID, responseTo int32, docs ...bsoncore.Document) []byte {
	start := len(dst)
	dst = wiremessage.AppendHeader(dst, 0, requestID, responseTo, OpReply)
	dst = wiremessage.AppendReplyFlags(dst, 0)
	dst = wiremessage.AppendReplyCursorID(dst, 0)
	dst = wiremessage.AppendReplyStartingFrom(dst, 0)
	dst = wiremessage.AppendReplyNumberReturned(dst, int32(len(docs)))
	for _, d := range docs {
		dst = append(dst, d...)
	}
	SetLength(dst[start:])
	return dst
}

// ParseReply parses an OP_REPLY frame. Errors wrap ErrBadFrame.
func ParseReply(frame []byte) (Reply, error) {
	h, err := ParseHeader(frame)
	if err != nil {
		return Reply{}, err
	}
	if h.OpCode != OpReply {
		return Reply{}, frameErr(mongoerr.ProtocolError, "opcode %d is not OP_REPLY", h.OpCode)
	}
	r := Reply{Header: h}
	var ok bool
	var n int32
	rem := frame[HeaderLen:]
	if r.Flags, rem, ok = wiremessage.ReadReplyFlags(rem); !ok {
		return Reply{}, frameErr(mongoerr.ProtocolError, "OP_REPLY too short")
	}
	if r.CursorID, rem, ok = wiremessage.ReadReplyCursorID(rem); !ok {
		return Reply{}, frameErr(mongoerr.ProtocolError, "OP_REPLY too short")
	}
	if r.StartingFrom, rem, ok = wiremessage.ReadReplyStartingFrom(rem); !ok {
		return Reply{}, frameErr(mongoerr.ProtocolError, "OP_REPLY too short")
	}
	if n, rem, ok = wiremessage.ReadReplyNumberReturned(rem); !ok || n < 0 {
		return Reply{}, frameErr(mongoerr.ProtocolError, "OP_REPLY too short")
	}
	for i := int32(0); i < n; i++ {
		var doc bsoncore.Document
		if doc, rem, ok = bsoncore.ReadDocument(rem); !ok || doc.Validate() != nil {
			return Reply{}, frameErr(mongoerr.InvalidBSON, "OP_REPLY document %d is malformed", i)
		}
		r.Documents = append(r.Documents, doc)
	}
	if len(rem) != 0 {
		return Reply{}, frameErr(mongoerr.ProtocolError, "OP_REPLY has %d trailing bytes", len(rem))
	}
	return r, nil
}
