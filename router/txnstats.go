package router

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/router/sessioncache"
)

// commitTypes are mongos's commit types in serverStatus's order (router_transactions_stats.idl);
// twoPhaseCommit stays 0: mongos-lite has no two-phase commit.
var commitTypes = [...]string{commitNoShards, commitSingleShard, commitSingleWriteShard, commitReadOnly,
	"twoPhaseCommit", commitRecoverWithToken}

// txnCounters count transactions as mongos's RouterTransactionsMetrics does
// (router_transactions_metrics.cpp). The session cache reports every transaction that ends
// (ended); the router the rest.
type txnCounters struct {
	open, active                  atomic.Int64
	started, committed, aborted   atomic.Int64
	contacted, atCommit, targeted atomic.Int64 // participants joined, participants at commit, requests sent
	commits                       [len(commitTypes)]commitCounters

	mu     sync.Mutex
	causes map[string]int64 // abortCause
}

type commitCounters struct{ initiated, successful, successfulMicros atomic.Int64 }

func commitIndex(kind string) int { return slices.Index(commitTypes[:], kind) }

// activeOp marks a transaction active while one of its commands runs; call the result when it
// is done.
func (t *txnCounters) activeOp() func() {
	t.active.Add(1)
	return func() { t.active.Add(-1) }
}

// commitStarted counts the first commit attempt of a transaction with participants.
func (t *txnCounters) commitStarted(kind string, participants int) {
	if i := commitIndex(kind); i >= 0 {
		t.commits[i].initiated.Add(1)
	}
	t.atCommit.Add(int64(participants))
}

// commitSucceeded counts a commit of kind that succeeded took after its first attempt started.
func (t *txnCounters) commitSucceeded(kind string, took time.Duration) {
	if i := commitIndex(kind); i >= 0 {
		t.commits[i].successful.Add(1)
		t.commits[i].successfulMicros.Add(took.Microseconds())
	}
}

// begun counts a transaction that started.
func (t *txnCounters) begun() {
	t.started.Add(1)
	t.open.Add(1)
}

// ended is the session cache's TxnEnded: it runs under a session's lock.
func (t *txnCounters) ended(txn sessioncache.Txn, end sessioncache.TxnEnd) {
	t.open.Add(-1)
	switch end.State {
	case sessioncache.TxnCommitted:
		t.committed.Add(1)
		if !txn.CommitStart.IsZero() {
			t.commitSucceeded(txn.CommitType, time.Since(txn.CommitStart))
		}
	case sessioncache.TxnAborted:
		t.aborted.Add(1)
		t.mu.Lock()
		if t.causes == nil {
			t.causes = map[string]int64{}
		}
		t.causes[end.Cause]++
		t.mu.Unlock()
	}
}

// TxnStats are the router's transaction counters: serverStatus's transactions section on
// mongos.
type TxnStats struct {
	CurrentOpen, CurrentActive, CurrentInactive int64
	TotalStarted, TotalCommitted, TotalAborted  int64
	AbortCause                                  map[string]int64
	// Participants: joined a transaction, were in one at its commit; requests sent to them.
	TotalContactedParticipants, TotalParticipantsAtCommit, TotalRequestsTargeted int64
	CommitTypes                                                                  map[string]CommitTypeStats
}

// CommitTypeStats count the commits of one type.
type CommitTypeStats struct{ Initiated, Successful, SuccessfulDurationMicros int64 }

// TxnStats reads the transaction counters.
func (s *Server) TxnStats() TxnStats {
	t := s.txns
	st := TxnStats{CurrentOpen: t.open.Load(), CurrentActive: t.active.Load(),
		TotalStarted: t.started.Load(), TotalCommitted: t.committed.Load(), TotalAborted: t.aborted.Load(),
		TotalContactedParticipants: t.contacted.Load(), TotalParticipantsAtCommit: t.atCommit.Load(),
		TotalRequestsTargeted: t.targeted.Load(), CommitTypes: map[string]CommitTypeStats{}}
	st.CurrentInactive = max(st.CurrentOpen-st.CurrentActive, 0)
	t.mu.Lock()
	st.AbortCause = maps.Clone(t.causes)
	t.mu.Unlock()
	for i, kind := range commitTypes {
		c := &t.commits[i]
		st.CommitTypes[kind] = CommitTypeStats{c.initiated.Load(), c.successful.Load(), c.successfulMicros.Load()}
	}
	return st
}

// AppendDoc appends the stats as mongos's serverStatus shows them (router_transactions_stats.idl).
func (st TxnStats) AppendDoc(dst []byte) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendInt64Element(dst, "currentOpen", st.CurrentOpen)
	dst = bsoncore.AppendInt64Element(dst, "currentActive", st.CurrentActive)
	dst = bsoncore.AppendInt64Element(dst, "currentInactive", st.CurrentInactive)
	dst = bsoncore.AppendInt64Element(dst, "totalStarted", st.TotalStarted)
	dst = bsoncore.AppendInt64Element(dst, "totalCommitted", st.TotalCommitted)
	dst = bsoncore.AppendInt64Element(dst, "totalAborted", st.TotalAborted)
	cidx, dst := bsoncore.AppendDocumentElementStart(dst, "abortCause")
	for _, cause := range slices.Sorted(maps.Keys(st.AbortCause)) {
		dst = bsoncore.AppendInt64Element(dst, cause, st.AbortCause[cause])
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, cidx)
	dst = bsoncore.AppendInt64Element(dst, "totalContactedParticipants", st.TotalContactedParticipants)
	dst = bsoncore.AppendInt64Element(dst, "totalParticipantsAtCommit", st.TotalParticipantsAtCommit)
	dst = bsoncore.AppendInt64Element(dst, "totalRequestsTargeted", st.TotalRequestsTargeted)
	tidx, dst := bsoncore.AppendDocumentElementStart(dst, "commitTypes")
	for _, kind := range commitTypes {
		c := st.CommitTypes[kind]
		kidx, d := bsoncore.AppendDocumentElementStart(dst, kind)
		d = bsoncore.AppendInt64Element(d, "initiated", c.Initiated)
		d = bsoncore.AppendInt64Element(d, "successful", c.Successful)
		d = bsoncore.AppendInt64Element(d, "successfulDurationMicros", c.SuccessfulDurationMicros)
		dst, _ = bsoncore.AppendDocumentEnd(d, kidx)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, tidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
