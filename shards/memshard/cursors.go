package memshard

import (
	"math/rand/v2"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// defaultFirstBatch is mongod's first batch size for find and aggregate without batchSize.
const defaultFirstBatch = 101

// cursor holds the rest of a result; the documents are immutable store values.
type cursor struct {
	ns      string
	docs    []bson.Raw
	hasLSID bool
	lsid    sessionid.ID
	stream  *changeStream // a change stream's cursor (changestream_cursor.go)
	origin  cursorOrigin  // what $currentOp shows of it (currentop_cursors.go)
}

// cursorTable is a member's open cursors.
type cursorTable struct {
	mu sync.Mutex
	m  map[int64]*cursor
}

func (t *cursorTable) init() { t.m = map[int64]*cursor{} }

func (t *cursorTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

func (t *cursorTable) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
}

// add registers c under a fresh random positive id, as mongod's ids are.
func (t *cursorTable) add(c *cursor) int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	for {
		if id := rand.Int64(); id > 0 && t.m[id] == nil {
			t.m[id] = c
			return id
		}
	}
}

// kill removes the cursors match selects.
func (t *cursorTable) kill(match func(*cursor) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.m {
		if match(c) {
			delete(t.m, id)
		}
	}
}

// checkOwner applies mongod's cursor session rule (src/mongo/db/cursor_manager.cpp): the
// operation's session must be the cursor's, both or neither present.
func (c *cursor) checkOwner(op sessionid.OpInfo) error {
	if c.hasLSID == op.HasLSID && (!c.hasLSID || c.lsid == op.LSID) {
		return nil
	}
	return mongoerr.New(mongoerr.Unauthorized,
		"Cursor session id (%s) is not the same as the operation context's session id (%s)",
		sessionString(c.hasLSID, c.lsid), sessionString(op.HasLSID, op.LSID))
}

// sessionString is how mongod prints a LogicalSessionId in that message.
func sessionString(has bool, id sessionid.ID) string {
	if !has {
		return "none"
	}
	return id.String()
}

// next takes the next batch of a cursor for getMore; the cursor closes once drained.
func (t *cursorTable) next(id int64, ns string, op sessionid.OpInfo, batchSize int) ([]bson.Raw, int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.m[id]
	if c == nil {
		return nil, 0, mongoerr.New(mongoerr.CursorNotFound, "cursor id %d not found", id)
	}
	if c.ns != ns {
		return nil, 0, mongoerr.New(mongoerr.Unauthorized,
			"Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns, c.ns)
	}
	if err := c.checkOwner(op); err != nil {
		return nil, 0, err
	}
	n := batchLen(c.docs, batchSize)
	batch := c.docs[:n]
	c.docs = c.docs[n:]
	c.origin.returned(n)
	if len(c.docs) == 0 {
		delete(t.m, id)
		return batch, 0, nil
	}
	return batch, id, nil
}

// batchLen is how many documents go in one batch: at most limit (< 0: no limit) and within
// the 16 MiB reply budget, but at least one document when any is asked for.
func batchLen(docs []bson.Raw, limit int) int {
	size := 0
	for i, d := range docs {
		if i == limit || i > 0 && size+len(d) > maxBSONObjectSize {
			return i
		}
		size += len(d)
	}
	return len(docs)
}

// replyCursor answers with a cursor's first batch, keeping the rest in a new cursor unless
// singleBatch.
func (r *request) replyCursor(ns string, docs []bson.Raw, batchSize int, singleBatch bool) {
	n := batchLen(docs, batchSize)
	var id int64
	if n < len(docs) && !singleBatch {
		id = r.m.cursors.add(&cursor{ns: ns, docs: docs[n:], hasLSID: r.op.HasLSID, lsid: r.op.LSID, origin: r.cursorOrigin(n)})
	}
	var at *bson.Timestamp
	if r.snapshotRead {
		at = &r.readAt
	}
	r.out = appendCursor(r.out, "firstBatch", id, ns, docs[:n], at)
}

// appendCursor appends the cursor document; at is the time of a snapshot read (drivers reuse it).
func appendCursor(dst []byte, key string, id int64, ns string, batch []bson.Raw, at *bson.Timestamp) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "cursor")
	aidx, dst := bsoncore.AppendArrayElementStart(dst, key)
	for i, d := range batch {
		dst = bsoncore.AppendDocumentElement(dst, arrayKey(i), d)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst = bsoncore.AppendInt64Element(dst, "id", id)
	dst = bsoncore.AppendStringElement(dst, "ns", ns)
	if at != nil {
		dst = bsoncore.AppendTimestampElement(dst, "atClusterTime", at.T, at.I)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func cmdGetMore(r *request) error {
	v := r.body.Index(0).Value()
	id, ok := v.Int64OK()
	if !ok {
		return mongoerr.WrongType("getMore.getMore", v.Type, "long")
	}
	coll, err := r.stringArg("collection", true)
	if err != nil {
		return err
	}
	batchSize, err := r.intArg("batchSize", -1)
	if err != nil {
		return err
	}
	ns := r.db + "." + coll
	if cs := r.m.cursors.changeStream(id); cs != nil {
		return r.changeStreamGetMore(id, cs, ns, batchSize)
	}
	batch, id, err := r.m.cursors.next(id, ns, r.op, batchSize)
	if err != nil {
		return err
	}
	r.out = appendCursor(r.out, "nextBatch", id, ns, batch, nil)
	return nil
}

// cmdKillCursors reports each id as mongod does: killed, not found, or (session mismatch)
// unknown.
func cmdKillCursors(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	arr, ok := r.body.Lookup("cursors").ArrayOK()
	if !ok {
		return missingOrWrong(r, "cursors", "array")
	}
	vals, _ := arr.Values()
	var killed, notFound, unknown []int64
	ns := r.db + "." + coll
	t := &r.m.cursors
	t.mu.Lock()
	for _, v := range vals {
		id, ok := v.Int64OK()
		if !ok {
			t.mu.Unlock()
			return mongoerr.WrongType("killCursors.cursors", v.Type, "long")
		}
		c := t.m[id]
		switch {
		case c == nil || c.ns != ns:
			notFound = append(notFound, id)
		case !r.mayImpersonate() && c.checkOwner(r.op) != nil:
			// checkCursorSessionPrivilege: with auth off, or for a caller that may impersonate
			// (a router), the session need not match.
			unknown = append(unknown, id)
		default:
			delete(t.m, id)
			killed = append(killed, id)
		}
	}
	t.mu.Unlock()
	for _, f := range []struct {
		key string
		ids []int64
	}{{"cursorsKilled", killed}, {"cursorsNotFound", notFound}, {"cursorsAlive", nil}, {"cursorsUnknown", unknown}} {
		idx, out := bsoncore.AppendArrayElementStart(r.out, f.key)
		for i, id := range f.ids {
			out = bsoncore.AppendInt64Element(out, arrayKey(i), id)
		}
		r.out, _ = bsoncore.AppendArrayEnd(out, idx)
	}
	return nil
}
