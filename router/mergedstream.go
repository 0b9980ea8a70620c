package router

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
	"github.com/mongos-lite/mongos-lite/shards"
)

// A change stream that covers several shards is opened on each and merged by the router, as
// mongos merges one (src/mongo/db/pipeline/sharded_agg_helpers.cpp, change_stream_*): a
// whole-cluster stream on every shard; a sharded collection's on the shards of its chunks; a
// database's, when the database has a sharded collection, on its primary shard and the shards of
// those collections. Every shard starts at the same place: the client's resume token (its shard
// after the token, the others at its cluster time), its startAtOperationTime, or the router's
// cluster time. Any other stream lives on one shard and is forwarded there
// (docs/architecture.md, "Change streams across shards").

// streamStart is where a client asks a change stream to start.
type streamStart struct {
	kind   string    // "resumeAfter", "startAfter", "startAtOperationTime", or "" for now
	pos    streamPos // the token's position, or the time's
	routed bool      // the token is a merged stream's: it names its shard
}

// changeStreamStartKeys are $changeStream's options that say where it starts.
var changeStreamStartKeys = []string{"resumeAfter", "startAfter", "startAtOperationTime"}

// parseStreamStart reads the start of a $changeStream's options, with mongod's errors.
func parseStreamStart(spec bsoncore.Document) (streamStart, error) {
	var s streamStart
	var err error
	bsonview.Each(spec, func(el bsoncore.Element) bool {
		key := string(el.KeyBytes())
		if !slices.Contains(changeStreamStartKeys, key) {
			return true
		}
		if s.kind != "" {
			err = mongoerr.New(40674, "Only one type of resume option is allowed, but multiple were found.")
			return false
		}
		s.kind = key
		v := el.Value()
		if key == "startAtOperationTime" {
			t, i, ok := v.TimestampOK()
			if !ok {
				err = mongoerr.WrongType("$changeStream."+key, v.Type, "timestamp")
				return false
			}
			s.pos = timePos(bson.Timestamp{T: t, I: i})
			return true
		}
		doc, ok := v.DocumentOK()
		if !ok {
			err = mongoerr.WrongType("$changeStream."+key, v.Type, "object")
			return false
		}
		s.pos, s.routed, err = parseStreamToken(doc)
		return err == nil
	})
	return s, err
}

// streamOpen is what opens a shard's part of a merged stream: the client's aggregate, its
// $changeStream options without the start, and where the router runs it.
type streamOpen struct {
	body bsoncore.Document // the client's aggregate (a copy: the request's buffer serves the next one)
	spec bsoncore.Document // the $changeStream options, without the start
	rp   shards.ReadPref
}

// command is the aggregate a shard runs to open its part at start (an option of
// changeStreamStartKeys and its value).
func (o streamOpen) command(start string, value bsoncore.Value) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(o.body, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) != "pipeline" {
			dst = append(dst, el...)
			return true
		}
		stages, _ := el.Value().ArrayOK()
		vals, _ := stages.Values()
		aidx, arr := bsoncore.AppendArrayElementStart(dst, "pipeline")
		sidx, st := bsoncore.AppendDocumentElementStart(arr, "0")
		cidx, cs := bsoncore.AppendDocumentElementStart(st, "$changeStream")
		cs = append(cs, o.spec[4:len(o.spec)-1]...)
		cs = bsoncore.AppendValueElement(cs, start, value)
		st, _ = bsoncore.AppendDocumentEnd(cs, cidx)
		arr, _ = bsoncore.AppendDocumentEnd(st, sidx)
		for i, v := range vals[1:] {
			arr = bsoncore.AppendValueElement(arr, strconv.Itoa(i+1), v)
		}
		dst, _ = bsoncore.AppendArrayEnd(arr, aidx)
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// withoutKeys is doc without the top-level fields named.
func withoutKeys(doc bsoncore.Document, keys ...string) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)))
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if !slices.Contains(keys, string(el.KeyBytes())) {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// changeStream answers an aggregate whose first stage is $changeStream when the stream covers
// several shards, or its token is a merged stream's; merged false leaves a stream of one shard
// to the caller, which forwards it.
func (c *conn) changeStream(ctx context.Context, r *request, stage bsoncore.Document) (reply bsoncore.Document, merged bool, err error) {
	spec, ok := bsonview.Lookup(stage, "$changeStream")
	opts, isDoc := spec.DocumentOK()
	if !ok || !isDoc || trueFlag(r.Body, "explain") {
		return nil, false, nil // the shard refuses it, or explains it
	}
	start, err := parseStreamStart(opts)
	if err != nil {
		return nil, true, err
	}
	targets, err := c.streamTargets(ctx, r, opts, &start)
	if err != nil || targets == nil {
		return nil, err != nil, err
	}
	if r.op.Autocommit {
		return nil, true, mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Operation not permitted in transaction :: caused by :: $changeStream cannot run in a multi-document transaction")
	}
	rp, err := readPrefOf(r)
	if err != nil {
		return nil, true, err
	}
	reply, err = c.openMergedStream(ctx, r, streamOpen{body: bytes.Clone(r.Body), spec: withoutKeys(opts, changeStreamStartKeys...), rp: rp}, start, targets)
	return reply, true, err
}

// streamTargets are the shards a change stream is merged across, nil for a stream that lives on
// one shard. A token of a merged stream makes the stream merged whatever it covers now: it names
// the shard to resume after. A shard's own token (a stream of one shard gave it) names none: it
// is the database's primary shard's, where such a stream runs, and start says so on return.
func (c *conn) streamTargets(ctx context.Context, r *request, spec bsoncore.Document, start *streamStart) ([]int, error) {
	db := string(r.DB)
	target, _ := bsonview.Lookup(r.Body, "aggregate")
	coll, isColl := target.StringValueOK()
	all, _ := bsonview.Lookup(spec, "allChangesForCluster")
	cluster, _ := all.BooleanOK()
	byToken := start.kind == "resumeAfter" || start.kind == "startAfter"
	var targets []int
	switch {
	case cluster && db == "admin" && !isColl:
		if byToken && !start.routed {
			return nil, mongoerr.New(mongoerr.InvalidResumeToken,
				"a whole-cluster change stream resumes from the router's resume tokens, and this one was given by a change stream of one shard")
		}
		for i := range c.s.cluster.Shards() {
			targets = append(targets, i)
		}
	case cluster || db == "admin" || db == "config" || db == "local":
		return nil, nil // the shard refuses it as mongod does
	case isColl:
		rt, err := c.s.cluster.Routing(ctx, db, coll)
		if err != nil {
			return nil, mongoerr.As(err)
		}
		if rt.Sharded {
			targets = rt.Shards()
		}
	default:
		var err error
		if targets, err = c.databaseStreamShards(ctx, db); err != nil {
			return nil, err
		}
	}
	if targets == nil && !start.routed {
		return nil, nil
	}
	if targets == nil || byToken && !start.routed {
		primary, err := c.s.cluster.PrimaryShard(ctx, r.DB, false)
		if err != nil {
			return nil, mongoerr.As(err)
		}
		targets = addShard(targets, primary)
		if !start.routed {
			start.pos.shard = c.s.cluster.Shard(primary).Name()
		}
	}
	if start.pos.shard != "" {
		i := c.s.cluster.Index(start.pos.shard)
		if i < 0 {
			return nil, mongoerr.New(mongoerr.ChangeStreamFatalError,
				"cannot resume the change stream: its resume token names shard %q, which is not in this cluster", start.pos.shard)
		}
		targets = addShard(targets, i)
	}
	return targets, nil
}

// addShard is targets with i, in order, once.
func addShard(targets []int, i int) []int {
	if slices.Contains(targets, i) {
		return targets
	}
	targets = append(targets, i)
	slices.Sort(targets)
	return targets
}

// databaseStreamShards are the shards a database's stream covers: nil when none of its
// collections is sharded (the database is whole on its primary shard), else the primary shard
// and the shards of its sharded collections.
func (c *conn) databaseStreamShards(ctx context.Context, db string) ([]int, error) {
	names, err := c.s.cluster.ShardedCollections(ctx)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	var targets []int
	for _, ns := range names {
		coll, ok := strings.CutPrefix(ns, db+".")
		if !ok {
			continue
		}
		rt, err := c.s.cluster.Routing(ctx, db, coll)
		if err != nil {
			return nil, mongoerr.As(err)
		}
		for _, s := range rt.Shards() {
			targets = addShard(targets, s)
		}
		targets = addShard(targets, rt.Primary)
	}
	return targets, nil
}

// openMergedStream opens the stream on every target at start and answers with the events that
// are ready among the shards' first batches.
func (c *conn) openMergedStream(ctx context.Context, r *request, open streamOpen, start streamStart, targets []int) (bsoncore.Document, error) {
	m := &mergedStream{db: string(r.DB), coll: "$cmd.aggregate", open: open}
	if coll, ok := bsonview.Lookup(r.Body, "aggregate"); ok && coll.Type == bsoncore.TypeString {
		m.coll = coll.StringValue()
	}
	batchSize, err := firstBatchSize(r)
	if err != nil {
		return nil, err
	}
	m.hwm = start.pos
	if start.kind == "" {
		// Now: past every time the router has seen, the client's included (mongos starts at its
		// vector clock's time).
		now := bson.Timestamp{T: uint32(time.Now().Unix())}
		if ct := c.s.clock.load(); ct != nil {
			now = ct.ts
		}
		m.hwm = timePos(nextTick(now))
	}
	calls := make([]*shardCall, len(targets))
	for i, t := range targets {
		name := c.s.cluster.Shard(t).Name()
		kind, value := "startAtOperationTime", tsValue(m.hwm.clusterTime())
		if start.kind != "" && start.kind != "startAtOperationTime" && name == start.pos.shard {
			kind, value = start.kind, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: start.pos.shardToken()}
		}
		calls[i] = &shardCall{shard: t, name: name, body: open.command(kind, value)}
	}
	c.callShards(ctx, r, open.rp, calls)
	var failed error
	for _, call := range calls {
		if err := call.failure(); err != nil {
			failed = firstErr(failed, err)
			continue
		}
		p := &streamPart{shard: call.shard, name: call.name, host: call.host, id: call.reply.Status.Cursor.ID}
		m.parts = append(m.parts, p)
		if err := p.accept(call.reply.Body, "firstBatch"); err != nil {
			failed = firstErr(failed, err)
		}
	}
	if failed != nil {
		c.s.killRemotes(m.ns(), m.remotes())
		return nil, failed
	}
	var docs []bsoncore.Document
	if batchSize > 0 {
		docs = m.take(batchSize)
	}
	m.advance()
	var id int64
	if m.finished() {
		c.s.killRemotes(m.ns(), m.remotes())
	} else {
		id, err = c.s.cursors.Register(clustercursor.Spec{NS: m.ns(), Binding: binding(r), Remotes: m.remotes(),
			ChangeStream: true, Originating: bytes.Clone(r.Body), Merge: m})
		if err != nil {
			return nil, err
		}
		c.addSessionCursor(r, id)
	}
	return streamBatchReply(m.ns(), "firstBatch", id, docs, m.hwm), nil
}

// firstErr keeps the first error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

func tsValue(ts bson.Timestamp) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeTimestamp, Data: bsoncore.AppendTimestamp(nil, ts.T, ts.I)}
}

// accept takes a shard's batch of the part's stream: its events, its cursor and its promise.
func (p *streamPart) accept(reply bsoncore.Document, batch string) error {
	for _, doc := range ownBatch(reply, batch) {
		id, _ := bsonview.Lookup(doc, "_id")
		tok, _ := id.DocumentOK()
		pos, err := shardPos(tok, p.name)
		if err != nil {
			return err
		}
		p.events = append(p.events, streamEvent{doc: doc, pos: pos})
	}
	cur, _ := bsonview.Lookup(reply, "cursor")
	curDoc, _ := cur.DocumentOK()
	id, _ := bsonview.Lookup(curDoc, "id")
	p.id, _ = id.AsInt64OK()
	v, ok := bsonview.Lookup(curDoc, "postBatchResumeToken")
	tok, isDoc := v.DocumentOK()
	if !ok || !isDoc {
		return mongoerr.New(mongoerr.InternalError, "shard %s answered a change stream without a postBatchResumeToken", p.name)
	}
	promise, err := shardPos(bytes.Clone(tok), p.name)
	if err != nil {
		return err
	}
	if promise.compare(p.promise) > 0 {
		p.promise = promise
	}
	return nil
}

// streamBatchReply is a change stream's batch: {cursor: {<batch>, postBatchResumeToken, id, ns},
// ok: 1}, with the router's token of the high-water mark.
func streamBatchReply(ns, batch string, id int64, docs []bsoncore.Document, hwm streamPos) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().AppendDocument("cursor", bsoncore.NewDocumentBuilder().
		AppendArray(batch, docArray(docs)).
		AppendDocument("postBatchResumeToken", hwm.routerToken()).
		AppendInt64("id", id).
		AppendString("ns", ns).Build()).
		AppendDouble("ok", 1).Build()
}
