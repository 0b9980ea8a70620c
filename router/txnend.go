package router

import (
	"cmp"
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/router/sessioncache"
	"github.com/mongos-lite/mongos-lite/sessionfanout"
	"github.com/mongos-lite/mongos-lite/shards"
)

// commitTransaction and abortTransaction, as mongos's TransactionRouter runs them
// (transaction_router.cpp commitTransaction, abortTransaction) without two-phase commit
// (docs/architecture.md, "Transactions").

// Commit types, mongos's names (commitTypeToString).
const (
	commitNoShards         = "noShards"
	commitSingleShard      = "singleShard"
	commitSingleWriteShard = "singleWriteShard"
	commitReadOnly         = "readOnly"
	commitRecoverWithToken = "recoverWithToken"
)

// endLabels is the label context of commit and abort errors.
var endLabels = mongoerr.LabelContext{InTransaction: true, CommitOrAbort: true}

// endTransaction serves commitTransaction and abortTransaction: on the participants when this
// router ran the transaction, else as the client's recoveryToken says.
func (c *conn) endTransaction(ctx context.Context, r *request) (bsoncore.Document, error) {
	name := string(r.Name)
	if !r.op.HasLSID || !r.op.HasTxnNumber || !r.op.Autocommit {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "%s must be run within a transaction", name)
	}
	commit := name == "commitTransaction"
	t, _ := c.s.sessions.Txn(r.op.LSID)
	if err := t.CheckContinue(r.op.LSID, r.op.TxnNumber, commit); err != nil {
		return nil, err // an abort continues the transaction; a commit of a newer one recovers it
	}
	if t.State == sessioncache.TxnNone || t.Number != r.op.TxnNumber {
		return c.endUntracked(ctx, r, commit)
	}
	defer c.s.txns.activeOp()()
	if commit {
		return c.commit(ctx, r, t)
	}
	return c.abort(ctx, r, t)
}

// commit commits t as mongos does without two-phase commit: with no participant there is
// nothing to do; one participant, or several that all only read, commit directly (kSingleShard,
// kReadOnly); with one writer the readers commit first and the writer last (kSingleWriteShard),
// and a retried commit learns the writer's decision instead (recoverCommit). A participant whose
// statements all failed cannot commit. A commit that fails aborts the transaction on every
// participant (mongos's implicit abort after a failed command).
func (c *conn) commit(ctx context.Context, r *request, t sessioncache.Txn) (bsoncore.Document, error) {
	for _, p := range t.Participants {
		if !p.Ready {
			e := mongoerr.New(mongoerr.NoSuchTransaction, "%s:%d Failed to commit transaction because a previous statement "+
				"on the transaction participant %s was unsuccessful.", r.op.LSID, t.Number, c.s.cluster.Shard(p.Shard).Name())
			c.abortTxn(ctx, r, e.Code.Name())
			return nil, e.AddServerLabels(endLabels)
		}
	}
	kind := commitTypeOf(t)
	t, first, ok := c.s.sessions.StartCommit(r.op.LSID, r.op.TxnNumber, kind, time.Now())
	if !ok {
		return nil, c.endedError(r)
	}
	if first {
		c.s.txns.commitStarted(kind, len(t.Participants))
	}
	writer, wrote := t.Writer()
	var reply shards.Reply
	var err error
	switch {
	case kind == commitNoShards:
		c.s.sessions.FinishTxn(r.op.LSID, t.Number, sessioncache.TxnEnd{State: sessioncache.TxnCommitted})
		return c.withRecoveryToken(nil, -1), nil
	case kind == commitSingleWriteShard && !first:
		// As mongos retries a single-write-shard commit: through the recovery protocol, the
		// writer's decision being the transaction's.
		body, committed, err := c.recoverCommit(ctx, r, writer.Shard)
		c.finishRecovered(r, committed, err)
		return body, err
	case kind == commitSingleWriteShard:
		reply, err = c.commitOn(ctx, r, readersOf(t))
		if err == nil && reply.Status.OK && reply.Status.WriteConcernCode != 0 {
			// The writer has not committed: the readers' write concern error is the commit's.
			err = wceError(reply.Body)
		}
		if err == nil && reply.Status.OK {
			reply, err = c.commitOn(ctx, r, []sessioncache.Participant{writer})
		}
	default:
		reply, err = c.commitOn(ctx, r, t.Participants)
	}
	code := failureCode(reply, err)
	switch {
	case code == 0:
		c.s.sessions.FinishTxn(r.op.LSID, t.Number, sessioncache.TxnEnd{State: sessioncache.TxnCommitted})
	case !commitUnknown(code, reply, err):
		c.s.sessions.FinishTxn(r.op.LSID, t.Number, sessioncache.TxnEnd{State: sessioncache.TxnAborted, Cause: code.Name()})
	}
	if err != nil || !reply.Status.OK {
		c.abortParticipants(ctx, r, t)
	}
	if err != nil {
		return nil, mongoerr.As(err).AddServerLabels(endLabels)
	}
	recovery := -1
	if wrote {
		recovery = writer.Shard
	}
	return c.withRecoveryToken(reply.Body, recovery), nil
}

// commitTypeOf is how t commits (mongos's CommitType; two writers never get this far).
func commitTypeOf(t sessioncache.Txn) string {
	_, wrote := t.Writer()
	switch {
	case len(t.Participants) == 0:
		return commitNoShards
	case len(t.Participants) == 1:
		return commitSingleShard
	case wrote:
		return commitSingleWriteShard
	}
	return commitReadOnly
}

// readersOf are t's participants that did not write.
func readersOf(t sessioncache.Txn) []sessioncache.Participant {
	var out []sessioncache.Participant
	for _, p := range t.Participants {
		if !p.Wrote {
			out = append(out, p)
		}
	}
	return out
}

// commitUnknown reports whether a failed commit leaves its outcome unknown, so that the client
// may retry it and the transaction is not counted ended yet (transaction_router.cpp
// isCommitResultUnknown): a retriable error, a time limit, a write concern timeout,
// TransactionTooOld, or a write concern error.
func commitUnknown(code mongoerr.Code, reply shards.Reply, err error) bool {
	switch {
	case err == nil && reply.Status.OK:
		return true // ok, with a write concern error
	case code.RetryableWrite(), code == mongoerr.MaxTimeMSExpired, code == mongoerr.ExceededTimeLimit,
		code == mongoerr.WriteConcernFailed, code == mongoerr.TransactionTooOld:
		return true
	}
	return false
}

// wceError is a reply's writeConcernError as a command error.
func wceError(body bsoncore.Document) *mongoerr.Error {
	v, _ := bsonview.Lookup(body, "writeConcernError")
	doc, _ := v.DocumentOK()
	code, _ := bsonview.Lookup(doc, "code")
	msg, _ := doc.Lookup("errmsg").StringValueOK()
	c := outcome.Code(code)
	if c == 0 {
		c = mongoerr.UnknownError
	}
	return &mongoerr.Error{Code: c, Msg: msg}
}

// commitOn sends the client's commitTransaction to the participants ps at once and returns, as
// mongos's sendCommitDirectlyToShards, the first failure (error, not ok, or a write concern
// error) in the order of ps, else the last reply.
func (c *conn) commitOn(ctx context.Context, r *request, ps []sessioncache.Participant) (shards.Reply, error) {
	results := c.toParticipants(ctx, ps, c.appendForward(nil, r, shards.Primary()))
	for _, res := range results {
		if res.Err != nil || res.Value.Status.Failure() != 0 {
			return res.Value, res.Err
		}
	}
	last := results[len(results)-1]
	return last.Value, last.Err
}

// recoverCommit learns the commit decision of transaction r from shard, where it wrote, as mongos
// recovers one with coordinateCommitTransaction, which plain replica sets do not have: an
// abortTransaction there answers TransactionCommitted when the transaction committed, and
// otherwise makes sure it never will (the coordinator aborts a participant it finds
// undecided, txn_two_phase_commit_cmds.cpp). A committed transaction gets the client's
// commitTransaction again, which answers after its write concern.
func (c *conn) recoverCommit(ctx context.Context, r *request, shard int) (body bsoncore.Document, committed bool, err error) {
	on := []sessioncache.Participant{{Shard: shard}}
	probe := c.toParticipants(ctx, on, r.who.identify(abortCommand(r.op.LSID, r.op.TxnNumber)))[0]
	if probe.Err != nil {
		return nil, false, mongoerr.As(probe.Err).AddServerLabels(endLabels)
	}
	switch e := probe.Value.Status.Err(probe.Value.Body); {
	case e != nil && e.Code == mongoerr.TransactionCommitted:
		res := c.toParticipants(ctx, on, c.appendForward(nil, r, shards.Primary()))[0]
		if res.Err != nil {
			return nil, true, mongoerr.As(res.Err).AddServerLabels(endLabels)
		}
		return c.withRecoveryToken(res.Value.Body, shard), true, nil
	case e != nil && e.Code != mongoerr.NoSuchTransaction:
		return nil, false, e.AddServerLabels(endLabels)
	}
	return nil, false, mongoerr.New(mongoerr.NoSuchTransaction, "Transaction %d was not committed: its commit never reached shard %s",
		r.op.TxnNumber, c.s.cluster.Shard(shard).Name()).AddServerLabels(endLabels)
}

// finishRecovered ends a transaction whose retried commit recovered its decision.
func (c *conn) finishRecovered(r *request, committed bool, err error) {
	end := sessioncache.TxnEnd{State: sessioncache.TxnCommitted}
	if !committed {
		if err == nil || mongoerr.As(err).Code != mongoerr.NoSuchTransaction {
			return // the outcome is still unknown
		}
		end = sessioncache.TxnEnd{State: sessioncache.TxnAborted, Cause: mongoerr.NoSuchTransaction.Name()}
	}
	c.s.sessions.FinishTxn(r.op.LSID, r.op.TxnNumber, end)
}

// abort sends the client's abortTransaction to every participant and answers, as mongos does,
// the first error, else the first write concern error, else the last reply. The transaction
// ends aborted whatever the shards answer.
func (c *conn) abort(ctx context.Context, r *request, t sessioncache.Txn) (bsoncore.Document, error) {
	defer c.s.sessions.FinishTxn(r.op.LSID, t.Number, sessioncache.TxnEnd{State: sessioncache.TxnAborted, Cause: "abort"})
	if len(t.Participants) == 0 {
		return nil, mongoerr.New(mongoerr.NoSuchTransaction, "no known command has been sent by this router for this transaction").
			AddServerLabels(endLabels)
	}
	results := c.toParticipants(ctx, t.Participants, c.appendForward(nil, r, shards.Primary()))
	var failed, wce *shards.Reply
	for i := range results {
		res := &results[i]
		if res.Err != nil {
			return nil, mongoerr.As(res.Err).AddServerLabels(endLabels)
		}
		st := res.Value.Status
		if !st.OK && st.WriteConcernCode != 0 {
			failed = &res.Value // both at once: nothing tells more
			break
		}
		if !st.OK && failed == nil {
			failed = &res.Value
		}
		if st.WriteConcernCode != 0 && wce == nil {
			wce = &res.Value
		}
	}
	pick := cmp.Or(failed, wce, &results[len(results)-1].Value)
	return c.withRecoveryToken(pick.Body, c.recoveryShard(r)), nil
}

// endUntracked ends a transaction this router did not run (a commit retried through another
// router, or a session this router forgot): only the client's recoveryToken says where it
// wrote. A commit recovers the decision there (mongos's kRecoverWithToken); an abort is sent
// there.
func (c *conn) endUntracked(ctx context.Context, r *request, commit bool) (bsoncore.Document, error) {
	shard, present, err := c.tokenShard(r)
	switch {
	case err != nil:
		return nil, err
	case commit && !present:
		return nil, mongoerr.New(50940, "Cannot recover the transaction decision without a recoveryToken")
	case shard < 0 && commit:
		return nil, mongoerr.New(mongoerr.NoSuchTransaction,
			"Recovery token is empty, meaning the transaction only performed reads and can be safely retried").AddServerLabels(endLabels)
	case shard < 0:
		return nil, mongoerr.New(mongoerr.NoSuchTransaction, "no known command has been sent by this router for this transaction").
			AddServerLabels(endLabels)
	case commit:
		c.s.txns.commitStarted(commitRecoverWithToken, 0)
		start := time.Now()
		body, committed, err := c.recoverCommit(ctx, r, shard)
		if committed && err == nil {
			c.s.txns.commitSucceeded(commitRecoverWithToken, time.Since(start))
		}
		return body, err
	}
	res := c.toParticipants(ctx, []sessioncache.Participant{{Shard: shard}}, c.appendForward(nil, r, shards.Primary()))[0]
	if res.Err != nil {
		return nil, mongoerr.As(res.Err).AddServerLabels(endLabels)
	}
	return c.withRecoveryToken(res.Value.Body, shard), nil
}

// tokenShard is the shard the client's recoveryToken names: present is false without a token,
// shard is -1 for an empty one. A shard the router does not know is ShardNotFound.
func (c *conn) tokenShard(r *request) (shard int, present bool, err error) {
	v, ok := bsonview.Lookup(r.Body, "recoveryToken")
	if !ok {
		return -1, false, nil
	}
	doc, _ := v.DocumentOK()
	id, ok := bsonview.Lookup(doc, "recoveryShardId")
	if !ok {
		return -1, true, nil
	}
	name, _ := id.StringValueOK()
	if idx := c.s.cluster.Index(name); idx >= 0 {
		return idx, true, nil
	}
	return -1, true, mongoerr.New(mongoerr.ShardNotFound, "recoveryToken names shard %q, which is not configured", name)
}

// participantTarget is a participant in a fan-out, named by its shard.
type participantTarget struct {
	shard int
	host  string
	name  string
}

func (t participantTarget) String() string { return t.name }

// toParticipants runs body on the participants ps at once: on the member each runs on, then, as
// mongos retries commit and abort (kIdempotent), up to maxShardRetries more times on the shard's
// primary after a retriable failure. Results are in the order of ps, their cluster times taken.
func (c *conn) toParticipants(ctx context.Context, ps []sessioncache.Participant, body bsoncore.Document) []sessionfanout.Result[participantTarget, shards.Reply] {
	targets := make([]participantTarget, len(ps))
	for i, p := range ps {
		targets[i] = participantTarget{shard: p.Shard, host: p.Host, name: c.s.cluster.Shard(p.Shard).Name()}
	}
	defer c.countShardTime(time.Now())
	c.s.txns.targeted.Add(int64(len(ps)))
	opts := sessionfanout.Options{MaxConcurrency: len(targets), PerTargetTimeout: c.s.cfg.ShardTimeout}
	results := sessionfanout.Broadcast(ctx, targets, opts, func(ctx context.Context, t participantTarget) (shards.Reply, error) {
		sh := c.s.cluster.Shard(t.shard)
		var reply shards.Reply
		var err error
		if t.host != "" {
			reply, err = sh.CommandHost(ctx, t.host, body)
		} else {
			reply, err = sh.Command(ctx, body)
		}
		for i := 0; i < maxShardRetries && idempotent.retry(ctx, false, reply, err); i++ {
			c.logRetry(t.shard, reply, err)
			reply, err = sh.Command(ctx, body)
		}
		return reply, err
	})
	for i := range results {
		res := &results[i]
		if res.Err != nil {
			continue
		}
		if err := c.s.clock.observe(res.Value.Status.ClusterTime); err != nil {
			res.Err = err
			continue
		}
		c.opTime = max(c.opTime, res.Value.Status.OperationTime)
	}
	return results
}

// abortTarget is one participant of one transaction in a fan-out of aborts.
type abortTarget struct {
	i    int // its place in the fan-out
	name string
}

func (t abortTarget) String() string { return t.name }

// abortTxns sends the router's abortTransaction for each transaction to each of its
// participants, all at once, each under the per-host timeout of the session kills, on behalf of
// who; best effort, as a shard aborts an expired transaction itself. It returns how many
// participants failed (a transaction the shard no longer has is not a failure).
func (s *Server) abortTxns(ctx context.Context, txns []sessioncache.OpenTxn, who identity) int {
	type job struct {
		p    sessioncache.Participant
		body bsoncore.Document
	}
	var jobs []job
	var targets []abortTarget
	for _, ot := range txns {
		body := who.identify(abortCommand(ot.ID, ot.Txn.Number))
		for _, p := range ot.Txn.Participants {
			targets = append(targets, abortTarget{i: len(targets), name: s.cluster.Shard(p.Shard).Name()})
			jobs = append(jobs, job{p, body})
		}
	}
	results := sessionfanout.Broadcast(ctx, targets, s.fanoutOptions(), func(ctx context.Context, t abortTarget) (outcome.Reply, error) {
		j := jobs[t.i]
		sh := s.cluster.Shard(j.p.Shard)
		var reply shards.Reply
		var err error
		if j.p.Host != "" {
			reply, err = sh.CommandHost(ctx, j.p.Host, j.body)
		} else {
			reply, err = sh.Command(ctx, j.body)
		}
		return reply.Reply, err
	})
	failed := 0
	for _, res := range results {
		if e := sessionfanout.Failure(res); e != nil && e.Code != mongoerr.NoSuchTransaction {
			failed++
		}
	}
	return failed
}
