package memshard

import (
	"errors"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// txnLifetime is mongod's transactionLifetimeLimitSeconds default: an open transaction older
// than this is aborted (here lazily, when someone runs into it).
const txnLifetime = 60 * time.Second

// codeStartTxnConflict is the bare assertion mongod raises for startTransaction on a number
// that is in progress or committed.
const codeStartTxnConflict mongoerr.Code = 50911

type txnPhase uint8

const (
	txnInProgress txnPhase = iota
	txnCommitted
	txnAborted
)

var phaseNames = [...]string{"TxnState::InProgress", "TxnState::Committed", "TxnState::Aborted"}

type txnWrite struct {
	coll *collection
	raw  bson.Raw // nil: deleted
}

// txn is a multi-document transaction: a copy-on-write overlay of the slots it wrote (and
// locked) over the snapshot it reads. Its fields are guarded by store.mu.
type txn struct {
	number   int64
	owner    *Member
	snapshot uint64 // the cluster time it started at: what it reads; later outside writes conflict
	expires  time.Time
	writes   map[*doc]txnWrite
	created  []*collection  // collections it created, invisible to others until commit
	changes  []*changeEvent // its writes' change events in statement order (changestream.go)
	lsid     sessionid.ID
	phase    txnPhase
	done     chan struct{} // closed when it ends
	activity txnActivity   // what $currentOp reports of it (currentop_txn.go)
}

func (t *txn) expired(now time.Time) bool { return t.phase == txnInProgress && now.After(t.expires) }

// begin opens a transaction on the current snapshot, or on the one at atClusterTime when at is
// set (a router's choice for every shard of a transaction, transaction_router.cpp); its reads
// check that their collections still hold that snapshot (readableAt). Callers hold store.mu
// exclusively.
func (s *store) begin(owner *Member, number int64, expires time.Time, at bson.Timestamp) *txn {
	s.keep()
	snapshot := pack(s.clock.now())
	if !at.IsZero() {
		snapshot = pack(at)
		// Keep history for the next ones, as mongod keeps minSnapshotHistoryWindowInSeconds: a
		// shard joining a transaction later reads at a time that may be before later writes.
		s.snapshotUntil = s.now().Add(snapshotWindow)
	}
	s.open++
	return &txn{number: number, owner: owner, snapshot: snapshot, expires: expires,
		writes: map[*doc]txnWrite{}, done: make(chan struct{})}
}

// abort discards t's writes and collections; callers hold store.mu exclusively.
func (s *store) abort(t *txn) {
	if t.phase != txnInProgress {
		return
	}
	s.open--
	for d, w := range t.writes {
		d.lock = nil
		if d.raw == nil && d.old == nil { // a slot t created: it never held a committed document
			w.coll.drop(d)
		}
	}
	for _, c := range t.created {
		s.dropColl(c)
	}
	s.end(t, txnAborted)
}

// commit applies t's writes atomically; callers hold store.mu exclusively.
func (s *store) commit(t *txn) {
	s.open--
	s.stamp()
	s.logTxn(t)
	for d, w := range t.writes {
		s.commitDoc(w.coll, d, w.raw)
	}
	for _, c := range t.created {
		c.pending = nil
	}
	s.end(t, txnCommitted)
}

func (s *store) end(t *txn, phase txnPhase) {
	t.phase, t.writes, t.created, t.changes = phase, nil, nil, nil
	close(t.done)
	s.forgetHistory()
}

// stmtResult is what a retryable write statement did, kept to answer a retry without redoing it.
type stmtResult struct {
	n, nModified int32
	upserted     bson.RawValue // the upserted _id, if any
	reply        []byte        // findAndModify: the reply's fields
}

// sessionTxn is a session's transaction record, shared by the set (mongod keeps it in the
// replicated config.transactions): the active txnNumber, its transaction or the statements a
// retryable write executed.
type sessionTxn struct {
	checkout sync.Mutex           // one txnNumber command per session at a time, like mongod's checkout
	lastUse  time.Time            // guarded by txnTable.mu
	number   int64                // written with checkout and store.mu held; read with either
	txn      *txn                 // the transaction numbered number; nil for a retryable write
	stmts    map[int32]stmtResult // guarded by checkout
}

type txnTable struct {
	mu sync.Mutex
	m  map[sessionid.ID]*sessionTxn
}

func (tt *txnTable) init() { tt.m = map[sessionid.ID]*sessionTxn{} }

func (tt *txnTable) get(id sessionid.ID, now time.Time) *sessionTxn {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	st := tt.m[id]
	if st == nil {
		st = &sessionTxn{number: -1}
		tt.m[id] = st
	}
	st.lastUse = now
	return st
}

// each calls fn with store.mu held exclusively for every record whose session matches.
func (tt *txnTable) each(s *store, match func(sessionid.ID) bool, fn func(*sessionTxn)) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, st := range tt.m {
		if match(id) {
			fn(st)
		}
	}
}

// abortOwnedBy aborts the open transactions member m runs (it stepped down or stopped).
func (tt *txnTable) abortOwnedBy(s *store, m *Member) {
	tt.each(s, func(sessionid.ID) bool { return true }, func(st *sessionTxn) {
		if st.txn != nil && st.txn.owner == m {
			s.abort(st.txn)
		}
	})
}

// kill aborts the unprepared transactions of the sessions p selects that run on m
// (src/mongo/db/kill_sessions_local.cpp).
func (tt *txnTable) kill(s *store, m *Member, p *sessionid.Patterns) {
	tt.each(s, p.Matches, func(st *sessionTxn) {
		if st.txn != nil && st.txn.owner == m {
			s.abort(st.txn)
		}
	})
}

// reap forgets records idle longer than the session timeout with nothing open, like mongod's
// transaction reaper.
func (tt *txnTable) reap(s *store, now time.Time, idle time.Duration) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for id, st := range tt.m {
		if now.Sub(st.lastUse) > idle && (st.txn == nil || st.txn.phase != txnInProgress) && st.checkout.TryLock() {
			delete(tt.m, id)
			st.checkout.Unlock()
		}
	}
}

// runWithTxnNumber runs a command that carries a txnNumber: a retryable write or a statement of
// a multi-document transaction, with the session checked out.
func (r *request) runWithTxnNumber(cmd command) error {
	rs := r.m.rs
	st := rs.txns.get(r.op.LSID, rs.now())
	st.checkout.Lock()
	defer st.checkout.Unlock()
	r.sessionCheckedOut()
	if !r.op.Autocommit {
		if err := r.beginRetryable(st); err != nil {
			return err
		}
		r.retry = st
		return cmd.run(r)
	}
	t, err := r.beginOrContinue(st)
	if err != nil {
		return err
	}
	r.txn = t
	err = cmd.run(r)
	if err != nil && !isCommitOrAbort(r.name) {
		// Any failed statement aborts its transaction in mongod.
		rs.store.mu.Lock()
		rs.store.abort(t)
		rs.store.mu.Unlock()
	}
	return err
}

func (r *request) beginRetryable(st *sessionTxn) error {
	s := r.m.rs.store
	s.mu.Lock()
	defer s.mu.Unlock()
	n := r.op.TxnNumber
	switch {
	case n < st.number:
		return mongoerr.New(mongoerr.TransactionTooOld,
			"Retryable write with txnNumber %d is prohibited on session %s because a newer transaction with txnNumber %d has already started on this session.",
			n, r.op.LSID, st.number)
	case n > st.number:
		if st.txn != nil {
			s.abort(st.txn)
		}
		st.number, st.txn, st.stmts = n, nil, map[int32]stmtResult{}
	case st.txn != nil:
		return mongoerr.New(codeStartTxnConflict,
			"Cannot start a retryable write at given transaction number %d a transaction with the same number is in state %s",
			n, phaseNames[st.txn.phase])
	}
	return nil
}

func (r *request) beginOrContinue(st *sessionTxn) (*txn, error) {
	rs := r.m.rs
	s := rs.store
	s.mu.Lock()
	defer s.mu.Unlock()
	n, now := r.op.TxnNumber, rs.now()
	switch {
	case n < st.number:
		return nil, mongoerr.New(mongoerr.TransactionTooOld,
			"Cannot start transaction %d on session %s because a newer transaction with txnNumber %d has already started on this session.",
			n, r.op.LSID, st.number)
	case r.op.StartTransaction:
		if n == st.number && (st.txn == nil && len(st.stmts) > 0 || st.txn != nil && st.txn.phase != txnAborted) {
			phase := txnCommitted // a retryable write that executed counts as committed
			if st.txn != nil {
				phase = st.txn.phase
			}
			return nil, mongoerr.New(codeStartTxnConflict,
				"Cannot start a transaction at given transaction number %d a transaction with the same number is in state %s",
				n, phaseNames[phase])
		}
		if st.txn != nil {
			s.abort(st.txn)
		}
		t := s.begin(r.m, n, now.Add(txnLifetime), r.readAt)
		t.lsid = r.op.LSID
		st.number, st.txn, st.stmts = n, t, nil
		return t, nil
	case n > st.number || st.txn == nil:
		return nil, noSuchTxn("Given transaction number %d does not match any in-progress transactions. The active transaction number is %d", n, st.number)
	}
	t := st.txn
	if t.expired(now) {
		s.abort(t)
	}
	if isCommitOrAbort(r.name) {
		return t, nil // the handler answers for every phase (a retried commit succeeds)
	}
	switch {
	case t.phase == txnAborted:
		return nil, txnAbortedError(n)
	case t.phase == txnCommitted:
		return nil, txnCommittedError(n)
	case t.owner != r.m:
		return nil, noSuchTxn("Given transaction number %d does not match any in-progress transactions. The active transaction number is %d", n, st.number)
	}
	return t, nil
}

func noSuchTxn(format string, args ...any) *mongoerr.Error {
	return mongoerr.New(mongoerr.NoSuchTransaction, format, args...)
}

func txnAbortedError(n int64) *mongoerr.Error {
	return noSuchTxn("Transaction with { txnNumber: %d } has been aborted.", n)
}

func txnCommittedError(n int64) *mongoerr.Error {
	return mongoerr.New(mongoerr.TransactionCommitted, "Transaction with { txnNumber: %d } has been committed.", n)
}

func isCommitOrAbort(name string) bool {
	return name == "commitTransaction" || name == "abortTransaction"
}

// cmdEndTransaction is commitTransaction and abortTransaction. A retried commit of a committed
// transaction succeeds again; aborting it is an error.
func cmdEndTransaction(r *request) error {
	s := r.m.rs.store
	s.mu.Lock()
	defer s.mu.Unlock()
	commit := r.name == "commitTransaction"
	switch {
	case r.txn.phase == txnAborted:
		return txnAbortedError(r.txn.number)
	case r.txn.phase == txnCommitted && !commit:
		return txnCommittedError(r.txn.number)
	case r.txn.phase == txnCommitted:
	case commit:
		s.commit(r.txn)
		r.opTime = unpack(s.seq)
	default:
		s.abort(r.txn)
	}
	return nil
}

// stmtID is the statement id of the i-th statement: stmtIds[i], stmtId+i, or i as drivers leave
// numbering to the server.
func (r *request) stmtID(i int) int32 {
	if arr, ok := r.body.Lookup("stmtIds").ArrayOK(); ok {
		if v, err := arr.IndexErr(uint(i)); err == nil {
			if n, ok := v.AsInt64OK(); ok {
				return int32(n)
			}
		}
	}
	if n, ok := r.body.Lookup("stmtId").AsInt64OK(); ok {
		return int32(n) + int32(i)
	}
	return int32(i)
}

// executed returns the recorded result of a retryable statement that already ran.
func (r *request) executed(stmt int32) (stmtResult, bool) {
	if r.retry == nil {
		return stmtResult{}, false
	}
	res, ok := r.retry.stmts[stmt]
	return res, ok
}

func (r *request) record(stmt int32, res stmtResult) {
	if r.retry != nil {
		r.retry.stmts[stmt] = res
	}
}

// retryBlocked runs a write statement until no open transaction blocks it.
func (r *request) retryBlocked(stmt func() error) error {
	for {
		err := stmt()
		var b *blockedError
		if !errors.As(err, &b) {
			return err
		}
		if err := r.waitFor(b.t); err != nil {
			return err
		}
		if !r.m.isPrimary() { // stepped down meanwhile: mongod interrupts such writes
			return mongoerr.New(mongoerr.InterruptedDueToReplStateChange, "operation was interrupted")
		}
	}
}

// waitFor waits until t ends, t's lifetime runs out (the retry then aborts it), maxTimeMS
// passes, or the member stops.
func (r *request) waitFor(t *txn) error {
	r.m.rs.store.mu.RLock()
	wait := t.expires.Sub(r.m.rs.now())
	r.m.rs.store.mu.RUnlock()
	timer := time.NewTimer(max(wait, time.Millisecond))
	defer timer.Stop()
	var deadline <-chan time.Time
	if ms, ok := r.body.Lookup("maxTimeMS").AsInt64OK(); ok && ms > 0 {
		left := time.Until(r.start.Add(time.Duration(ms) * time.Millisecond))
		dl := time.NewTimer(max(left, 0))
		defer dl.Stop()
		deadline = dl.C
	}
	select {
	case <-t.done:
	case <-timer.C:
	case <-r.interrupted():
		return errInterrupted()
	case <-deadline:
		return mongoerr.New(mongoerr.MaxTimeMSExpired, "operation exceeded time limit")
	case <-r.c.stop:
		return mongoerr.New(mongoerr.InterruptedAtShutdown, "interrupted at shutdown")
	case <-r.m.rs.closing:
		return mongoerr.New(mongoerr.InterruptedAtShutdown, "interrupted at shutdown")
	}
	return nil
}

// labelContext classifies the command for the error labels mongod attaches.
func (r *request) labelContext(hasWCE bool) mongoerr.LabelContext {
	return mongoerr.LabelContext{
		InTransaction:     r.op.Autocommit,
		RetryableWrite:    r.op.HasTxnNumber && !r.op.Autocommit && r.cmd.flags&cRetryable != 0,
		CommitOrAbort:     isCommitOrAbort(r.name),
		WriteConcernError: hasWCE,
	}
}
