package memshard

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// Change streams: an aggregate whose first stage is $changeStream opens a tailable cursor over
// the set's change history (changestream.go) for one collection, one database (aggregate: 1) or
// the whole deployment (admin, allChangesForCluster). Each batch carries a postBatchResumeToken;
// a getMore with no new event waits, up to maxTimeMS (mongod's await time, 1s by default), for
// a change to commit (document_source_change_stream*.cpp, change_stream_event_transform.cpp).

// defaultAwait is how long an awaitData getMore waits without maxTimeMS, as in mongod.
const defaultAwait = time.Second

// streamPos is a point in the history: the high-water mark at a cluster time (kind 0, before
// every event of that time) or an event (kind 128) — its invalidate after it, when inval.
// Positions order like resume tokens.
type streamPos struct {
	ts    uint64
	kind  int32
	idx   int32
	inval bool
}

func (p streamPos) compare(q streamPos) int {
	switch {
	case p.ts != q.ts:
		return cmpUint(p.ts, q.ts)
	case p.kind != q.kind:
		return cmpUint(uint64(p.kind), uint64(q.kind))
	case p.idx != q.idx:
		return cmpUint(uint64(p.idx), uint64(q.idx))
	case p.inval != q.inval:
		if p.inval {
			return 1
		}
		return -1
	}
	return 0
}

func cmpUint(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

type streamScope uint8

const (
	scopeCollection streamScope = iota
	scopeDatabase
	scopeCluster
)

// streamSpec is a parsed $changeStream stage.
type streamSpec struct {
	scope        streamScope
	db, coll     string
	fullDocument string // default, updateLookup, whenAvailable, required
	beforeChange string // off, whenAvailable, required
	expanded     bool   // showExpandedEvents
	system       bool   // showSystemEvents
	startKind    string // "", resumeAfter, startAfter or startAtOperationTime
	token        resumeToken
	tokenData    string
	startAt      bson.Timestamp
}

// changeStream is a change stream cursor's state; mu serializes its getMores.
type changeStream struct {
	mu       sync.Mutex
	spec     streamSpec
	pipeline *query.Pipeline
	pos      streamPos    // the last event scanned: the next batch starts after it
	pbrt     resumeToken  // postBatchResumeToken
	pbrtData string       // its _data, to keep it from going backwards
	closing  *changeEvent // an event that invalidates the stream, its invalidate not yet sent
	closed   bool         // the invalidate was sent: the cursor is done
}

// changeStreamStages are the stages mongod allows after $changeStream (they keep one event one
// document).
var changeStreamStages = map[string]bool{
	"$match": true, "$project": true, "$addFields": true, "$set": true, "$unset": true,
	"$replaceRoot": true, "$replaceWith": true, "$redact": true, "$changeStreamSplitLargeEvent": true,
}

// parseChangeStream reads {$changeStream: {...}} for the aggregate's target (a collection name
// or 1) in database db.
func parseChangeStream(db string, target bsoncore.Value, stage bson.Raw) (streamSpec, error) {
	sp := streamSpec{db: db, fullDocument: "default", beforeChange: "off"}
	v := stage.Lookup("$changeStream")
	opts, ok := v.DocumentOK()
	if !ok {
		return sp, mongoerr.New(50808, "$changeStream stage expects a document as argument")
	}
	elems, _ := opts.Elements()
	cluster := false
	for _, e := range elems {
		field := "$changeStream." + e.Key()
		ev := e.Value()
		switch e.Key() {
		case "fullDocument", "fullDocumentBeforeChange":
			s, ok := ev.StringValueOK()
			if !ok {
				return sp, mongoerr.WrongType(field, bsoncore.Type(ev.Type), "string")
			}
			valid := []string{"default", "updateLookup", "whenAvailable", "required"}
			dst := &sp.fullDocument
			if e.Key() == "fullDocumentBeforeChange" {
				valid, dst = []string{"off", "whenAvailable", "required"}, &sp.beforeChange
			}
			if !slices.Contains(valid, s) {
				return sp, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field '%s' is not a valid value.", s, field)
			}
			*dst = s
		case "resumeAfter", "startAfter":
			d, ok := ev.DocumentOK()
			if !ok {
				return sp, mongoerr.WrongType(field, bsoncore.Type(ev.Type), "object")
			}
			if sp.startKind != "" {
				return sp, multipleStarts()
			}
			t, data, err := parseResumeToken(d)
			if err != nil {
				return sp, err
			}
			sp.startKind, sp.token, sp.tokenData = e.Key(), t, data
		case "startAtOperationTime":
			t, i, ok := ev.TimestampOK()
			if !ok {
				return sp, mongoerr.WrongType(field, bsoncore.Type(ev.Type), "timestamp")
			}
			if sp.startKind != "" {
				return sp, multipleStarts()
			}
			sp.startKind, sp.startAt = e.Key(), bson.Timestamp{T: t, I: i}
		case "allChangesForCluster", "showExpandedEvents", "showSystemEvents", "showRawUpdateDescription",
			"allowToRunOnConfigDB", "allowToRunOnSystemNS":
			b, ok := ev.BooleanOK()
			if !ok {
				return sp, mongoerr.WrongType(field, bsoncore.Type(ev.Type), "bool")
			}
			switch e.Key() {
			case "allChangesForCluster":
				cluster = b
			case "showExpandedEvents":
				sp.expanded = b
			case "showSystemEvents":
				sp.system = b
			}
		default:
			return sp, mongoerr.New(mongoerr.IDLUnknownField, "BSON field '%s' is an unknown field.", field)
		}
	}
	coll, isColl := target.StringValueOK()
	switch {
	case cluster && (db != "admin" || isColl):
		return sp, mongoerr.New(mongoerr.InvalidOptions,
			"A $changeStream with 'allChangesForCluster:true' may only be opened on the 'admin' database, and with no collection name")
	case cluster:
		sp.scope = scopeCluster
	case db == "admin" || db == "config" || db == "local":
		return sp, mongoerr.New(mongoerr.InvalidNamespace, "$changeStream may not be opened on the internal %s database", db)
	case !isColl:
		sp.scope = scopeDatabase
	case strings.HasPrefix(coll, "system."):
		return sp, mongoerr.New(mongoerr.InvalidNamespace, "$changeStream may not be opened on the internal %s.%s collection", db, coll)
	default:
		sp.coll = coll
	}
	return sp, nil
}

func multipleStarts() error {
	return mongoerr.New(40674, "Only one type of resume option is allowed, but multiple were found.")
}

// openChangeStream answers an aggregate whose first stage is $changeStream.
func (r *request) openChangeStream(stages []bson.Raw, batchSize int) error {
	if r.txn != nil {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Operation not permitted in transaction :: caused by :: $changeStream cannot run in a multi-document transaction")
	}
	spec, err := parseChangeStream(r.db, r.body.Index(0).Value(), stages[0])
	if err != nil {
		return err
	}
	rest := stages[1:]
	p, err := query.NewPipeline(rest)
	if err != nil {
		return err
	}
	for _, st := range rest {
		if name := st.Index(0).Key(); !changeStreamStages[name] {
			return mongoerr.New(mongoerr.IllegalOperation, "%s is not permitted in a $changeStream pipeline", name)
		}
	}
	cs := &changeStream{spec: spec, pipeline: p}
	s := r.m.rs.store
	s.mu.RLock()
	err = cs.start(s)
	var batch []bson.Raw
	if err == nil {
		batch, err = cs.next(s, batchSize)
	}
	s.mu.RUnlock()
	if err != nil {
		return changeStreamError(err)
	}
	ns := r.db + "." + spec.coll
	if spec.scope != scopeCollection {
		ns = r.db + ".$cmd.aggregate"
	}
	var id int64
	if !cs.closed {
		id = r.m.cursors.add(&cursor{ns: ns, hasLSID: r.op.HasLSID, lsid: r.op.LSID, stream: cs, origin: r.streamCursorOrigin(len(batch))})
	}
	r.out = appendStreamCursor(r.out, "firstBatch", id, ns, batch, cs.pbrt)
	return nil
}

// start places the stream where its options say, checking the resume point is still in the
// history; callers hold store.mu.
func (cs *changeStream) start(s *store) error {
	l := &s.changes
	sp := &cs.spec
	switch sp.startKind {
	case "":
		next := s.clock.now()
		next.I++ // after every change so far
		cs.pos = streamPos{ts: pack(next)}
	case "startAtOperationTime":
		cs.pos = streamPos{ts: pack(sp.startAt)}
	default:
		t := sp.token
		cs.pos = streamPos{ts: pack(t.clusterTime), kind: t.tokenType, idx: t.txnOpIndex, inval: t.fromInvalidate}
		if t.fromInvalidate && sp.startKind == "resumeAfter" {
			return mongoerr.New(mongoerr.InvalidResumeToken,
				"Attempting to resume a change stream using 'resumeAfter' is not allowed from an invalidate notification.")
		}
	}
	if cs.pos.compare(l.floor) < 0 {
		return historyLost()
	}
	if sp.startKind == "resumeAfter" || sp.startKind == "startAfter" {
		cs.pbrt, cs.pbrtData = sp.token, sp.tokenData
		if sp.token.tokenType == tokenEvent {
			return cs.findResumed(l)
		}
		return nil
	}
	cs.pbrt = highWaterMark(unpack(cs.pos.ts))
	cs.pbrtData = cs.pbrt.data()
	return nil
}

// findResumed checks that the event a token names is in the history and seen by this stream,
// so that resuming after it is exact (document_source_change_stream_ensure_resume_token_present.cpp).
func (cs *changeStream) findResumed(l *changeLog) error {
	at := cs.pos
	at.inval = false
	i := sort.Search(len(l.events), func(i int) bool { return l.events[i].pos().compare(at) >= 0 })
	if i < len(l.events) && l.events[i].pos() == at && cs.sees(l.events[i]) {
		e := l.events[i]
		want := e.data
		if cs.pos.inval {
			inv := e.token
			inv.fromInvalidate = true
			want = inv.data()
		}
		if want == cs.spec.tokenData {
			if !cs.pos.inval && cs.invalidatedBy(e) {
				cs.closing = e
			}
			return nil
		}
	}
	return mongoerr.New(mongoerr.ChangeStreamFatalError,
		"cannot resume stream; the resume token was not found. {_data: %q}", cs.spec.tokenData)
}

func historyLost() error {
	return mongoerr.New(mongoerr.ChangeStreamHistoryLost,
		"Resume of change stream was not possible, as the resume point may no longer be in the oplog.")
}

// sees reports whether the stream reports e.
func (cs *changeStream) sees(e *changeEvent) bool {
	sp := &cs.spec
	if e.op == opNoop || expandedOps[e.op] && !sp.expanded {
		return false
	}
	if !sp.system && strings.HasPrefix(e.coll, "system.") {
		return false
	}
	switch sp.scope {
	case scopeCluster:
		return e.db != "admin" && e.db != "config" && e.db != "local"
	case scopeDatabase:
		return e.db == sp.db || e.op == opRename && e.to[0] == sp.db
	}
	switch {
	case e.op == opDropDatabase:
		return false
	case e.op == opRename && e.to == [2]string{sp.db, sp.coll}:
		return true
	}
	return e.db == sp.db && e.coll == sp.coll
}

// invalidatedBy reports whether e ends the stream: its collection dropped or renamed (either
// way), or its database dropped.
func (cs *changeStream) invalidatedBy(e *changeEvent) bool {
	switch cs.spec.scope {
	case scopeCollection:
		return e.op == opDrop || e.op == opRename
	case scopeDatabase:
		return e.op == opDropDatabase
	}
	return false
}

// next scans the history after the stream's position for up to limit documents (< 0: no
// limit) and updates the postBatchResumeToken; callers hold store.mu.
func (cs *changeStream) next(s *store, limit int) ([]bson.Raw, error) {
	l := &s.changes
	if cs.pos.compare(l.floor) < 0 {
		return nil, historyLost()
	}
	var batch []bson.Raw
	size := 0
	var last *resumeToken
	var lastPos streamPos
	i := sort.Search(len(l.events), func(i int) bool { return l.events[i].pos().compare(cs.pos) > 0 })
	for !cs.closed && (limit < 0 || len(batch) < limit) && size < maxBSONObjectSize {
		var doc, tokDoc bson.Raw
		var tok resumeToken
		switch {
		case cs.closing != nil:
			e := cs.closing
			tok = e.token
			tok.fromInvalidate = true
			tokDoc = tok.encode()
			doc = invalidateDoc(tokDoc, e)
			cs.pos = e.pos()
			cs.pos.inval = true
			cs.closed = true
		case i < len(l.events):
			e := l.events[i]
			i++
			cs.pos = e.pos()
			if !cs.sees(e) {
				continue
			}
			if cs.invalidatedBy(e) {
				cs.closing = e
			}
			var err error
			if doc, err = cs.render(s, e); err != nil {
				return nil, err
			}
			tok, tokDoc = e.token, e.tokenDoc
		default:
			cs.advance(last, lastPos, false)
			return batch, nil
		}
		out, err := cs.pipeline.Run([]bson.Raw{doc})
		if err != nil {
			return nil, err
		}
		for _, d := range out {
			if !bytes.Equal(d.Lookup("_id").Value, tokDoc) {
				return nil, mongoerr.New(mongoerr.ChangeStreamFatalError,
					"Encountered an event whose _id field, which contains the resume token, was modified by the pipeline. Modifying the _id field of an event makes it impossible to resume the stream from that point. Only transformations that retain the unmodified _id field are allowed.")
			}
			batch = append(batch, d)
			size += len(d)
			last, lastPos = &tok, cs.pos
		}
	}
	cs.advance(last, lastPos, true)
	return batch, nil
}

// advance sets the postBatchResumeToken after a batch: the last event returned when the batch
// was cut short or that event was the last scanned, else the high-water mark of the last scan.
// It never goes backwards.
func (cs *changeStream) advance(last *resumeToken, lastPos streamPos, cut bool) {
	t := highWaterMark(unpack(cs.pos.ts))
	if last != nil && (cut || lastPos == cs.pos) {
		t = *last
	}
	if d := t.data(); d > cs.pbrtData {
		cs.pbrt, cs.pbrtData = t, d
	}
}

func invalidateDoc(tok bson.Raw, e *changeEvent) bson.Raw {
	ts := unpack(e.ts)
	return bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("_id", tok).
		AppendString("operationType", opInvalidate).AppendTimestamp("clusterTime", ts.T, ts.I).
		AppendDateTime("wallTime", e.wall.UnixMilli()).Build())
}

// render is the event as this stream reports it, fields in mongod's order
// (ChangeStreamDefaultEventTransformation, then the pre- and post-image stages); callers hold
// store.mu.
func (cs *changeStream) render(s *store, e *changeEvent) (bson.Raw, error) {
	sp := &cs.spec
	b := bsoncore.NewDocumentBuilder()
	nsDoc := func(db, coll string) bsoncore.Document {
		nb := bsoncore.NewDocumentBuilder().AppendString("db", db)
		if coll != "" {
			nb.AppendString("coll", coll)
		}
		return nb.Build()
	}
	if e.op == opRename {
		b.AppendDocument("to", nsDoc(e.to[0], e.to[1]))
	}
	if e.txn != nil {
		b.AppendInt64("txnNumber", e.txn.number)
		b.AppendDocument("lsid", e.txn.lsid.AppendDoc(nil))
	}
	ts := unpack(e.ts)
	b.AppendDocument("_id", e.tokenDoc).AppendString("operationType", e.op).
		AppendTimestamp("clusterTime", ts.T, ts.I)
	if sp.expanded && e.uuid != nil {
		b.AppendBinary("collectionUUID", bson.TypeBinaryUUID, e.uuid)
	}
	b.AppendDateTime("wallTime", e.wall.UnixMilli())
	if e.op == opInsert || e.op == opReplace {
		b.AppendDocument("fullDocument", e.full)
	}
	b.AppendDocument("ns", nsDoc(e.db, e.coll))
	if e.docKey != nil {
		b.AppendDocument("documentKey", e.docKey)
	}
	if sp.expanded && e.opDesc != nil {
		b.AppendDocument("operationDescription", e.opDesc)
	}
	if e.op == opUpdate {
		u := bsoncore.NewDocumentBuilder().AppendDocument("updatedFields", e.update.updated).
			AppendArray("removedFields", e.update.removed).AppendArray("truncatedArrays", e.update.truncated)
		if sp.expanded {
			u.AppendDocument("disambiguatedPaths", e.update.disambiguated)
		}
		b.AppendDocument("updateDescription", u.Build())
	}
	if sp.expanded && e.before != nil {
		b.AppendDocument("stateBeforeChange", e.before)
	}
	if sp.expanded && e.op == opCreate {
		b.AppendString("nsType", "collection")
	}
	if sp.beforeChange != "off" && (e.op == opUpdate || e.op == opReplace || e.op == opDelete) {
		if e.pre == nil && sp.beforeChange == "required" {
			return nil, mongoerr.New(mongoerr.NoMatchingDocument,
				"Change stream was configured to require a pre-image for all update, delete and replace events, but the pre-image was not found for event: %s", e.data)
		}
		appendDocOrNull(b, "fullDocumentBeforeChange", e.pre)
	}
	if e.op == opUpdate && sp.fullDocument != "default" {
		post := e.full
		switch {
		case sp.fullDocument == "updateLookup":
			post = s.currentDoc(e)
		case post == nil && sp.fullDocument == "required":
			return nil, mongoerr.New(mongoerr.NoMatchingDocument,
				"Change stream was configured to require a post-image for all update events, but the post-image was not found for event: %s", e.data)
		}
		appendDocOrNull(b, "fullDocument", post)
	}
	return bson.Raw(b.Build()), nil
}

func appendDocOrNull(b *bsoncore.DocumentBuilder, key string, doc bson.Raw) {
	if doc == nil {
		b.AppendNull(key)
		return
	}
	b.AppendDocument(key, doc)
}

// currentDoc is updateLookup's document: the one with the event's _id in the same collection
// (not a newer one of the same name) now, or nil; callers hold store.mu.
func (s *store) currentDoc(e *changeEvent) bson.Raw {
	c := s.coll(e.db, e.coll, nil)
	if c == nil || !bytes.Equal(c.cs.uuid, e.uuid) {
		return nil
	}
	_, v := c.lookup(e.docKey.Lookup("_id"), nil)
	return v
}

// changeStream returns the cursor id names when it is a change stream's.
func (t *cursorTable) changeStream(id int64) *cursor {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.m[id]; c != nil && c.stream != nil {
		return c
	}
	return nil
}

func (t *cursorTable) remove(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, id)
}

// changeStreamGetMore is getMore on a change stream cursor: the events after the last batch, or
// — when there are none yet — a wait for one, bounded by maxTimeMS and the member's life.
func (r *request) changeStreamGetMore(id int64, c *cursor, ns string, batchSize int) error {
	if c.ns != ns {
		return mongoerr.New(mongoerr.Unauthorized,
			"Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns, c.ns)
	}
	if err := c.checkOwner(r.op); err != nil {
		return err
	}
	cs := c.stream
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if d, ok := r.m.getMoreFail.Fire(r.name, r.c.appName); ok {
		r.m.cursors.remove(id) // a failed getMore kills its cursor, as in mongod
		if d.CloseConnection {
			return errCloseConnection
		}
		return changeStreamError(d.GetMoreError())
	}
	wait := defaultAwait
	if ms, ok := r.body.Lookup("maxTimeMS").AsInt64OK(); ok && ms > 0 {
		wait = time.Duration(ms) * time.Millisecond
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	s := r.m.rs.store
	for {
		s.mu.RLock()
		batch, err := cs.next(s, batchSize)
		wake := s.changes.wake
		s.mu.RUnlock()
		if err != nil {
			r.m.cursors.remove(id)
			return changeStreamError(err)
		}
		if len(batch) > 0 || cs.closed {
			if cs.closed {
				r.m.cursors.remove(id)
				id = 0
			}
			r.out = appendStreamCursor(r.out, "nextBatch", id, ns, batch, cs.pbrt)
			return nil
		}
		select {
		case <-wake:
			continue
		case <-timer.C:
		case <-r.interrupted(): // killOp: the getMore fails and its cursor dies, as any failed getMore's
			r.m.cursors.remove(id)
			return errInterrupted()
		case <-r.c.stop:
			return changeStreamError(mongoerr.New(mongoerr.InterruptedAtShutdown, "interrupted at shutdown"))
		case <-r.m.rs.closing:
			return changeStreamError(mongoerr.New(mongoerr.InterruptedAtShutdown, "interrupted at shutdown"))
		}
		r.out = appendStreamCursor(r.out, "nextBatch", id, ns, nil, cs.pbrt)
		return nil
	}
}

// changeStreamError labels a change stream command's error as mongod does.
func changeStreamError(err error) error {
	return mongoerr.As(err).AddChangeStreamLabels()
}

// appendStreamCursor is the cursor document of a change stream batch.
func appendStreamCursor(dst []byte, key string, id int64, ns string, batch []bson.Raw, pbrt resumeToken) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "cursor")
	aidx, dst := bsoncore.AppendArrayElementStart(dst, key)
	for i, d := range batch {
		dst = bsoncore.AppendDocumentElement(dst, arrayKey(i), d)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst = bsoncore.AppendDocumentElement(dst, "postBatchResumeToken", pbrt.encode())
	dst = bsoncore.AppendInt64Element(dst, "id", id)
	dst = bsoncore.AppendStringElement(dst, "ns", ns)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
