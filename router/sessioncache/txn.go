package sessioncache

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// TxnState is where a session's latest transaction stands, as the router tracks it.
type TxnState uint8

// Transaction states.
const (
	TxnNone TxnState = iota
	TxnInProgress
	TxnCommitted
	TxnAborted
)

func (s TxnState) String() string {
	switch s {
	case TxnInProgress:
		return "inProgress"
	case TxnCommitted:
		return "committed"
	case TxnAborted:
		return "aborted"
	default:
		return "none"
	}
}

// NoParticipant is Txn.Participant before any shard has joined the transaction.
const NoParticipant = -1

// Txn is the router's view of a session's latest transaction.
type Txn struct {
	Number      int64
	State       TxnState
	Participant int // shard index running the transaction, or NoParticipant
	// Recovery is opaque to the cache: what the router needs to answer a commit retried after
	// the transaction ended (e.g. the recovery token it handed the client).
	Recovery []byte
}

// Txn returns the session's latest transaction; false if the session is not cached. A session
// that never ran one has State TxnNone.
func (c *Cache) Txn(id sessionid.ID) (Txn, bool) {
	s := c.stripe(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok {
		return Txn{}, false
	}
	if r.ext == nil {
		return Txn{Participant: NoParticipant}, true
	}
	return r.ext.txn, true
}

// UpdateTxn runs fn on the session's transaction state under the session's lock, so the router
// can check and change it atomically; fn's error is returned and the change is kept only when fn
// succeeds. NoSuchSession(206) if the session is not cached.
func (c *Cache) UpdateTxn(id sessionid.ID, fn func(t *Txn) error) error {
	var err error
	found := c.update(id, func(r *record) {
		t := Txn{Participant: NoParticipant}
		if r.ext != nil {
			t = r.ext.txn
		}
		if err = fn(&t); err == nil {
			r.extra().txn = t
		}
	})
	if !found {
		return noSuchSession(id)
	}
	return err
}

// BeginTxn records that transaction number has started on the session, with no participant yet,
// after mongos's rules on the number (transaction_router.cpp beginOrContinueTxn, kStart): lower
// than the session's latest transaction is TransactionTooOld, the same one again is
// ConflictingOperationInProgress. NoSuchSession(206) if not cached.
func (c *Cache) BeginTxn(id sessionid.ID, number int64) error {
	return c.UpdateTxn(id, func(t *Txn) error {
		if t.State != TxnNone {
			if err := t.tooOld(id, number); err != nil {
				return err
			}
			if number == t.Number {
				return mongoerr.New(mongoerr.ConflictingOperationInProgress,
					"txnNumber %d for session %s already started", number, id)
			}
		}
		*t = Txn{Number: number, State: TxnInProgress, Participant: NoParticipant}
		return nil
	})
}

// CheckContinue applies mongos's rules to a statement, commit or abort of transaction number
// (beginOrContinueTxn, kContinue and kCommit): a transaction older than the session's latest is
// TransactionTooOld; continuing a newer one than this router started is NoSuchTransaction. A
// session this router has run no transaction in is the shards' to judge.
func (t Txn) CheckContinue(id sessionid.ID, number int64, commit bool) error {
	if t.State == TxnNone {
		return nil
	}
	if err := t.tooOld(id, number); err != nil {
		return err
	}
	if number > t.Number && !commit {
		return mongoerr.New(mongoerr.NoSuchTransaction, "cannot continue txnId %d for session %s with txnId %d",
			t.Number, id, number).WithLabels(mongoerr.LabelTransientTransaction)
	}
	return nil
}

func (t Txn) tooOld(id sessionid.ID, number int64) error {
	if number < t.Number {
		return mongoerr.New(mongoerr.TransactionTooOld, "txnNumber %d is less than last txnNumber %d seen in session %s",
			number, t.Number, id)
	}
	return nil
}

// SetTxnParticipant pins transaction number to shard. It reports false when that transaction is
// not the session's in-progress one, or already runs on another shard.
func (c *Cache) SetTxnParticipant(id sessionid.ID, number int64, shard int) bool {
	ok := false
	c.update(id, func(r *record) {
		if r.ext == nil {
			return
		}
		t := &r.ext.txn
		if t.Number == number && t.State == TxnInProgress &&
			(t.Participant == NoParticipant || t.Participant == shard) {
			t.Participant, ok = shard, true
		}
	})
	return ok
}

// FinishTxn moves transaction number to state (TxnCommitted or TxnAborted). It reports false when
// number is not the session's latest transaction.
func (c *Cache) FinishTxn(id sessionid.ID, number int64, state TxnState) bool {
	ok := false
	c.update(id, func(r *record) {
		if r.ext != nil && r.ext.txn.Number == number && r.ext.txn.State != TxnNone {
			r.ext.txn.State, ok = state, true
		}
	})
	return ok
}

// extra returns the record's rare state, allocating it on first use.
func (r *record) extra() *extra {
	if r.ext == nil {
		r.ext = &extra{txn: Txn{Participant: NoParticipant}}
	}
	return r.ext
}
