package router

import (
	"bytes"
	"context"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/sessionfanout"
	"github.com/mongos-lite/mongos-lite/shards"
)

// A read that reaches several shards opens a cursor on each and the router merges them, as
// mongos's AsyncResultsMerger does (src/mongo/s/query/exec/async_results_merger.cpp): in the
// sort's order by the sort key each shard returns with every document ($sortKey), else in the
// order batches arrive; the router applies the skip, and the limit that the shards also apply
// (docs/architecture.md, "Sharded reads").

// sortKeyField is the field the shards put each document's sort key in, as mongos asks for it
// ({$sortKey: {$meta: "sortKey"}}), and which the router removes before returning documents.
const sortKeyField = "$sortKey"

// shardPart is one shard cursor behind a merged cursor, with what the router has of it and has
// not returned yet.
type shardPart struct {
	shard int
	name  string // the shard's name (fan-out reports)
	host  string // the member that holds the cursor
	id    int64  // the shard cursor; 0 once exhausted
	docs  []bsoncore.Document
	key   []bson.RawValue // docs[0]'s sort key, once read
}

func (p *shardPart) String() string { return p.name + "/" + p.host }

// merger is the state of a merged cursor; whoever has the router cursor checked out owns it.
type merger struct {
	db, coll     string
	parts        []*shardPart
	sort         *query.Sort // nil: no order
	skip         int64       // documents still to drop
	limit        int64       // documents still to return; < 0: no limit
	allowPartial bool        // allowPartialResults: a shard that fails is left out
	partial      bool        // a shard was left out
	// sortFromDocs: the sort key is read from each document by the sort (an aggregate, whose
	// shards end with the $sort), not from the $sortKey the shards add (a find).
	sortFromDocs bool
}

// done reports whether the merge can return nothing more.
func (m *merger) done() bool {
	if m.limit == 0 {
		return true
	}
	for _, p := range m.parts {
		if len(p.docs) > 0 || p.id != 0 {
			return false
		}
	}
	return true
}

// open reports whether a shard cursor is still open (to be killed when the merge stops early).
func (m *merger) open() bool {
	for _, p := range m.parts {
		if p.id != 0 {
			return true
		}
	}
	return false
}

// next returns up to batchSize documents (0: as many as fit a reply), in merge order, fetching
// shards' next batches as the order needs them.
func (m *merger) next(ctx context.Context, c *conn, r *request, batchSize int64) ([]bsoncore.Document, error) {
	var out []bsoncore.Document
	size := 0
	for (batchSize == 0 || int64(len(out)) < batchSize) && m.limit != 0 {
		p, err := m.pick(ctx, c, r)
		if err != nil || p == nil {
			return out, err
		}
		doc := p.docs[0]
		if len(out) > 0 && size+len(doc) > batchBytes {
			break
		}
		p.docs, p.key = p.docs[1:], nil
		if m.skip > 0 {
			m.skip--
			continue
		}
		doc = withoutField(doc, sortKeyField)
		out = append(out, doc)
		size += len(doc)
		if m.limit > 0 {
			m.limit--
		}
	}
	return out, nil
}

// pick is the shard whose next document comes next: with a sort, the smallest head once every
// open shard has one; without, any shard that has documents. nil: nothing is left.
func (m *merger) pick(ctx context.Context, c *conn, r *request) (*shardPart, error) {
	for {
		var need []*shardPart
		var best *shardPart
		for _, p := range m.parts {
			switch {
			case len(p.docs) == 0 && p.id != 0:
				need = append(need, p)
			case len(p.docs) == 0:
			case m.sort == nil:
				return p, nil
			case best == nil || m.sort.CompareKeys(m.headKey(p), m.headKey(best)) < 0:
				best = p
			}
		}
		if len(need) == 0 || m.sort == nil && best != nil {
			return best, nil
		}
		if err := c.fetch(ctx, r, m, need); err != nil {
			return nil, err
		}
	}
}

// headKey is the sort key of the part's next document.
func (m *merger) headKey(p *shardPart) []bson.RawValue {
	if p.key == nil && m.sortFromDocs {
		p.key = m.sort.Keys(p.docs[0])
	}
	if p.key == nil {
		v, _ := bsonview.Lookup(p.docs[0], sortKeyField)
		arr, _ := v.ArrayOK()
		bsonview.Each(bsoncore.Document(arr), func(el bsoncore.Element) bool {
			v := el.Value()
			p.key = append(p.key, bson.RawValue{Type: bson.Type(v.Type), Value: v.Data})
			return true
		})
	}
	return p.key
}

// fetch gets the next batch of each part at once.
func (c *conn) fetch(ctx context.Context, r *request, m *merger, parts []*shardPart) error {
	calls := make([]*shardCall, len(parts))
	for i, p := range parts {
		calls[i] = &shardCall{shard: p.shard, name: p.name, host: p.host, body: bsoncore.NewDocumentBuilder().
			AppendInt64("getMore", p.id).AppendString("collection", m.coll).Build()}
	}
	c.callShards(ctx, r, shards.Primary(), calls)
	for i, call := range calls {
		p := parts[i]
		if err := call.failure(); err != nil {
			if m.allowPartial {
				p.id, m.partial = 0, true
				continue
			}
			return err
		}
		p.docs, p.key = ownBatch(call.reply.Body, "nextBatch"), nil
		p.id = call.reply.Status.Cursor.ID
	}
	return nil
}

// ownBatch is a shard reply's batch in memory of its own, so that holding it does not hold the
// whole reply frame (whose buffer is sized for the largest reply).
func ownBatch(reply bsoncore.Document, batch string) []bsoncore.Document {
	var docs []bsoncore.Document
	eachDoc(bytes.Clone(batchArray(reply, batch)), func(d bsoncore.Document) { docs = append(docs, d) })
	return docs
}

// shardCall is one command of a fan-out that belongs to a client's command: it is built as the
// client's (appendForward: the client's session, transaction and generic arguments), and its
// reply is taken as any shard reply of that command (noteShardReply).
type shardCall struct {
	shard int
	name  string
	host  string            // the member to ask; "" lets the read preference choose
	body  bsoncore.Document // the command's own fields
	join  bool              // the call starts the client's transaction on its shard
	reply shards.Reply
	err   error
}

func (sc *shardCall) String() string { return sc.name + "/" + sc.host }

// failure is the call's error, or its reply's.
func (sc *shardCall) failure() error {
	if sc.err != nil {
		return sc.err
	}
	if err := sc.reply.Err(); err != nil {
		return err
	}
	return nil
}

// sendToTargets sends own to every target at once, each to the member the read preference
// selects; the calls hold the replies and failures.
func (c *conn) sendToTargets(ctx context.Context, r *request, targets []int, own bsoncore.Document) ([]*shardCall, error) {
	rp, err := readPrefOf(r)
	if err != nil {
		return nil, err
	}
	calls := make([]*shardCall, len(targets))
	for i, t := range targets {
		calls[i] = &shardCall{shard: t, name: c.s.cluster.Shard(t).Name(), body: own}
	}
	c.callShards(ctx, r, rp, calls)
	return calls, nil
}

// callShards sends every call at once, each under the fan-out's per-target timeout, and records
// where each went and what came back. In a transaction, every call is a statement of it on its
// shard (txn.go): the shards join as participants, and a call that fails aborts the transaction.
func (c *conn) callShards(ctx context.Context, r *request, rp shards.ReadPref, calls []*shardCall) {
	if err := c.interrupted(); err != nil {
		for _, call := range calls {
			call.err = err
		}
		return
	}
	var st *txnStatement
	if r.op.Autocommit {
		var err error
		if st, err = c.enlistCalls(ctx, r, calls); err != nil {
			for _, call := range calls {
				call.err = err
			}
			return
		}
		if st != nil {
			defer c.s.txns.activeOp()()
		}
		rp = shards.Primary()
	}
	results := sessionfanout.Broadcast(ctx, calls, c.s.fanoutOptions(), func(ctx context.Context, call *shardCall) (struct{}, error) {
		sub := withOwnFields(r, call.body)
		if call.join {
			sub = st.request(sub, txnShard{shard: call.shard, join: true})
		}
		req := shards.Request{Body: c.appendForward(nil, sub, rp)}
		sh := c.s.cluster.Shard(call.shard)
		if call.host != "" {
			call.reply, call.err = sh.RoundTripHost(ctx, call.host, req, nil)
		} else {
			call.reply, call.host, call.err = sh.RoundTrip(ctx, rp, req, nil)
		}
		return struct{}{}, call.err
	})
	for i, res := range results {
		call := calls[i]
		if res.Err != nil {
			call.err = mongoerr.As(res.Err)
			continue
		}
		if err := c.noteShardReply(call.reply, call.shard, r); err != nil {
			call.err = err
		}
	}
	if st != nil {
		c.settleCalls(ctx, r, st, calls)
	}
}

// enlistCalls makes the calls' shards participants of r's transaction: each call goes to the
// member its participant runs on, and starts the transaction where it joins. nil: the router did
// not start the transaction, and the shards judge the calls themselves.
func (c *conn) enlistCalls(ctx context.Context, r *request, calls []*shardCall) (*txnStatement, error) {
	targets := make([]int, len(calls))
	for i, call := range calls {
		targets[i] = call.shard
	}
	st, err := c.enlist(ctx, r, targets)
	if st == nil || err != nil {
		return nil, err
	}
	for i, t := range st.shards {
		calls[i].join = t.join
		if t.host != "" {
			calls[i].host = t.host
		}
	}
	return st, nil
}

// settleCalls records each call's outcome on its participant; a failed call aborts the
// transaction on every participant, as a failed statement does.
func (c *conn) settleCalls(ctx context.Context, r *request, st *txnStatement, calls []*shardCall) {
	var failure mongoerr.Code
	for _, call := range calls {
		f := statementFailure(call.reply, call.err)
		c.settle(r, st, call.shard, call.host, f == 0)
		if call.err != nil {
			call.err = mongoerr.As(call.err).AddServerLabels(inTxnLabels)
		}
		if failure == 0 {
			failure = f
		}
	}
	if failure != 0 {
		c.abortTxn(ctx, r, failure.Name())
	}
}

// withOwnFields is r with a body of own's command fields (its generic arguments are ignored)
// followed by r's generic arguments: a command the router derives from the client's, sent with
// the client's session and options.
func withOwnFields(r *request, own bsoncore.Document) *request {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(own)+len(r.Body)))
	bsonview.Each(own, func(el bsoncore.Element) bool {
		if command.DispositionOf(el.KeyBytes()) == command.Own {
			dst = append(dst, el...)
		}
		return true
	})
	bsonview.Each(r.Body, func(el bsoncore.Element) bool {
		if command.DispositionOf(el.KeyBytes()) != command.Own {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	sub := *r
	sub.Body = dst
	return &sub
}

// withoutField is doc without its top-level field key (doc itself when it has none).
func withoutField(doc bsoncore.Document, key string) bsoncore.Document {
	if _, ok := bsonview.Lookup(doc, key); !ok {
		return doc
	}
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)))
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) != key {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
