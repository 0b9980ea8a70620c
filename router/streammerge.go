package router

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
)

// The merge of a change stream's shard cursors, as mongos's AsyncResultsMerger merges them for
// a sorted tailable cursor (src/mongo/s/query/exec/async_results_merger.cpp,
// _readySortedTailable and getHighWaterMark): each shard's postBatchResumeToken promises that
// the shard has nothing left at or before it; the smallest event held is returned only once no
// shard's promise is behind it, so no event is ever returned past the least-advanced shard; and
// the stream's own postBatchResumeToken, its high-water mark, is the last event returned or,
// when nothing more can be returned, the smallest promise (docs/architecture.md, "Change
// streams across shards").

// streamPart is one shard's cursor behind a merged stream.
type streamPart struct {
	shard  int
	name   string
	host   string // the member that holds the cursor
	id     int64  // the shard cursor; 0 once the shard's stream ended (an invalidate)
	events []streamEvent
	// promise is the shard's latest postBatchResumeToken: it has no event left at or before it.
	promise streamPos
	// lostSince is when the shard cursor failed with an error its stream resumes after (the
	// member stepped down, shut down or could not be reached); zero while it is healthy. A lost
	// part is reopened from its promise on the shard's primary.
	lostSince time.Time
	lostErr   error
	// nudged is the event a no-op note was last written on this shard to pass; notesRefused:
	// the shard refused appendOplogNote, so only its own writes move its promise.
	nudged       streamPos
	notesRefused bool
}

func (p *streamPart) String() string { return p.name + "/" + p.host }

// ended reports a part with nothing more to come from its shard.
func (p *streamPart) ended() bool { return p.id == 0 && p.lostSince.IsZero() }

// streamEvent is an event a shard returned, not yet returned to the client.
type streamEvent struct {
	doc bsoncore.Document
	pos streamPos
}

// mergedStream is the state of a change stream merged across shards; whoever has the router
// cursor checked out owns it.
type mergedStream struct {
	db, coll string // the getMore's namespace: coll is "$cmd.aggregate" for a database or cluster stream
	// open is the aggregate a shard runs, with the start a part resumes from (openBody).
	open  streamOpen
	parts []*streamPart
	// hwm is the stream's high-water mark: every event at or before it was returned or precedes
	// the stream's start, and is dropped if a shard returns it.
	hwm  streamPos
	done bool // an invalidate was returned: the stream is over
	cur  *clustercursor.Cursor
}

// ns is the namespace of the stream's cursor.
func (m *mergedStream) ns() string { return m.db + "." + m.coll }

// head is the part holding the smallest event, nil when no part holds one.
func (m *mergedStream) head() *streamPart {
	var best *streamPart
	for _, p := range m.parts {
		if len(p.events) > 0 && (best == nil || p.events[0].pos.compare(best.events[0].pos) < 0) {
			best = p
		}
	}
	return best
}

// minPromise is the smallest promise of the parts whose shards may still send events; ok is
// false when none may.
func (m *mergedStream) minPromise() (min streamPos, ok bool) {
	for _, p := range m.parts {
		if !p.ended() && (!ok || p.promise.compare(min) < 0) {
			min, ok = p.promise, true
		}
	}
	return min, ok
}

// ready reports whether the smallest event held may be returned: no shard can still send one
// before it.
func (m *mergedStream) ready() bool {
	h := m.head()
	if h == nil {
		return false
	}
	min, ok := m.minPromise()
	return !ok || h.events[0].pos.compare(min) <= 0
}

// take returns the events that are ready, in order, up to batchSize (0: as many as fit a
// reply), each with the router's token as its _id; it stops after an invalidate.
func (m *mergedStream) take(batchSize int64) []bsoncore.Document {
	var out []bsoncore.Document
	size := 0
	for !m.done && (batchSize == 0 || int64(len(out)) < batchSize) && m.ready() {
		h := m.head()
		ev := h.events[0]
		if ev.pos.compare(m.hwm) <= 0 { // before the stream's start, or already returned
			h.events = h.events[1:]
			continue
		}
		doc := withStreamID(ev.doc, ev.pos.routerToken())
		if len(out) > 0 && size+len(doc) > batchBytes {
			break
		}
		h.events = h.events[1:]
		out = append(out, doc)
		size += len(doc)
		m.hwm = ev.pos
		if op, _ := bsonview.Lookup(ev.doc, "operationType"); op.StringValue() == "invalidate" {
			m.done = true
		}
	}
	return out
}

// advance moves the high-water mark to the smallest promise when nothing more can be returned
// now: every event up to it has been returned.
func (m *mergedStream) advance() {
	if m.done || m.ready() {
		return
	}
	if min, ok := m.minPromise(); ok && min.compare(m.hwm) > 0 {
		m.hwm = min
	}
}

// finished reports a stream with nothing more to return: invalidated, or every shard's stream
// ended and returned.
func (m *mergedStream) finished() bool {
	if m.done {
		return true
	}
	for _, p := range m.parts {
		if !p.ended() || len(p.events) > 0 {
			return false
		}
	}
	return true
}

// remotes are the shard cursors behind the stream, for killing them.
func (m *mergedStream) remotes() []clustercursor.Remote {
	out := make([]clustercursor.Remote, 0, len(m.parts))
	for _, p := range m.parts {
		if p.id != 0 {
			out = append(out, clustercursor.Remote{Shard: p.shard, Host: p.host, ID: p.id})
		}
	}
	return out
}

// withStreamID is an event with _id replaced by token.
func withStreamID(doc, token bsoncore.Document) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)+len(token)))
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) == "_id" {
			dst = bsoncore.AppendDocumentElement(dst, "_id", token)
		} else {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
