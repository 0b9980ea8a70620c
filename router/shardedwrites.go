package router

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/sourcegraph/conc"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/topology"
)

// insert, update and delete go to their collection's database primary shard, or, on a sharded
// collection, are split per shard as mongos splits a batch (batch_write_op.cpp): each statement
// is targeted (writetarget.go), and the statements are sent in rounds. An unordered batch is one
// round: every shard gets its statements at once. An ordered batch goes in runs of consecutive
// statements for one shard, one run after another, and stops at the first error in the
// client's order, so nothing after it is written; a statement for several shards (a multi
// update or delete) is a run of its own, sent to each of them. The shards' replies are merged
// with their statements' indexes mapped back to the client's. A retryable write keeps each
// statement's stmtId on the shard that runs it, so a retried batch is applied once everywhere.

// writeKind is one of the three write commands.
type writeKind struct {
	field  string // the statements: documents, updates or deletes
	target func(rt *topology.Routing, stmt bsoncore.Document) ([]int, error)
}

var (
	insertKind = writeKind{field: "documents", target: func(rt *topology.Routing, doc bsoncore.Document) ([]int, error) {
		shard, err := insertTarget(rt, doc)
		return []int{shard}, err
	}}
	updateKind = writeKind{field: "updates", target: updateTargets}
	deleteKind = writeKind{field: "deletes", target: deleteTargets}
)

func (c *conn) insert(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.write(ctx, r, insertKind)
}

func (c *conn) update(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.write(ctx, r, updateKind)
}

func (c *conn) delete(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.write(ctx, r, deleteKind)
}

// collectionOf is the collection a command names as its first value, empty if it names none: a
// view of the command, which callers convert where they use it (a conversion that does not
// escape costs no allocation).
func collectionOf(r *request) []byte {
	v, _ := bsonview.Lookup(r.Body, string(r.Name))
	s, _ := bsonview.String(v)
	return s
}

// onCollection routes a command on the collection it names: to its database's primary shard
// when the collection is not sharded (or the command names none, and the shard answers as mongod
// does), else as sharded says, with the routing table held until it returns (topology.Acquire).
// inTxn says whether a transaction statement on a sharded collection is sharded's too; if not,
// the primary shard refuses it as mongod does.
func (c *conn) onCollection(ctx context.Context, r *request, create, inTxn bool,
	sharded func(rt *topology.Routing) (bsoncore.Document, error)) (bsoncore.Document, error) {
	coll := collectionOf(r)
	if len(coll) == 0 {
		return c.forwardToPrimary(ctx, r, create)
	}
	rt, hold, err := c.s.cluster.Acquire(ctx, string(r.DB), string(coll), create)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	defer hold.Release()
	if !rt.Sharded || r.op.Autocommit && !inTxn {
		return c.forwardTo(ctx, r, rt.Primary)
	}
	return sharded(rt)
}

func (c *conn) write(ctx context.Context, r *request, kind writeKind) (bsoncore.Document, error) {
	return c.onCollection(ctx, r, places(r), true, func(rt *topology.Routing) (bsoncore.Document, error) {
		return c.splitWrite(ctx, r, rt, kind)
	})
}

// splitWrite runs a write on a sharded collection.
func (c *conn) splitWrite(ctx context.Context, r *request, rt *topology.Routing, kind writeKind) (bsoncore.Document, error) {
	var stmts []bsoncore.Document
	if err := r.EachDoc(kind.field, func(d bsoncore.Document) error {
		stmts = append(stmts, d)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(stmts) == 0 {
		return c.forwardTo(ctx, r, rt.Primary) // the shard refuses an empty batch as mongod does
	}
	targets := make([][]int, len(stmts))
	targetErrs := make([]error, len(stmts))
	for i, st := range stmts {
		targets[i], targetErrs[i] = kind.target(rt, st)
	}
	if r.op.Autocommit {
		shard, err := c.transactionWriteTarget(r, targets, targetErrs)
		if err != nil {
			c.abortTxn(ctx, r, err.Code.Name())
			return nil, err
		}
		return c.forwardTo(ctx, r, shard)
	}
	ordered := true
	if _, present := bsonview.Lookup(r.Body, "ordered"); present {
		var err error
		if ordered, err = command.TrueValue(r.Body, "ordered", string(r.Name)); err != nil {
			return nil, err
		}
	}
	b := &splitBatch{c: c, r: r, kind: kind, stmts: stmts, targets: targets, targetErrs: targetErrs,
		ordered: ordered, retryable: labelContext(r.Name, r).RetryableWrite}
	if b.retryable {
		var err error
		if b.stmtIDs, err = statementIDs(r, len(stmts)); err != nil {
			return nil, err
		}
	}
	if err := b.run(ctx); err != nil {
		return nil, err
	}
	return b.reply(), nil
}

// transactionWriteTarget is the one shard a transaction's write reaches: a transaction writes on
// one shard at most (txn.go), so a write whose statements reach several is refused, as is one
// that cannot be targeted; the caller aborts the transaction, as mongos aborts it after a failed
// statement.
func (c *conn) transactionWriteTarget(r *request, targets [][]int, targetErrs []error) (int, *mongoerr.Error) {
	shard := -1
	for i, ts := range targets {
		if targetErrs[i] != nil {
			return 0, mongoerr.As(targetErrs[i])
		}
		for _, s := range ts {
			if shard >= 0 && s != shard {
				return 0, mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
					"transaction %d cannot run this %s of the sharded collection %s.%s: it writes on shards %s and %s, and "+
						"writes to two shards need two-phase commit, which shards that are plain replica sets refuse; pin "+
						"the shard key in each of its statements to one shard",
					r.op.TxnNumber, r.Name, r.DB, collectionOf(r), c.s.cluster.Shard(shard).Name(), c.s.cluster.Shard(s).Name())
			}
			shard = s
		}
	}
	return shard, nil
}

// statementIDs are the client's statement ids: stmtIds as sent, else stmtId (0 when absent)
// counted up, as mongod numbers a batch's statements (write_ops::getStmtIdForWriteAt).
func statementIDs(r *request, n int) ([]int32, error) {
	ids := make([]int32, n)
	if v, ok := bsonview.Lookup(r.Body, "stmtIds"); ok {
		arr, isArray := v.ArrayOK()
		vals, _ := arr.Values()
		if !isArray || len(vals) != n {
			return nil, mongoerr.New(mongoerr.InvalidLength, "Number of statement ids must match the number of batch entries")
		}
		for i, x := range vals {
			id, ok := x.AsInt64OK()
			if !ok {
				return nil, mongoerr.WrongType(string(r.Name)+".stmtIds", x.Type, "int")
			}
			ids[i] = int32(id)
		}
		return ids, nil
	}
	base := int64(0)
	if v, ok := bsonview.Lookup(r.Body, "stmtId"); ok {
		base, _ = v.AsInt64OK()
	}
	for i := range ids {
		ids[i] = int32(base) + int32(i)
	}
	return ids, nil
}

// splitBatch is a write batch on a sharded collection as it is sent and answered.
type splitBatch struct {
	c          *conn
	r          *request
	kind       writeKind
	stmts      []bsoncore.Document
	targets    [][]int
	targetErrs []error
	stmtIDs    []int32 // nil unless retryable
	ordered    bool
	retryable  bool

	n, nModified int64
	upserted     []bson.Raw // {index, _id} with the client's index
	errs         []stmtError
	wce          []bsoncore.Document
}

type stmtError struct {
	index int
	doc   bson.Raw // {index, code, errmsg, ...} with the client's index
}

// run sends the batch in rounds until every statement is sent, or, ordered, one failed.
func (b *splitBatch) run(ctx context.Context) error {
	next := 0
	for next < len(b.stmts) {
		round, after := b.plan(next)
		next = after
		if err := b.sendRound(ctx, round); err != nil {
			return err
		}
		if b.ordered && len(b.errs) > 0 {
			break
		}
	}
	slices.SortStableFunc(b.errs, func(x, y stmtError) int { return x.index - y.index })
	return nil
}

// sendRound sends a round's parts to their shards at once, as mongos sends a round's child
// batches (batch_write_exec.cpp), and takes their replies in, in the round's order. A round of
// one part is sent as any forwarded command.
func (b *splitBatch) sendRound(ctx context.Context, round []subBatch) error {
	if len(round) == 1 {
		reply, err := b.c.forwardTo(ctx, b.child(round[0]), round[0].shard)
		return b.takeReply(round[0], reply, err)
	}
	if err := b.c.interrupted(); err != nil {
		return err
	}
	replies := make([]shards.Reply, len(round))
	errs := make([]error, len(round))
	start := time.Now()
	var wg conc.WaitGroup
	for i, sub := range round {
		wg.Go(func() { replies[i], errs[i] = b.c.sendWrite(ctx, b.child(sub), sub.shard) })
	}
	wg.Wait()
	b.c.shardTime += time.Since(start)
	for i, sub := range round {
		err := errs[i]
		if err == nil {
			err = b.c.noteShardReply(replies[i], sub.shard, b.r)
		}
		if err := b.takeReply(sub, replies[i].Body, err); err != nil {
			return err
		}
	}
	return nil
}

// sendWrite sends a write to shard idx's primary, again as its retry policy allows
// (retry.go), on buffers of its own: several run at once for one client command. The caller
// notes the reply (noteShardReply).
func (c *conn) sendWrite(ctx context.Context, r *request, idx int) (shards.Reply, error) {
	labels := labelContext(r.Name, r)
	policy := retryPolicyOf(r, labels)
	req := shards.Request{Body: c.appendForward(nil, r, shards.Primary()), Sequences: r.Sequences}
	sh := c.s.cluster.Shard(idx)
	reply, _, err := sh.RoundTrip(ctx, shards.Primary(), req, nil)
	for i := 0; i < maxShardRetries && policy.retry(ctx, labels.RetryableWrite, reply, err); i++ {
		c.logRetry(idx, reply, err)
		reply, _, err = sh.RoundTrip(ctx, shards.Primary(), req, nil)
	}
	if err != nil {
		e := mongoerr.As(err)
		if labels.RetryableWrite {
			e = e.AddServerLabels(labels)
		}
		return shards.Reply{}, e
	}
	return reply, nil
}

// subBatch is the statements of one round for one shard, in the client's order.
type subBatch struct {
	shard int
	idx   []int
}

// plan is the next round from statement next on, and where the round after it starts. A
// statement that cannot be targeted gets its error here: ordered, it ends the batch once the
// statements before it are sent.
func (b *splitBatch) plan(next int) (round []subBatch, after int) {
	if !b.ordered {
		byShard := map[int]int{}
		for i := next; i < len(b.stmts); i++ {
			if b.targetErrs[i] != nil {
				b.fail(i, b.targetErrs[i])
				continue
			}
			for _, s := range b.targets[i] {
				k, ok := byShard[s]
				if !ok {
					k = len(round)
					byShard[s] = k
					round = append(round, subBatch{shard: s})
				}
				round[k].idx = append(round[k].idx, i)
			}
		}
		return round, len(b.stmts)
	}
	if b.targetErrs[next] != nil {
		b.fail(next, b.targetErrs[next])
		return nil, len(b.stmts)
	}
	if ts := b.targets[next]; len(ts) > 1 {
		for _, s := range ts {
			round = append(round, subBatch{shard: s, idx: []int{next}})
		}
		return round, next + 1
	}
	shard := b.targets[next][0]
	sub := subBatch{shard: shard}
	i := next
	for ; i < len(b.stmts) && b.targetErrs[i] == nil && len(b.targets[i]) == 1 && b.targets[i][0] == shard; i++ {
		sub.idx = append(sub.idx, i)
	}
	return []subBatch{sub}, i
}

// takeReply takes one shard's answer to its part in. A retryable write whose shard could not
// answer fails as a whole, labelled for the driver to retry it (the shards apply each statement
// once); any other batch records the failure on its statements, as mongos does
// (BatchWriteOp::noteBatchError): ordered, on the first only, which stops the batch.
func (b *splitBatch) takeReply(sub subBatch, reply bsoncore.Document, err error) error {
	var failure *mongoerr.Error
	switch {
	case err != nil:
		failure = mongoerr.As(err)
	case !outcome.Read(reply).OK:
		failure = outcome.ErrOf(reply)
	}
	if failure != nil {
		if b.retryable {
			return failure
		}
		for _, i := range sub.idx {
			b.fail(i, failure)
			if b.ordered {
				break
			}
		}
		return nil
	}
	b.take(reply, sub)
	return nil
}

// child is the command shard sub.shard receives: the client's, with sub's statements (as a
// document sequence) and their statement ids.
func (b *splitBatch) child(sub subBatch) *request {
	idx, body := bsoncore.AppendDocumentStart(make([]byte, 0, 256))
	bsonview.Each(b.r.Body, func(el bsoncore.Element) bool {
		switch string(el.KeyBytes()) {
		case b.kind.field, "stmtId", "stmtIds":
		case "writeConcern":
			body = append(body, acknowledged(el)...)
		default:
			body = append(body, el...)
		}
		return true
	})
	if b.stmtIDs != nil {
		ids := make([]bsoncore.Value, len(sub.idx))
		for k, i := range sub.idx {
			ids[k] = bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, b.stmtIDs[i])}
		}
		body = bsoncore.AppendArrayElement(body, "stmtIds", bsoncore.BuildArray(nil, ids...))
	}
	body, _ = bsoncore.AppendDocumentEnd(body, idx)
	var raw []byte
	for _, i := range sub.idx {
		raw = append(raw, b.stmts[i]...)
	}
	child := *b.r
	child.Body = body
	child.Sequences = []wire.Sequence{{Identifier: b.kind.field, Raw: raw}}
	child.flags &^= wire.MoreToCome // the router needs every shard's answer
	return &child
}

// acknowledged is a writeConcern element with w: 0 made w: 1, as mongos sends an unacknowledged
// batch to its shards (upgradeWriteConcern, batch_write_op.cpp): the router needs their answers.
func acknowledged(el bsoncore.Element) bsoncore.Element {
	wc, ok := el.Value().DocumentOK()
	if w, present := wc.Lookup("w").AsInt64OK(); !ok || !present || w != 0 {
		return el
	}
	idx, dst := bsoncore.AppendDocumentElementStart(nil, "writeConcern")
	bsonview.Each(wc, func(f bsoncore.Element) bool {
		if f.Key() == "w" {
			dst = bsoncore.AppendInt32Element(dst, "w", 1)
		} else {
			dst = append(dst, f...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// take merges a shard's reply to sub: counts summed, indexes mapped back to the client's. The
// reply's buffer serves the next round trip, so what is kept is copied.
func (b *splitBatch) take(reply bsoncore.Document, sub subBatch) {
	n, _ := reply.Lookup("n").AsInt64OK()
	b.n += n
	if m, ok := reply.Lookup("nModified").AsInt64OK(); ok {
		b.nModified += m
	}
	mapped := func(arr bsoncore.Array, fn func(i int, d bsoncore.Document)) {
		vals, _ := arr.Values()
		for _, v := range vals {
			d, _ := v.DocumentOK()
			k, _ := d.Lookup("index").AsInt64OK()
			if k >= 0 && int(k) < len(sub.idx) {
				fn(sub.idx[k], withIndex(d, sub.idx[k]))
			}
		}
	}
	ups, _ := reply.Lookup("upserted").ArrayOK()
	mapped(ups, func(_ int, d bsoncore.Document) { b.upserted = append(b.upserted, bson.Raw(d)) })
	errs, _ := reply.Lookup("writeErrors").ArrayOK()
	mapped(errs, func(i int, d bsoncore.Document) {
		if !slices.ContainsFunc(b.errs, func(e stmtError) bool { return e.index == i }) {
			b.errs = append(b.errs, stmtError{index: i, doc: bson.Raw(d)})
		}
	})
	if wce, ok := reply.Lookup("writeConcernError").DocumentOK(); ok {
		b.wce = append(b.wce, bytes.Clone(wce))
	}
}

// fail records err as statement i's write error.
func (b *splitBatch) fail(i int, err error) {
	e := mongoerr.As(err)
	doc := bsoncore.NewDocumentBuilder().
		AppendInt32("index", int32(i)).
		AppendInt32("code", int32(e.Code)).
		AppendString("errmsg", e.Msg).Build()
	b.errs = append(b.errs, stmtError{index: i, doc: bson.Raw(doc)})
}

// withIndex is a copy of d with index set to i.
func withIndex(d bsoncore.Document, i int) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(d)))
	dst = bsoncore.AppendInt32Element(dst, "index", int32(i))
	bsonview.Each(d, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) != "index" {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// reply is the merged reply, as mongos builds it (BatchWriteOp::buildClientResponse): n,
// nModified (updates), upserted and writeErrors in the client's order, and the shards' write
// concern errors folded into one.
func (b *splitBatch) reply() bsoncore.Document {
	out := bsoncore.NewDocumentBuilder().AppendInt32("n", int32(b.n))
	if b.kind.field == "updates" {
		out.AppendInt32("nModified", int32(b.nModified))
	}
	if len(b.upserted) > 0 {
		slices.SortStableFunc(b.upserted, func(x, y bson.Raw) int {
			i, _ := x.Lookup("index").AsInt64OK()
			j, _ := y.Lookup("index").AsInt64OK()
			return int(i - j)
		})
		out.AppendArray("upserted", docArray(b.upserted))
	}
	if len(b.errs) > 0 {
		docs := make([]bson.Raw, len(b.errs))
		for k, e := range b.errs {
			docs[k] = e.doc
		}
		out.AppendArray("writeErrors", docArray(docs))
	}
	if wce := foldWriteConcernErrors(b.wce); wce != nil {
		out.AppendDocument("writeConcernError", wce)
	}
	return out.AppendDouble("ok", 1).Build()
}

// foldWriteConcernErrors is one shard's write concern error as it is, several as mongos folds
// them (batch_write_exec.cpp): WriteConcernFailed with every message.
func foldWriteConcernErrors(wces []bsoncore.Document) bsoncore.Document {
	switch len(wces) {
	case 0:
		return nil
	case 1:
		return wces[0]
	}
	msgs := make([]string, len(wces))
	for i, w := range wces {
		msgs[i], _ = w.Lookup("errmsg").StringValueOK()
	}
	return bsoncore.NewDocumentBuilder().
		AppendInt32("code", int32(mongoerr.WriteConcernFailed)).
		AppendString("codeName", mongoerr.WriteConcernFailed.Name()).
		AppendString("errmsg", "Multiple errors reported :: "+strings.Join(msgs, " :: and :: ")).Build()
}

// findAndModify goes to its collection's database primary shard, or, on a sharded collection,
// to the one shard its query's shard key names (findAndModifyTarget).
func (c *conn) findAndModify(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.onCollection(ctx, r, places(r), true, func(rt *topology.Routing) (bsoncore.Document, error) {
		shard, err := findAndModifyTarget(rt, r.Body)
		if err != nil {
			if r.op.Autocommit {
				c.abortTxn(ctx, r, mongoerr.As(err).Code.Name())
			}
			return nil, err
		}
		return c.forwardTo(ctx, r, shard)
	})
}
