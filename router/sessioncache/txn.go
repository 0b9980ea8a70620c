package sessioncache

import (
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

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

// Participant is a shard a transaction runs on, as mongos's TransactionRouter::Participant
// (src/mongo/s/transaction_router.cpp) without two-phase commit's coordinator role.
type Participant struct {
	Shard int
	// Host is the member the transaction started on there: every later statement, commit and
	// abort go to it (a primary that stepped down has lost the transaction anyway). Empty until
	// the participant's first statement has picked it.
	Host string
	// Wrote is set before a statement that writes, or that the router cannot classify, is sent:
	// mongos's readOnly: false, counted conservatively.
	Wrote bool
	// Ready is set once a statement succeeded there; until then mongos's readOnly is unknown
	// (kUnset) and a commit is refused.
	Ready bool
}

// TxnOptions are what a transaction starts with.
type TxnOptions struct {
	// ReadConcern is the readConcern every participant starts with (nil: none): the first
	// statement's, or for a snapshot at a chosen time {level: "snapshot", atClusterTime}.
	ReadConcern bsoncore.Document
	// Snapshot is readConcern level snapshot.
	Snapshot bool
	// AtClusterTime is the time a snapshot transaction reads at on every participant; zero when
	// the router chose none and its first participant reads at a time of its own.
	AtClusterTime bson.Timestamp
}

// Txn is the router's view of a session's latest transaction. Its Participants are shared by
// the copies Txn hands out: change them only through UpdateTxn, on a copy of the slice.
type Txn struct {
	Number int64
	State  TxnState
	TxnOptions
	// Participants are the shards the transaction reached, in the order they joined.
	Participants []Participant
	// CommitType is how the first commit attempt ran (mongos's commitType: "singleShard",
	// "singleWriteShard", "readOnly", "noShards"); empty before it. CommitStart is when.
	CommitType  string
	CommitStart time.Time
}

// Participant returns the participant on shard.
func (t Txn) Participant(shard int) (Participant, bool) {
	for _, p := range t.Participants {
		if p.Shard == shard {
			return p, true
		}
	}
	return Participant{}, false
}

// Writer returns the participant that wrote, if any; there is at most one.
func (t Txn) Writer() (Participant, bool) {
	for _, p := range t.Participants {
		if p.Wrote {
			return p, true
		}
	}
	return Participant{}, false
}

// EnlistReason is why a statement may not reach the shards it needs.
type EnlistReason uint8

const (
	// SecondWriter: the statement would write on a shard other than the one that wrote (or on
	// two shards at once). That needs two-phase commit.
	SecondWriter EnlistReason = iota + 1
	// UnsharedSnapshot: a snapshot transaction whose first participant reads at a time of its
	// own cannot add a second one at the same time.
	UnsharedSnapshot
)

// EnlistError refuses a statement (Enlist).
type EnlistError struct {
	Reason EnlistReason
	Shard  int // the shard the statement needed
	Writer int // SecondWriter: the shard that wrote, or that the statement also writes on
}

func (e *EnlistError) Error() string {
	if e.Reason == SecondWriter {
		return "a second shard would write in the transaction"
	}
	return "a second shard cannot read at the transaction's snapshot"
}

// Enlist records that a statement reaches shards (writing when write is set): each shard that is
// not a participant yet joins (joins[i] reports it, in the order of shards), and the writer is
// marked before the statement is sent. It refuses, changing nothing, a write on a second shard
// and a snapshot participant the first one's time cannot be shared with. Call it from UpdateTxn.
func (t *Txn) Enlist(shards []int, write bool) (joins []bool, err error) {
	joins = make([]bool, len(shards))
	joining := 0
	for i, s := range shards {
		if _, ok := t.Participant(s); !ok && !slices.Contains(shards[:i], s) {
			joins[i] = true
			joining++
		}
	}
	writer, wrote := t.Writer()
	if write {
		for _, s := range shards {
			switch {
			case wrote && s != writer.Shard:
				return nil, &EnlistError{Reason: SecondWriter, Shard: s, Writer: writer.Shard}
			case s != shards[0]:
				return nil, &EnlistError{Reason: SecondWriter, Shard: s, Writer: shards[0]}
			}
		}
	}
	if joining == 0 && (!write || wrote) {
		return joins, nil // nothing changes: the common statement costs no copy
	}
	if t.Snapshot && t.AtClusterTime.IsZero() && joining > 0 && len(t.Participants)+joining > 1 {
		for i, s := range shards {
			if joins[i] && (len(t.Participants) > 0 || i > 0) {
				return nil, &EnlistError{Reason: UnsharedSnapshot, Shard: s}
			}
		}
	}
	t.Participants = slices.Clone(t.Participants)
	for i, s := range shards {
		if joins[i] {
			t.Participants = append(t.Participants, Participant{Shard: s})
		}
	}
	if write {
		for i := range t.Participants {
			t.Participants[i].Wrote = t.Participants[i].Wrote || t.Participants[i].Shard == shards[0]
		}
	}
	return joins, nil
}

// Settle records a participant's reply to a statement: the member it runs on (kept from its
// first statement), and ready when the statement succeeded. It reports whether anything changed.
func (t *Txn) Settle(shard int, host string, ok bool) bool {
	for i, p := range t.Participants {
		if p.Shard != shard {
			continue
		}
		next := p
		if next.Host == "" {
			next.Host = host
		}
		next.Ready = next.Ready || ok
		if next == p {
			return false
		}
		t.Participants = slices.Clone(t.Participants)
		t.Participants[i] = next
		return true
	}
	return false
}

// TxnEnd is how a transaction the router tracked stopped being in progress.
type TxnEnd struct {
	// State is TxnCommitted or TxnAborted; TxnNone when a newer transaction of its session
	// replaced it (mongos counts it neither committed nor aborted).
	State TxnState
	// Cause is why it aborted (mongos's abortCause): the error's code name, or "abort" for the
	// client's abortTransaction.
	Cause string
}

// Interrupted is the abort cause of a transaction whose session was killed, ended or reaped:
// the shards abort it with Interrupted.
const Interrupted = "Interrupted"

// endTxn moves t out of TxnInProgress, telling the configured TxnEnded; callers hold the
// session's stripe lock.
func (c *Cache) endTxn(t *Txn, end TxnEnd) {
	if t.State != TxnInProgress {
		return
	}
	if c.cfg.TxnEnded != nil {
		c.cfg.TxnEnded(*t, end)
	}
	if end.State != TxnNone {
		t.State = end.State
	}
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
		return Txn{}, true
	}
	return r.ext.txn, true
}

// UpdateTxn runs fn on the session's transaction state under the session's lock, so the router
// can check and change it atomically; fn's error is returned and the change is kept only when fn
// succeeds. fn may not change State (BeginTxn and FinishTxn do). NoSuchSession(206) if the
// session is not cached.
func (c *Cache) UpdateTxn(id sessionid.ID, fn func(t *Txn) error) error {
	var err error
	found := c.update(id, func(r *record) {
		var t Txn
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

// BeginTxn records that transaction number has started on the session with opts and no
// participant yet, after mongos's rules on the number (transaction_router.cpp
// beginOrContinueTxn, kStart): lower than the session's latest transaction is TransactionTooOld,
// the same one again is ConflictingOperationInProgress. A transaction still in progress is
// replaced. NoSuchSession(206) if not cached.
func (c *Cache) BeginTxn(id sessionid.ID, number int64, opts TxnOptions) error {
	var err error
	found := c.update(id, func(r *record) {
		t := &r.extra().txn
		if t.State != TxnNone {
			if err = t.tooOld(id, number); err != nil {
				return
			}
			if number == t.Number {
				err = mongoerr.New(mongoerr.ConflictingOperationInProgress,
					"txnNumber %d for session %s already started", number, id)
				return
			}
		}
		c.endTxn(t, TxnEnd{})
		*t = Txn{Number: number, State: TxnInProgress, TxnOptions: opts}
	})
	if !found {
		return noSuchSession(id)
	}
	return err
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

// StartCommit records the first commit attempt of transaction number, of type commitType, at
// now. It returns the transaction and whether this was its first commit attempt; ok is false
// when number is not the session's latest transaction.
func (c *Cache) StartCommit(id sessionid.ID, number int64, commitType string, now time.Time) (t Txn, first, ok bool) {
	c.update(id, func(r *record) {
		if r.ext == nil || r.ext.txn.Number != number || r.ext.txn.State == TxnNone {
			return
		}
		cur := &r.ext.txn
		if first = cur.CommitType == ""; first {
			cur.CommitType, cur.CommitStart = commitType, now
		}
		t, ok = *cur, true
	})
	return t, first, ok
}

// FinishTxn moves transaction number out of TxnInProgress to end.State (TxnCommitted or
// TxnAborted), telling TxnEnded. A transaction that ended already changes only to TxnCommitted:
// a commit the shards confirmed wins over an abort the router believed in (a kill that did not
// reach the shards). It reports false when number is not the session's latest transaction.
func (c *Cache) FinishTxn(id sessionid.ID, number int64, end TxnEnd) bool {
	ok := false
	c.update(id, func(r *record) {
		if r.ext == nil || r.ext.txn.Number != number || r.ext.txn.State == TxnNone {
			return
		}
		ok = true
		if r.ext.txn.State == TxnInProgress {
			c.endTxn(&r.ext.txn, end)
		} else if end.State == TxnCommitted {
			r.ext.txn.State = TxnCommitted
		}
	})
	return ok
}

// extra returns the record's rare state, allocating it on first use.
func (r *record) extra() *extra {
	if r.ext == nil {
		r.ext = &extra{}
	}
	return r.ext
}
