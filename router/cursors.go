package router

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
	"github.com/mongos-lite/mongos-lite/shards"
)

// newCursorManager holds the router's cursors (docs/architecture.md, "Cursors"): the shard
// cursors behind reaped, ended and killed ones are killed (killRemotes), and a session forgets
// the cursors that are gone.
func (s *Server) newCursorManager() *clustercursor.Manager {
	return clustercursor.New(clustercursor.Config{
		Timeout:     s.cfg.CursorTimeout,
		KillRemotes: s.killRemotes,
		Forget:      s.sessions.RemoveCursor,
	})
}

// killRemotes kills shard cursors of namespace ns, each member under the per-host timeout of the
// session kills. Best effort, as mongos's: a shard that cannot be reached reaps its cursor itself.
func (s *Server) killRemotes(ns string, remotes []clustercursor.Remote) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.KillSessionsPerHostTimeout)
	defer cancel()
	s.killRemotesBy(ctx, ns, remotes)
}

// killRemotesBy kills shard cursors of namespace ns before ctx ends.
func (s *Server) killRemotesBy(ctx context.Context, ns string, remotes []clustercursor.Remote) {
	db, coll, _ := splitNS(ns)
	for _, rm := range remotes {
		_, _ = s.cluster.Shard(rm.Shard).CommandHost(ctx, rm.Host, killCursorsCommand(db, coll, rm.ID))
	}
}

func splitNS(ns string) (db, coll string, ok bool) {
	i := bytes.IndexByte([]byte(ns), '.')
	if i < 0 {
		return ns, "", false
	}
	return ns[:i], ns[i+1:], true
}

func killCursorsCommand(db, coll string, ids ...int64) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendString("killCursors", coll).
		AppendArray("cursors", int64Array(ids)).
		AppendString("$db", db).Build()
}

// binding is what a cursor opened by r belongs to.
func binding(r *request) clustercursor.Binding {
	return clustercursor.BindingOf(r.op, r.who.uid)
}

// storeCursor gives the cursor a shard's reply opened an id of the router's own, maps it to the
// member and shard cursor behind it, and puts that id in the reply (store_possible_cursor.cpp).
// r.keep, when set, filters this batch and every later one.
func (c *conn) storeCursor(reply shards.Reply, shard int, host string, r *request) (bsoncore.Document, error) {
	body, cur := reply.Body, reply.Status.Cursor
	if !cur.Present || !reply.Status.OK {
		return body, nil
	}
	if r.keep != nil {
		body = filterBatch(body, "firstBatch", r.keep)
	}
	if cur.ID == 0 {
		return body, nil
	}
	id, err := c.s.cursors.Register(clustercursor.Spec{
		NS:           string(cur.NS),
		Binding:      binding(r),
		Remotes:      []clustercursor.Remote{{Shard: shard, Host: host, ID: cur.ID}},
		Keep:         r.keep,
		NoTimeout:    noCursorTimeout(r),
		ChangeStream: isChangeStream(r),
		Originating:  bytes.Clone(r.Body),
	})
	if err != nil {
		return nil, err
	}
	c.addSessionCursor(r, id)
	return withCursorID(body, id), nil
}

// addSessionCursor ties cursor id to r's session: killing, ending or reaping the session closes
// it.
func (c *conn) addSessionCursor(r *request, id int64) {
	if r.op.HasLSID {
		_ = c.s.sessions.AddCursor(r.op.LSID, id)
	}
}

// noCursorTimeout is find's noCursorTimeout: the cursor is never reaped.
func noCursorTimeout(r *request) bool {
	if string(r.Name) != "find" {
		return false
	}
	v, _ := command.TrueValue(r.Body, "noCursorTimeout", "find")
	return v
}

// isChangeStream reports an aggregate whose first stage is $changeStream.
func isChangeStream(r *request) bool {
	if string(r.Name) != "aggregate" {
		return false
	}
	pv, _ := bsonview.Lookup(r.Body, "pipeline")
	stages, _ := pv.ArrayOK()
	first, _ := stages.IndexErr(0)
	stage, _ := first.DocumentOK()
	return string(bsonview.FirstKey(stage)) == "$changeStream"
}

// withCursorID is a cursor reply with cursor.id set to id: in place when the shard wrote a long,
// as mongod does.
func withCursorID(body bsoncore.Document, id int64) bsoncore.Document {
	cur, _ := bsonview.Lookup(body, "cursor")
	doc, _ := cur.DocumentOK()
	if v, ok := bsonview.Lookup(doc, "id"); ok && v.Type == bsoncore.TypeInt64 && len(v.Data) == 8 {
		binary.LittleEndian.PutUint64(v.Data, uint64(id))
		return body
	}
	return replaceInCursor(body, func(dst []byte, el bsoncore.Element) []byte {
		if string(el.KeyBytes()) == "id" {
			return bsoncore.AppendInt64Element(dst, "id", id)
		}
		return append(dst, el...)
	})
}

// replaceInCursor rebuilds a reply, passing every element of its cursor document through edit.
func replaceInCursor(reply bsoncore.Document, edit func(dst []byte, el bsoncore.Element) []byte) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(reply)))
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		cur, ok := el.Value().DocumentOK()
		if string(el.KeyBytes()) != "cursor" || !ok {
			dst = append(dst, el...)
			return true
		}
		cidx, d := bsoncore.AppendDocumentElementStart(dst, "cursor")
		bsonview.Each(cur, func(cel bsoncore.Element) bool {
			d = edit(d, cel)
			return true
		})
		dst, _ = bsoncore.AppendDocumentEnd(d, cidx)
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// filterBatch is a cursor reply with only the documents of cursor.<batch> that keep accepts.
func filterBatch(reply bsoncore.Document, batch string, keep func(bsoncore.Document) bool) bsoncore.Document {
	return replaceInCursor(reply, func(d []byte, cel bsoncore.Element) []byte {
		arr, ok := cel.Value().ArrayOK()
		if string(cel.KeyBytes()) != batch || !ok {
			return append(d, cel...)
		}
		aidx, a := bsoncore.AppendArrayElementStart(d, batch)
		n := 0
		bsonview.Each(bsoncore.Document(arr), func(item bsoncore.Element) bool {
			if doc, ok := item.Value().DocumentOK(); ok && keep(doc) {
				a = bsoncore.AppendDocumentElement(a, strconv.Itoa(n), doc)
				n++
			}
			return true
		})
		d, _ = bsoncore.AppendArrayEnd(a, aidx)
		return d
	})
}

// getMoreRequest is a getMore's cursor id, namespace and batch size.
type getMoreRequest struct {
	id        int64
	ns        string
	batchSize int64 // 0: as many as fit
}

func parseGetMore(r *request) (getMoreRequest, error) {
	v, _ := bsonview.Lookup(r.Body, "getMore")
	id, ok := v.Int64OK()
	if !ok {
		return getMoreRequest{}, mongoerr.WrongType("getMore.getMore", v.Type, "long")
	}
	coll, ok := bsonview.Lookup(r.Body, "collection")
	if !ok {
		return getMoreRequest{}, mongoerr.New(40414, "BSON field 'getMore.collection' is missing but a required field")
	}
	if coll.Type != bsoncore.TypeString {
		return getMoreRequest{}, mongoerr.WrongType("getMore.collection", coll.Type, "string")
	}
	if coll.StringValue() == "" {
		return getMoreRequest{}, mongoerr.New(mongoerr.InvalidNamespace, "Collection names cannot be empty")
	}
	g := getMoreRequest{id: id, ns: string(r.DB) + "." + coll.StringValue()}
	if bs, ok := bsonview.Lookup(r.Body, "batchSize"); ok {
		n, ok := bs.AsInt64OK()
		if !ok {
			return getMoreRequest{}, mongoerr.WrongType("getMore.batchSize", bs.Type, "long")
		}
		if n < 0 {
			return getMoreRequest{}, mongoerr.New(mongoerr.BadValue, "BatchSize value must be non-negative, but received: %d", n)
		}
		g.batchSize = n
	}
	return g, nil
}

// getMore checks the router cursor out (clustercursor.Manager.CheckOut: owner, session,
// transaction, namespace) and continues it: from the router's own queue, or on the member that
// holds the shard cursor, under the shard's id, with the router's id put back in the reply.
func (c *conn) getMore(ctx context.Context, r *request) (bsoncore.Document, error) {
	g, err := parseGetMore(r)
	if err != nil {
		return nil, err
	}
	cur, err := c.s.cursors.CheckOut(g.id, g.ns, binding(r))
	if err != nil {
		return nil, err
	}
	if d, ok := c.s.failGetMore.Fire("getMore", c.appName); ok {
		c.s.cursors.Return(cur, clustercursor.Abandoned, 0)
		if d.CloseConnection {
			return nil, errCloseConnection
		}
		return nil, cursorError(cur, d.GetMoreError())
	}
	switch m := cur.Merge.(type) {
	case *merger:
		return c.nextMerged(ctx, r, cur, m, g)
	case *mergedStream:
		return c.nextStream(ctx, r, cur, m, g)
	}
	if len(cur.Remotes) == 0 {
		return c.nextQueued(cur, g)
	}
	remote := cur.Remotes[0]
	sub := *r
	sub.Body = withGetMoreID(r.Body, remote.ID)
	reply, _, err := c.exchange(ctx, remote.Shard, shards.Primary(), remote.Host, &sub)
	state := clustercursor.Abandoned
	switch st := reply.Status; {
	case err != nil:
	case st.Code == mongoerr.CursorNotFound:
		state = clustercursor.Exhausted
	case !st.OK:
	case st.Cursor.ID == 0:
		state = clustercursor.Exhausted
	default:
		state = clustercursor.Open
	}
	if c.s.cursors.Return(cur, state, countBatch(reply.Body, "nextBatch")) {
		return nil, clustercursor.Killed()
	}
	if err != nil {
		return nil, cursorError(cur, err)
	}
	if !reply.Status.OK {
		return reply.Body, nil
	}
	body := reply.Body
	if state == clustercursor.Open {
		body = withCursorID(body, g.id)
	}
	if cur.Keep != nil {
		body = filterBatch(body, "nextBatch", cur.Keep)
	}
	return body, nil
}

// cursorError is an error of the router's own on a getMore of cur: a change stream's carries the
// change stream labels, as mongos gives them (a shard's error carries the shard's).
func cursorError(cur *clustercursor.Cursor, err error) error {
	e := mongoerr.As(err)
	if cur.ChangeStream {
		e.AddChangeStreamLabels()
	}
	return e
}

// withGetMoreID is a getMore for the shard cursor id.
func withGetMoreID(body bsoncore.Document, id int64) bsoncore.Document {
	out := bytes.Clone(body)
	v, _ := bsonview.Lookup(out, "getMore") // parseGetMore checked it is a long
	binary.LittleEndian.PutUint64(v.Data, uint64(id))
	return out
}

// countBatch is the number of documents in a cursor reply's batch.
func countBatch(body bsoncore.Document, batch string) int {
	n := 0
	eachInBatch(body, batch, func(bsoncore.Document) { n++ })
	return n
}

// batchBytes is how much of a reply a batch may fill: 16 MB, less room for the reply's other
// fields, as mongod's FindCommon::BSONArrayResponseSizeTracker leaves it.
const batchBytes = 16*1024*1024 - 16*1024

// takeBatch is the first documents of queue that batchSize (0: no count limit) and the reply
// size allow, at least one; and what is left.
func takeBatch(queue []bsoncore.Document, batchSize int64) (batch, rest []bsoncore.Document) {
	size := 0
	n := 0
	for n < len(queue) && (batchSize == 0 || int64(n) < batchSize) {
		size += len(queue[n])
		if n > 0 && size > batchBytes {
			break
		}
		n++
	}
	return queue[:n], queue[n:]
}

// nextQueued is a getMore on a cursor whose documents the router holds.
func (c *conn) nextQueued(cur *clustercursor.Cursor, g getMoreRequest) (bsoncore.Document, error) {
	batch, rest := takeBatch(cur.Queue, g.batchSize)
	cur.Queue = rest
	state, id := clustercursor.Open, g.id
	if len(rest) == 0 {
		state, id = clustercursor.Exhausted, 0
	}
	if c.s.cursors.Return(cur, state, len(batch)) {
		return nil, clustercursor.Killed()
	}
	return cursorBatchReply(cur.NS, "nextBatch", id, batch, false), nil
}

// queuedCursor answers a cursor command with documents the router produced itself: the first
// batch (the command's cursor.batchSize, else 101 as mongos), and a router cursor for the rest.
func (c *conn) queuedCursor(r *request, ns string, docs []bsoncore.Document) (bsoncore.Document, error) {
	batchSize, err := firstBatchSize(r)
	if err != nil {
		return nil, err
	}
	batch, rest := docs[:0], docs
	if batchSize > 0 {
		batch, rest = takeBatch(docs, batchSize)
	}
	var id int64
	if len(rest) > 0 {
		id, err = c.s.cursors.RegisterQueued(clustercursor.Spec{NS: ns, Binding: binding(r),
			Originating: bytes.Clone(r.Body)}, rest)
		if err != nil {
			return nil, err
		}
		c.addSessionCursor(r, id)
	}
	return cursorBatchReply(ns, "firstBatch", id, batch, false), nil
}

// defaultBatchSize is the first batch's size when the command names none (find's and
// aggregate's 101).
const defaultBatchSize = 101

// firstBatchSize is the command's cursor.batchSize (or find's batchSize), 101 when absent; 0 is
// an empty first batch.
func firstBatchSize(r *request) (int64, error) {
	v, ok := bsonview.Lookup(r.Body, "batchSize")
	if cur, isDoc := bsonview.Lookup(r.Body, "cursor"); isDoc {
		doc, _ := cur.DocumentOK()
		v, ok = bsonview.Lookup(doc, "batchSize")
	}
	if !ok {
		return defaultBatchSize, nil
	}
	n, isNum := v.AsInt64OK()
	if !isNum || n < 0 {
		return 0, mongoerr.New(mongoerr.BadValue, "batchSize must be a non-negative number")
	}
	return n, nil
}

// cursorBatchReply is {cursor: {<batch>: docs, id, ns}, ok: 1}, with partialResultsReturned
// when a shard was left out of a merged cursor (allowPartialResults).
func cursorBatchReply(ns, batch string, id int64, docs []bsoncore.Document, partial bool) bsoncore.Document {
	cur := bsoncore.NewDocumentBuilder().AppendArray(batch, docArray(docs)).AppendInt64("id", id).AppendString("ns", ns)
	if partial {
		cur.AppendBoolean("partialResultsReturned", true)
	}
	return bsoncore.NewDocumentBuilder().AppendDocument("cursor", cur.Build()).AppendDouble("ok", 1).Build()
}

// killCursors kills router cursors, with mongos's answer (kill_cursors_common.h): an id this
// router does not hold, or holds under another namespace, is not found, whoever asks; killing
// another user's cursor needs killAnyCursor (auth_checks.cpp checkAuthForKillCursors); the shard
// cursors behind a killed one are killed with it.
func (c *conn) killCursors(_ context.Context, r *request) (bsoncore.Document, error) {
	coll, ok := bsonview.Lookup(r.Body, "killCursors")
	if !ok || coll.Type != bsoncore.TypeString {
		return nil, mongoerr.WrongType("killCursors.killCursors", coll.Type, "string")
	}
	ns := string(r.DB) + "." + coll.StringValue()
	v, _ := bsonview.Lookup(r.Body, "cursors")
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, mongoerr.WrongType("killCursors.cursors", v.Type, "array")
	}
	vals, _ := arr.Values()
	var held, notFound []int64
	for _, cv := range vals {
		id, ok := cv.Int64OK()
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch,
				"BSON field 'killCursors.cursors' contains an element of type '%s', expected type 'long'", mongoerr.TypeName(cv.Type))
		}
		owner, ok := c.s.cursors.Owner(id, ns)
		if !ok {
			notFound = append(notFound, id)
			continue
		}
		if err := r.who.mayKillCursor(owner, r.DB, coll.StringValue()); err != nil {
			return nil, err
		}
		held = append(held, id)
	}
	killed := c.s.cursors.Kill(held, true)
	if len(killed) < len(held) {
		// Another operation killed some between the check and the kill.
		notFound = append(notFound, missing(held, killed)...)
	}
	return bsoncore.NewDocumentBuilder().
		AppendArray("cursorsKilled", int64Array(killed)).
		AppendArray("cursorsNotFound", int64Array(notFound)).
		AppendArray("cursorsAlive", int64Array(nil)).
		AppendArray("cursorsUnknown", int64Array(nil)).
		AppendDouble("ok", 1).Build(), nil
}

// missing is the ids of all that are not in some.
func missing(all, some []int64) []int64 {
	in := make(map[int64]bool, len(some))
	for _, id := range some {
		in[id] = true
	}
	var out []int64
	for _, id := range all {
		if !in[id] {
			out = append(out, id)
		}
	}
	return out
}

func int64Array(ids []int64) []byte {
	idx, arr := bsoncore.AppendArrayStart(nil)
	for i, id := range ids {
		arr = bsoncore.AppendInt64Element(arr, strconv.Itoa(i), id)
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, idx)
	return arr
}

// startCursorReaper reaps idle router cursors every clustercursor.ReapEvery, in a goroutine the
// server owns until Close.
func (s *Server) startCursorReaper() {
	s.background(func(ctx context.Context) { s.cursors.Run(ctx, clustercursor.ReapEvery) })
}
