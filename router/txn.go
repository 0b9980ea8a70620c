package router

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/router/sessioncache"
	"github.com/mongos-lite/mongos-lite/shards"
)

// Transactions run as mongos's TransactionRouter runs them (src/mongo/s/transaction_router.cpp),
// without two-phase commit, which shards that are plain replica sets refuse
// (txn_two_phase_commit_cmds.cpp: prepareTransaction needs a shard server): a transaction reads
// on any shards and writes on at most one (docs/architecture.md, "Transactions"). A shard joins
// with startTransaction and the transaction's readConcern on the first statement that reaches
// it, on the member that is its primary then; later statements, the commit and the abort go to
// that member. Before a statement that writes (or that the router cannot classify) is sent, its
// shard is marked the writer; a statement that would make a second writer aborts the
// transaction everywhere. Commit and abort are in txnend.go.

// txnReads are the commands that only read in a transaction. Every other command counts as a
// write, as mongos counts a participant that has not said it is read-only.
var txnReads = map[string]bool{"find": true, "aggregate": true, "distinct": true, "count": true,
	"getMore": true, "killCursors": true, "listCollections": true, "listIndexes": true}

// txnWrites reports whether a statement counts as a write.
func txnWrites(r *request) bool {
	if string(r.Name) == "aggregate" {
		return aggregateWrites(r.Body)
	}
	return !txnReads[string(r.Name)]
}

// inTxnLabels is the label context of a transaction statement's errors.
var inTxnLabels = mongoerr.LabelContext{InTransaction: true}

// txnShard is one shard a transaction statement reaches.
type txnShard struct {
	shard int
	host  string // the member its participant runs on; empty: the primary, as it joins
	join  bool   // the statement starts the transaction there
}

// txnStatement is a statement of a transaction this router runs, with the shards it reaches.
type txnStatement struct {
	txn    sessioncache.Txn // as the statement left it: participants enlisted, the writer marked
	shards []txnShard
}

// transactionStatement forwards a statement of the transaction r belongs to, to shard.
func (c *conn) transactionStatement(ctx context.Context, r *request, shard int) (bsoncore.Document, error) {
	st, err := c.enlist(ctx, r, []int{shard})
	if err != nil {
		return nil, err
	}
	if st == nil {
		return c.untrackedStatement(ctx, r, shard)
	}
	defer c.s.txns.activeOp()()
	t := st.shards[0]
	// Statements are not retried: the first one may not be (it starts the transaction), and a
	// later one on a member that stepped down would find the transaction aborted anyway. The
	// error's TransientTransactionError label, given for the member's own code, makes the driver
	// retry the whole transaction.
	reply, host, err := c.exchange(ctx, t.shard, shards.Primary(), t.host, st.request(r, t))
	failure := statementFailure(reply, err)
	c.settle(r, st, t.shard, host, failure == 0)
	if failure != 0 {
		// As mongos after a failed statement (strategy.cpp, cluster_write_cmd.cpp): the shard
		// that failed has aborted its part, the others are told to.
		c.abortTxn(ctx, r, failure.Name())
	}
	if err != nil {
		return nil, mongoerr.As(err).AddServerLabels(inTxnLabels)
	}
	return c.storeCursor(reply, t.shard, host, r)
}

// untrackedStatement forwards a statement of a transaction this router did not start (another
// router's, or one it forgot with its session): the shard answers for itself.
func (c *conn) untrackedStatement(ctx context.Context, r *request, shard int) (bsoncore.Document, error) {
	reply, host, err := c.exchange(ctx, shard, shards.Primary(), "", r)
	if err != nil {
		return nil, mongoerr.As(err).AddServerLabels(inTxnLabels)
	}
	body, err := c.storeCursor(reply, shard, host, r)
	if err != nil {
		return nil, err
	}
	return c.withRecoveryToken(body, shard), nil
}

// statementFailure is the code a statement failed with: its transport error's, its reply's, or
// its first write error's (a write error fails the statement, which mongod aborted); 0 when it
// succeeded.
func statementFailure(reply shards.Reply, err error) mongoerr.Code {
	if err != nil {
		return mongoerr.As(err).Code
	}
	st := reply.Status
	switch {
	case reply.Body == nil:
		return 0
	case !st.OK:
		return st.Code
	case st.HasWriteErrors:
		return firstWriteErrorCode(reply.Body)
	}
	return 0
}

// firstWriteErrorCode is the code of a reply's first write error (UnknownError when unreadable).
func firstWriteErrorCode(body bsoncore.Document) mongoerr.Code {
	v, _ := bsonview.Lookup(body, "writeErrors")
	arr, _ := v.ArrayOK()
	first, _ := arr.IndexErr(0)
	doc, _ := first.DocumentOK()
	if c, ok := bsonview.Lookup(doc, "code"); ok {
		return outcome.Code(c)
	}
	return mongoerr.UnknownError
}

// enlist starts or continues the transaction of r on targets, after mongos's rules
// (beginOrContinueTxn): it returns the statement as each target receives it, or nil when the
// router did not start the transaction and the shards must judge the statement themselves.
// A statement the transaction may not run (a second writer, a snapshot it cannot share) aborts
// the transaction on every participant.
func (c *conn) enlist(ctx context.Context, r *request, targets []int) (*txnStatement, error) {
	id, number := r.op.LSID, r.op.TxnNumber
	if r.op.StartTransaction {
		opts := c.txnOptions(ctx, r, targets[0])
		if err := c.s.sessions.BeginTxn(id, number, opts); err != nil {
			return nil, err
		}
		c.s.txns.begun()
	} else if tracked, err := c.continueTxn(r); !tracked || err != nil {
		return nil, err
	}
	write := txnWrites(r)
	st := &txnStatement{shards: make([]txnShard, len(targets))}
	err := c.s.sessions.UpdateTxn(id, func(t *sessioncache.Txn) error {
		if t.Number != number || t.State != sessioncache.TxnInProgress {
			return errTxnEnded
		}
		joins, err := t.Enlist(targets, write)
		if err != nil {
			return err
		}
		for i, s := range targets {
			p, _ := t.Participant(s)
			st.shards[i] = txnShard{shard: s, host: p.Host, join: joins[i]}
			if joins[i] {
				c.s.txns.contacted.Add(1)
			}
		}
		st.txn = *t
		return nil
	})
	var refused *sessioncache.EnlistError
	switch {
	case errors.As(err, &refused):
		e := c.refusal(ctx, r, refused)
		c.abortTxn(ctx, r, e.Code.Name())
		return nil, e
	case errors.Is(err, errTxnEnded):
		return nil, c.endedError(r)
	case err != nil:
		return nil, err
	}
	c.s.txns.targeted.Add(int64(len(targets)))
	return st, nil
}

// errTxnEnded: the transaction ended while a statement was being enlisted.
var errTxnEnded = errors.New("the transaction ended")

// continueTxn checks a statement that continues a transaction (mongos's kContinue): tracked is
// false when this router did not start it.
func (c *conn) continueTxn(r *request) (tracked bool, err error) {
	t, ok := c.s.sessions.Txn(r.op.LSID)
	if !ok || t.State == sessioncache.TxnNone {
		return false, nil
	}
	if err := t.CheckContinue(r.op.LSID, r.op.TxnNumber, false); err != nil {
		return false, err
	}
	if t.State != sessioncache.TxnInProgress {
		return false, c.endedError(r)
	}
	if _, ok := bsonview.Lookup(r.Body, "readConcern"); ok {
		return false, mongoerr.New(mongoerr.InvalidOptions, "Only the first command in a transaction may specify a readConcern")
	}
	return true, nil
}

// endedError answers a statement of a transaction that has committed or aborted, as mongod
// answers it (transaction_participant.cpp).
func (c *conn) endedError(r *request) error {
	if t, _ := c.s.sessions.Txn(r.op.LSID); t.State == sessioncache.TxnCommitted {
		return mongoerr.New(mongoerr.TransactionCommitted, "Transaction with { txnNumber: %d } has been committed.", r.op.TxnNumber)
	}
	return mongoerr.New(mongoerr.NoSuchTransaction, "Transaction with { txnNumber: %d } has been aborted.", r.op.TxnNumber).
		AddServerLabels(inTxnLabels)
}

// refusal is the error of a statement the transaction may not run.
func (c *conn) refusal(ctx context.Context, r *request, e *sessioncache.EnlistError) *mongoerr.Error {
	name := func(i int) string { return c.s.cluster.Shard(i).Name() }
	if e.Reason == sessioncache.SecondWriter {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"transaction %d cannot write on shard %s because it writes on shard %s: writes to two shards need two-phase "+
				"commit, which shards that are plain replica sets refuse (a replica-set primary refuses prepareTransaction "+
				"unless it runs as a shard server); the transaction was aborted on every shard it ran on",
			r.op.TxnNumber, name(e.Shard), name(e.Writer))
	}
	why := "the router knew no cluster time when the transaction started"
	if user, follow := c.s.shardsFollowClock(ctx); !follow {
		why = "a shard takes the router's cluster time only without authentication or from a user holding " +
			"advanceClusterTime, as the key file's __system does (--keyfile), and the router authenticates to the " +
			"shards as " + user + ", who does not hold it"
	}
	return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
		"transaction %d reads a snapshot and cannot add shard %s: every shard of a snapshot transaction reads at one "+
			"atClusterTime, which the shards can serve only when their clocks follow the router's, and %s; the "+
			"transaction was aborted on every shard it ran on", r.op.TxnNumber, name(e.Shard), why)
}

// request is r as shard t receives it: a shard that joins starts the transaction with the
// transaction's readConcern (with the snapshot time the router chose); a participant gets
// neither. Most statements pass as the client sent them.
func (st *txnStatement) request(r *request, t txnShard) *request {
	if !t.join || r.op.StartTransaction && st.txn.AtClusterTime.IsZero() {
		return r
	}
	sub := *r
	sub.Body = withStartFields(r.Body, st.txn.ReadConcern)
	return &sub
}

// withStartFields is body with startTransaction: true and readConcern rc (none when nil) in
// place of its own.
func withStartFields(body, rc bsoncore.Document) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(body)+len(rc)+40))
	bsonview.Each(body, func(el bsoncore.Element) bool {
		if key := string(el.KeyBytes()); key != "startTransaction" && key != "readConcern" {
			dst = append(dst, el...)
		}
		return true
	})
	dst = bsoncore.AppendBooleanElement(dst, "startTransaction", true)
	if rc != nil {
		dst = bsoncore.AppendDocumentElement(dst, "readConcern", rc)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// settle records a statement's outcome on a participant: the member it runs on, and that it is
// ready to commit once a statement succeeded there (mongos's readOnly no longer kUnset).
func (c *conn) settle(r *request, st *txnStatement, shard int, host string, ok bool) {
	if p, _ := st.txn.Participant(shard); p.Host != "" && (p.Ready || !ok) {
		return // nothing new: the common case takes no lock
	}
	_ = c.s.sessions.UpdateTxn(r.op.LSID, func(t *sessioncache.Txn) error {
		if t.Number == r.op.TxnNumber {
			t.Settle(shard, host, ok)
		}
		return nil
	})
}

// abortTxn aborts the transaction r belongs to on every participant, as mongos's
// implicitlyAbortTransaction does: it ends with cause, and the shards are told best effort (a
// shard aborts the transaction itself when it expires).
func (c *conn) abortTxn(ctx context.Context, r *request, cause string) {
	t, ok := c.s.sessions.Txn(r.op.LSID)
	if !ok || t.Number != r.op.TxnNumber {
		return
	}
	c.s.sessions.FinishTxn(r.op.LSID, t.Number, sessioncache.TxnEnd{State: sessioncache.TxnAborted, Cause: cause})
	c.abortParticipants(ctx, r, t)
}

// abortParticipants sends the router's abortTransaction to each participant of t.
func (c *conn) abortParticipants(ctx context.Context, r *request, t sessioncache.Txn) {
	if len(t.Participants) == 0 {
		return
	}
	defer c.countShardTime(time.Now())
	open := []sessioncache.OpenTxn{{ID: r.op.LSID, Txn: t}}
	if failed := c.s.abortTxns(context.WithoutCancel(ctx), open, r.who); failed > 0 {
		c.log.Debug().Int("participants", failed).Msg("aborting a transaction failed on some participants")
	}
}

// abortCommand is the router's own abortTransaction for a session's transaction.
func abortCommand(id sessionid.ID, number int64) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendInt32("abortTransaction", 1).
		AppendDocument("lsid", id.AppendDoc(nil)).
		AppendInt64("txnNumber", number).
		AppendBoolean("autocommit", false).
		AppendString("$db", "admin").Build()
}

// recoveryShard is the shard that holds the commit decision of the transaction r belongs to:
// its writer (mongos chooses the first participant that wrote); -1 when none wrote.
func (c *conn) recoveryShard(r *request) int {
	t, _ := c.s.sessions.Txn(r.op.LSID)
	if w, ok := t.Writer(); ok && t.Number == r.op.TxnNumber {
		return w.Shard
	}
	return -1
}

// withRecoveryToken adds recoveryToken to a transaction reply, as mongos does: {recoveryShardId}
// naming the shard that holds the commit decision, so a commit retried through any router
// finds it; {} for a transaction that only read, which can simply be retried.
func (c *conn) withRecoveryToken(reply bsoncore.Document, shard int) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder()
	if shard >= 0 {
		b.AppendString("recoveryShardId", c.s.cluster.Shard(shard).Name())
	}
	if reply == nil {
		reply = bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build()
	}
	return withElements(reply, bsoncore.AppendDocumentElement(nil, "recoveryToken", b.Build()))
}

// withElements is reply with extra top-level elements appended.
func withElements(reply bsoncore.Document, elems ...[]byte) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(reply)+64))
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		dst = append(dst, el...)
		return true
	})
	for _, el := range elems {
		dst = append(dst, el...)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// txnOptions reads what the transaction r starts starts with: its readConcern and, for a snapshot,
// the one time every participant reads at, chosen as mongos chooses it (setAtClusterTime,
// setDefaultAtClusterTime): the client's atClusterTime, else the router's cluster time, or the
// client's afterClusterTime when later. Each shard accepts that time because the router's
// $clusterTime, sent with the statement, moves its clock there first, and waits until its data
// reaches it (mongod's read concern wait). When the shards' clocks do not follow the router's,
// no time is chosen: the first participant reads at a time of its own and no second one may
// join. A malformed readConcern is left to the shard to refuse.
func (c *conn) txnOptions(ctx context.Context, r *request, first int) sessioncache.TxnOptions {
	v, _ := bsonview.Lookup(r.Body, "readConcern")
	rc, ok := v.DocumentOK()
	if !ok {
		return sessioncache.TxnOptions{}
	}
	opts := sessioncache.TxnOptions{ReadConcern: bytes.Clone(rc)}
	if level, _ := rc.Lookup("level").StringValueOK(); level != "snapshot" {
		return opts
	}
	opts.Snapshot = true
	at, hasAt := timestampField(rc, "atClusterTime")
	after, hasAfter := timestampField(rc, "afterClusterTime")
	_, follow := c.s.shardsFollowClock(ctx)
	switch {
	case hasAt && !hasAfter:
		opts.AtClusterTime = at
		return opts
	case hasAt || !follow:
		return opts
	}
	at = c.clusterTimeFrom(ctx, first)
	if hasAfter && after.After(at) {
		at = after
	}
	if !at.IsZero() {
		opts.AtClusterTime = at
		opts.ReadConcern = bsoncore.NewDocumentBuilder().AppendString("level", "snapshot").
			AppendTimestamp("atClusterTime", at.T, at.I).Build()
	}
	return opts
}

func timestampField(doc bsoncore.Document, key string) (bson.Timestamp, bool) {
	t, i, ok := doc.Lookup(key).TimestampOK()
	return bson.Timestamp{T: t, I: i}, ok
}

// clusterTimeFrom is the router's cluster time; a router that has none yet asks shard for it.
func (c *conn) clusterTimeFrom(ctx context.Context, shard int) bson.Timestamp {
	if ct := c.s.clock.load(); ct != nil {
		return ct.ts
	}
	ping := bsoncore.NewDocumentBuilder().AppendInt32("ping", 1).AppendString("$db", "admin").Build()
	if reply, err := c.s.cluster.Shard(shard).Command(ctx, ping); err == nil {
		_ = c.s.clock.observe(reply.Status.ClusterTime)
	}
	if ct := c.s.clock.load(); ct != nil {
		return ct.ts
	}
	return bson.Timestamp{}
}
