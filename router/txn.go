package router

import (
	"context"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/router/sessioncache"
	"github.com/mongos-lite/mongos-lite/shards"
)

// Transactions run on one shard. The first statement pins the transaction to its database's
// primary shard and to that shard's current primary; every later statement, commit and abort go
// to that member. The pinned host is kept in the session's Txn.Recovery.

// txnTarget is where a transaction statement goes.
type txnTarget struct {
	shard int
	host  string // empty until the first statement picks the primary
}

// transactionStatement forwards a statement of the transaction r belongs to.
func (c *conn) transactionStatement(ctx context.Context, r *request, shard int) (bsoncore.Document, error) {
	t, err := c.pinTransaction(ctx, r, shard)
	if err != nil {
		return nil, err
	}
	// Statements are not retried: the first one may not be (it starts the transaction), and a
	// later one on a member that stepped down would find the transaction aborted anyway. The
	// error's TransientTransactionError label, given for the member's own code, makes the driver
	// retry the whole transaction.
	reply, host, err := c.exchange(ctx, t.shard, shards.Primary(), t.host, r)
	if err != nil {
		return nil, mongoerr.As(err).AddServerLabels(mongoerr.LabelContext{InTransaction: true})
	}
	if t.host == "" {
		c.recordPinnedHost(r, host)
	}
	body, err := c.storeCursor(reply, t.shard, host, r)
	if err != nil {
		return nil, err
	}
	return withRecoveryToken(body, c.s.cluster.Shard(t.shard).Name()), nil
}

// pinTransaction starts or continues the session's transaction and checks the statement stays
// on its shard; a statement for another shard aborts the transaction.
func (c *conn) pinTransaction(ctx context.Context, r *request, shard int) (txnTarget, error) {
	id, number := r.op.LSID, r.op.TxnNumber
	if r.op.StartTransaction {
		if err := c.s.sessions.BeginTxn(id, number); err != nil {
			return txnTarget{}, err
		}
		c.s.sessions.SetTxnParticipant(id, number, shard)
		return txnTarget{shard: shard}, nil
	}
	t, ok := c.s.sessions.Txn(id)
	if err := t.CheckContinue(id, number, false); ok && err != nil {
		return txnTarget{}, err
	}
	if !ok || t.Number != number || t.Participant == sessioncache.NoParticipant {
		// Not started here (another router, or forgotten): the shard answers for itself.
		return txnTarget{shard: shard}, nil
	}
	if t.Participant != shard {
		c.abortOnParticipant(ctx, r, t)
		return txnTarget{}, mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"transaction %d runs on shard %s, but database %s lives on shard %s; mongos-lite runs each "+
				"transaction on one shard, so the transaction was aborted",
			number, c.s.cluster.Shard(t.Participant).Name(), r.DB, c.s.cluster.Shard(shard).Name())
	}
	return txnTarget{shard: t.Participant, host: string(t.Recovery)}, nil
}

func (c *conn) recordPinnedHost(r *request, host string) {
	_ = c.s.sessions.UpdateTxn(r.op.LSID, func(t *sessioncache.Txn) error {
		if t.Number == r.op.TxnNumber && len(t.Recovery) == 0 {
			t.Recovery = []byte(host)
		}
		return nil
	})
}

// abortOnParticipant aborts the session's transaction where it runs (best effort: the shard
// aborts it anyway when it expires).
func (c *conn) abortOnParticipant(ctx context.Context, r *request, t sessioncache.Txn) {
	body := abortCommand(r.op.LSID, t.Number)
	sh := c.s.cluster.Shard(t.Participant)
	var err error
	if host := string(t.Recovery); host != "" {
		_, err = sh.CommandHost(ctx, host, body)
	} else {
		_, err = sh.Command(ctx, body)
	}
	if err != nil {
		c.log.Warn().Err(err).Str("shard", sh.Name()).Msg("aborting a refused cross-shard transaction failed")
	}
	c.s.sessions.FinishTxn(r.op.LSID, t.Number, sessioncache.TxnAborted)
}

// endTransaction serves commitTransaction and abortTransaction: to the pinned member when this
// router ran the transaction, else to the shard the client's recoveryToken names (a commit
// retried through another router).
func (c *conn) endTransaction(ctx context.Context, r *request) (bsoncore.Document, error) {
	name := string(bsonview.FirstKey(r.Body))
	if !r.op.HasLSID || !r.op.HasTxnNumber || !r.op.Autocommit {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "%s must be run within a transaction", name)
	}
	target, recovering, err := c.endTarget(r)
	if err != nil {
		return nil, err
	}
	if recovering && name == "commitTransaction" {
		return c.recoverCommit(ctx, r, target)
	}
	reply, _, err := c.exchange(ctx, target.shard, shards.Primary(), target.host, r)
	for i := 0; i < maxShardRetries && idempotent.retry(ctx, false, reply, err); i++ {
		// As mongos commits (and aborts) a single-shard transaction: again, on the member that
		// is primary now, which knows whether the transaction committed.
		c.logRetry(target.shard, reply, err)
		reply, _, err = c.exchange(ctx, target.shard, shards.Primary(), "", r)
	}
	ctxLabels := mongoerr.LabelContext{InTransaction: true, CommitOrAbort: true}
	if err != nil {
		return nil, mongoerr.As(err).AddServerLabels(ctxLabels)
	}
	if reply.Status.OK {
		state := sessioncache.TxnCommitted
		if name == "abortTransaction" {
			state = sessioncache.TxnAborted
		}
		c.s.sessions.FinishTxn(r.op.LSID, r.op.TxnNumber, state)
	}
	return withRecoveryToken(reply.Body, c.s.cluster.Shard(target.shard).Name()), nil
}

// endTarget finds where the transaction runs; recovering is true when only the client's
// recoveryToken says so.
func (c *conn) endTarget(r *request) (t txnTarget, recovering bool, err error) {
	if t, ok := c.s.sessions.Txn(r.op.LSID); ok {
		commit := string(r.Name) == "commitTransaction" // abort continues, commit may recover
		if err := t.CheckContinue(r.op.LSID, r.op.TxnNumber, commit); err != nil {
			return txnTarget{}, false, err
		}
		if t.Number == r.op.TxnNumber && t.Participant != sessioncache.NoParticipant {
			return txnTarget{shard: t.Participant, host: string(t.Recovery)}, false, nil
		}
	}
	if v, ok := bsonview.Lookup(r.Body, "recoveryToken"); ok {
		doc, _ := v.DocumentOK()
		name, _ := doc.Lookup("recoveryShardId").StringValueOK()
		if idx := c.s.cluster.Index(name); idx >= 0 {
			return txnTarget{shard: idx}, true, nil
		}
		return txnTarget{}, true, mongoerr.New(mongoerr.ShardNotFound, "recoveryToken names shard %q, which is not configured", name)
	}
	return txnTarget{}, false, mongoerr.New(mongoerr.NoSuchTransaction,
		"Cannot find transaction %d on this router and no recovery token was provided", r.op.TxnNumber).
		WithLabels(mongoerr.LabelTransientTransaction)
}

// recoverCommit answers a commit retried on a router that did not run the transaction, as a
// mongos recovers a commit decision: it reports a decision, it never makes one. Aborting on the
// shard finds the decision out: TransactionCommitted means the commit happened; a successful
// abort means it never did, and the client must retry the whole transaction.
func (c *conn) recoverCommit(ctx context.Context, r *request, t txnTarget) (bsoncore.Document, error) {
	sh := c.s.cluster.Shard(t.shard)
	abort := abortCommand(r.op.LSID, r.op.TxnNumber)
	reply, err := sh.Command(ctx, abort)
	for i := 0; i < maxShardRetries && idempotent.retry(ctx, false, reply, err); i++ {
		c.logRetry(t.shard, reply, err)
		reply, err = sh.Command(ctx, abort)
	}
	labels := mongoerr.LabelContext{InTransaction: true, CommitOrAbort: true}
	if err != nil {
		return nil, mongoerr.As(err).AddServerLabels(labels)
	}
	if err := c.s.clock.observe(reply.Status.ClusterTime); err != nil {
		return nil, err
	}
	switch e := reply.Status.Err(reply.Body); {
	case e != nil && e.Code == mongoerr.TransactionCommitted:
		return withRecoveryToken(nil, sh.Name()), nil
	case e != nil && e.Code != mongoerr.NoSuchTransaction:
		return nil, e.AddServerLabels(labels)
	}
	return nil, mongoerr.New(mongoerr.NoSuchTransaction,
		"Transaction %d was not committed: its commit never reached shard %s", r.op.TxnNumber, sh.Name()).
		WithLabels(mongoerr.LabelTransientTransaction)
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

// withRecoveryToken adds {recoveryToken: {recoveryShardId}} to a transaction reply, as mongos
// does, so a commit retried through any router finds the shard.
func withRecoveryToken(reply bsoncore.Document, shard string) bsoncore.Document {
	token := bsoncore.NewDocumentBuilder().AppendString("recoveryShardId", shard).Build()
	if reply == nil {
		reply = bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build()
	}
	return withElements(reply, bsoncore.AppendDocumentElement(nil, "recoveryToken", token))
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
