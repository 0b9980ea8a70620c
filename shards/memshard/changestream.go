package memshard

import (
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// The set's change history: what mongod's oplog is to change streams. Every committed change
// (a write outside a transaction, each operation of a committed transaction in order, and the
// catalog changes) is appended with its cluster time, under store.mu held exclusively. The
// history is capped like an oplog: past the cap, the oldest events fall off, and resuming before
// them fails with ChangeStreamHistoryLost. Appending wakes the change stream getMores that wait.

// defaultOplogSize caps the history (bytes) unless WithOplogSize says otherwise.
const defaultOplogSize = 64 << 20

// WithOplogSize caps the change history each set keeps, in bytes (mongod's oplogSizeMB); the
// oldest events fall off first.
func WithOplogSize(bytes int) Option { return func(o *setOptions) { o.oplogSize = bytes } }

// Operation types of change events (document_source_change_stream.h).
const (
	opInsert        = "insert"
	opUpdate        = "update"
	opReplace       = "replace"
	opDelete        = "delete"
	opDrop          = "drop"
	opRename        = "rename"
	opDropDatabase  = "dropDatabase"
	opInvalidate    = "invalidate"
	opCreate        = "create"
	opCreateIndexes = "createIndexes"
	opDropIndexes   = "dropIndexes"
	opModify        = "modify"
	// opNoop is a note in the history (appendOplogNote, oplognote.go): no stream reports it.
	opNoop = "noop"
)

// expandedOps are reported only to streams opened with showExpandedEvents.
var expandedOps = map[string]bool{opCreate: true, opCreateIndexes: true, opDropIndexes: true, opModify: true}

// collStream is what change streams need of a collection: its UUID and whether it records pre-
// and post-images (collMod changeStreamPreAndPostImages).
type collStream struct {
	uuid   []byte
	images bool
}

func newCollStream() collStream {
	id := uuid.New()
	return collStream{uuid: id[:]}
}

// changeEvent is one entry of the history.
type changeEvent struct {
	ts       uint64 // cluster time (packed)
	opIndex  int32  // txnOpIndex: position in its transaction
	wall     time.Time
	op       string
	db, coll string
	uuid     []byte
	docKey   bson.Raw // {_id} of a CRUD event
	full     bson.Raw // insert and replace: the document; update: the post-image when recorded
	pre      bson.Raw // the pre-image of update, replace and delete when recorded
	images   bool     // pre- and post-images were recorded (changeStreamPreAndPostImages)
	update   updateDescription
	to       [2]string // rename: target db and collection
	opDesc   bson.Raw  // operationDescription of catalog events
	before   bson.Raw  // modify: stateBeforeChange
	txn      *txnID    // transaction events: lsid and txnNumber
	token    resumeToken
	tokenDoc bson.Raw // the token as the event's _id
	data     string   // the token's _data: the event's exact place
	size     int
}

type txnID struct {
	lsid   sessionid.ID
	number int64
}

// pos is the event's place in the history.
func (e *changeEvent) pos() streamPos { return streamPos{ts: e.ts, kind: tokenEvent, idx: e.opIndex} }

// changeLog is the history; guarded by store.mu.
type changeLog struct {
	events []*changeEvent
	bytes  int
	limit  int
	floor  streamPos     // history is complete after this point: the set's start, then the last event dropped
	wake   chan struct{} // closed and replaced when events are appended
}

func (l *changeLog) init(start time.Time) {
	l.floor = streamPos{ts: pack(bson.Timestamp{T: uint32(start.Unix())})}
	l.wake = make(chan struct{})
}

// latest is the cluster time of the newest event (0 when none).
func (l *changeLog) latest() uint64 {
	if len(l.events) == 0 {
		return 0
	}
	return l.events[len(l.events)-1].ts
}

// appendChange adds e at the current version s.seq; callers hold mu exclusively.
func (s *store) appendChange(e *changeEvent) {
	l := &s.changes
	e.ts, e.wall = s.seq, s.now()
	e.token = e.resumeToken()
	e.tokenDoc = e.token.encode()
	e.data = e.tokenDoc.Lookup("_data").StringValue()
	e.size = 256 + len(e.docKey) + len(e.full) + len(e.pre) + len(e.opDesc) + e.update.size()
	l.events = append(l.events, e)
	l.bytes += e.size
	limit := l.limit
	if limit <= 0 {
		limit = defaultOplogSize
	}
	drop := 0
	for l.bytes > limit && drop < len(l.events)-1 {
		l.bytes -= l.events[drop].size
		l.floor = l.events[drop].pos()
		drop++
	}
	if drop > 0 {
		clear(l.events[:drop])
		l.events = l.events[drop:]
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// resumeToken is the event's token: its cluster time, place in a transaction, collection UUID
// and {operationType, documentKey | operationDescription} (resume_token.cpp, version 2).
func (e *changeEvent) resumeToken() resumeToken {
	id := bsoncore.NewDocumentBuilder().AppendString("operationType", e.op)
	switch {
	case e.docKey != nil:
		id.AppendDocument("documentKey", e.docKey)
	case e.opDesc != nil:
		id.AppendDocument("operationDescription", e.opDesc)
	}
	return resumeToken{clusterTime: unpack(e.ts), version: tokenVersion, tokenType: tokenEvent,
		txnOpIndex: e.opIndex, uuid: e.uuid, eventID: bson.Raw(id.Build())}
}

// crudChange is the event of a document write: before and after are the document's values
// (nil: absent); replacement says the write replaced the document rather than updating it.
func crudChange(c *collection, before, after bson.Raw, replacement bool) *changeEvent {
	e := &changeEvent{db: c.db, coll: c.name, uuid: c.cs.uuid, images: c.cs.images}
	doc := after
	switch {
	case before == nil:
		e.op, e.full = opInsert, after
	case after == nil:
		e.op, doc = opDelete, before
	case replacement:
		e.op, e.full = opReplace, after
	default:
		e.op, e.update = opUpdate, diffDocs(before, after)
		if e.images {
			e.full = after
		}
	}
	if e.images && before != nil {
		e.pre = before
	}
	if id, err := doc.LookupErr("_id"); err == nil {
		e.docKey = bson.Raw(bsoncore.NewDocumentBuilder().
			AppendValue("_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value}).Build())
	}
	return e
}

// logWrite records a document write: at once outside a transaction (the version is stamped),
// in t's list of operations inside one, to be appended at commit. Callers hold mu exclusively.
func (s *store) logWrite(c *collection, before, after bson.Raw, replacement bool, t *txn) {
	e := crudChange(c, before, after, replacement)
	if t != nil {
		t.changes = append(t.changes, e)
		return
	}
	s.appendChange(e)
}

// logTxn appends a committed transaction's creations and operations, in order, at its commit
// time; callers hold mu exclusively and have stamped the commit.
func (s *store) logTxn(t *txn) {
	id := &txnID{lsid: t.lsid, number: t.number}
	var i int32
	for _, c := range t.created {
		e := createChange(c)
		e.opIndex, e.txn = i, id
		s.appendChange(e)
		i++
	}
	for _, e := range t.changes {
		e.opIndex, e.txn = i, id
		s.appendChange(e)
		i++
	}
}

func catalogChange(op string, c *collection, desc bson.Raw) *changeEvent {
	return &changeEvent{op: op, db: c.db, coll: c.name, uuid: c.cs.uuid, opDesc: desc}
}

// createChange is a collection's create event: operationDescription is the oplog entry's o
// without create (implicit creations log the _id index).
func createChange(c *collection) *changeEvent {
	return catalogChange(opCreate, c, bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("idIndex", idIndexSpec).Build()))
}

// logCreate records that c was created (outside a transaction); callers hold mu exclusively.
func (s *store) logCreate(c *collection) {
	s.stamp()
	s.appendChange(createChange(c))
}

// logDrop records that c was dropped, at the current version; callers hold mu exclusively.
func (s *store) logDrop(c *collection) {
	s.appendChange(&changeEvent{op: opDrop, db: c.db, coll: c.name, uuid: c.cs.uuid})
}

// logDropDatabase records a database drop as mongod logs it: each collection's drop, then
// dropDatabase. Callers hold mu exclusively, before the database goes.
func (s *store) logDropDatabase(db string) {
	names := s.collNames(db, nil)
	if len(names) == 0 {
		return
	}
	for _, name := range names {
		s.stamp()
		s.logDrop(s.dbs[db][name])
	}
	s.stamp()
	s.appendChange(&changeEvent{op: opDropDatabase, db: db})
}

// logIndexes records createIndexes or dropIndexes of index specs on c; callers hold mu
// exclusively. Each index is its own oplog entry in mongod.
func (s *store) logIndexes(op string, c *collection, specs []bsoncore.Document) {
	for _, spec := range specs {
		idx, arr := bsoncore.AppendArrayStart(nil)
		arr = bsoncore.AppendDocumentElement(arr, "0", spec)
		arr, _ = bsoncore.AppendArrayEnd(arr, idx)
		s.stamp()
		s.appendChange(catalogChange(op, c, bson.Raw(bsoncore.NewDocumentBuilder().AppendArray("indexes", arr).Build())))
	}
}

func (u updateDescription) size() int {
	return len(u.updated) + len(u.removed) + len(u.truncated) + len(u.disambiguated)
}
