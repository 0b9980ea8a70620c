package memshard

import (
	"cmp"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Idle cursors in $currentOp (CommonProcessInterface::getCurrentOps with idleCursors;
// ClientCursor::toGenericCursor, src/mongo/db/query/client_cursor/clientcursor.cpp; the fields
// of generic_cursor.idl).

// cursorOrigin is what $currentOp shows of a cursor besides its id, namespace and session;
// guarded by cursorTable.mu once the cursor is in the table.
type cursorOrigin struct {
	created, lastAccess time.Time
	nDocs, nBatches     int64
	command             bsoncore.Document // originatingCommand
	user                userName          // who opened it, as $currentOp names users
	hasUser             bool
	noTimeout           bool
	tailable, awaitData bool
}

// cursorOrigin describes the cursor r opens after a first batch of n documents.
func (r *request) cursorOrigin(n int) cursorOrigin {
	now := time.Now()
	user, hasUser := r.users().name()
	return cursorOrigin{created: now, lastAccess: now, nDocs: int64(n), nBatches: 1, command: r.body,
		user: user, hasUser: hasUser, noTimeout: r.boolArg("noCursorTimeout", false),
		tailable: r.boolArg("tailable", false), awaitData: r.boolArg("awaitData", false)}
}

// streamCursorOrigin describes a change stream's cursor: tailable and awaiting data.
func (r *request) streamCursorOrigin(n int) cursorOrigin {
	o := r.cursorOrigin(n)
	o.tailable, o.awaitData = true, true
	return o
}

// returned counts a getMore batch of n documents.
func (o *cursorOrigin) returned(n int) {
	o.nDocs += int64(n)
	o.nBatches++
	o.lastAccess = time.Now()
}

// idleCursors are the member's open cursors, in id order; a viewer sees only its own.
func (rep *opReport) idleCursors() []bson.Raw {
	t := &rep.m.cursors
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]int64, 0, len(t.m))
	for id, c := range t.m {
		if rep.viewer == nil || c.origin.hasUser && c.origin.user == *rep.viewer {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, cmp.Compare[int64])
	docs := make([]bson.Raw, 0, len(ids))
	for _, id := range ids {
		c := t.m[id]
		o := &c.origin
		idx, d := bsoncore.AppendDocumentStart(nil)
		d = bsoncore.AppendStringElement(d, "type", "idleCursor")
		d = bsoncore.AppendStringElement(d, "host", rep.m.host)
		d = bsoncore.AppendStringElement(d, "ns", c.ns)
		if c.hasLSID {
			d = bsoncore.AppendHeader(d, bsoncore.TypeEmbeddedDocument, "lsid")
			d = c.lsid.AppendDoc(d)
		}
		cidx, d := bsoncore.AppendDocumentElementStart(d, "cursor")
		d = bsoncore.AppendInt64Element(d, "cursorId", id)
		d = bsoncore.AppendTimeElement(d, "createdDate", o.created)
		d = bsoncore.AppendTimeElement(d, "lastAccessDate", o.lastAccess)
		d = bsoncore.AppendInt64Element(d, "nDocsReturned", o.nDocs)
		d = bsoncore.AppendInt64Element(d, "nBatchesReturned", o.nBatches)
		d = bsoncore.AppendBooleanElement(d, "noCursorTimeout", o.noTimeout)
		d = bsoncore.AppendBooleanElement(d, "tailable", o.tailable)
		d = bsoncore.AppendBooleanElement(d, "awaitData", o.awaitData)
		if o.command != nil {
			d = bsoncore.AppendDocumentElement(d, "originatingCommand", o.command)
		}
		d, _ = bsoncore.AppendDocumentEnd(d, cidx)
		d, _ = bsoncore.AppendDocumentEnd(d, idx)
		docs = append(docs, d)
	}
	return docs
}
