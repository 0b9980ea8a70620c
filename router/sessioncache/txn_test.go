package sessioncache

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// endLog records what TxnEnded heard.
type endLog struct {
	mu   sync.Mutex
	ends []TxnEnd
	txns []int64
}

func (l *endLog) ended(t Txn, e TxnEnd) {
	l.mu.Lock()
	l.ends = append(l.ends, e)
	l.txns = append(l.txns, t.Number)
	l.mu.Unlock()
}

func (l *endLog) take() ([]TxnEnd, []int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, n := l.ends, l.txns
	l.ends, l.txns = nil, nil
	return e, n
}

func TestTxnLifecycle(t *testing.T) {
	var log endLog
	c := New(Config{TxnEnded: log.ended})
	id, unknown := sessionid.NewID(alice), sessionid.NewID(alice)
	_ = c.Vivify(id, "")

	if got, ok := c.Txn(id); !ok || got.State != TxnNone || got.Participants != nil {
		t.Fatalf("fresh session txn %+v %v", got, ok)
	}
	if _, ok := c.Txn(unknown); ok {
		t.Fatal("unknown session has a txn")
	}
	wantCode(t, c.BeginTxn(unknown, 1, TxnOptions{}), mongoerr.NoSuchSession)
	rc := bson.Raw(bsonDoc(t, bson.D{{Key: "level", Value: "majority"}}))
	wantCode(t, c.BeginTxn(id, 5, TxnOptions{ReadConcern: []byte(rc)}), 0)
	wantCode(t, c.BeginTxn(id, 5, TxnOptions{}), mongoerr.ConflictingOperationInProgress)
	wantCode(t, c.BeginTxn(id, 4, TxnOptions{}), mongoerr.TransactionTooOld)
	if got, _ := c.Txn(id); got.Number != 5 || got.State != TxnInProgress || string(got.ReadConcern) != string(rc) {
		t.Fatalf("started txn %+v", got)
	}

	// A newer transaction replaces one still in progress: it ends neither committed nor aborted.
	wantCode(t, c.BeginTxn(id, 6, TxnOptions{}), 0)
	if ends, nums := log.take(); !reflect.DeepEqual(ends, []TxnEnd{{}}) || nums[0] != 5 {
		t.Fatalf("replacing: ends %+v of %v", ends, nums)
	}

	// The first commit attempt is recorded once; FinishTxn reports the end once.
	now := time.Now()
	if _, first, ok := c.StartCommit(id, 5, "singleShard", now); ok || first {
		t.Fatal("commit of a replaced transaction started")
	}
	if got, first, ok := c.StartCommit(id, 6, "readOnly", now); !ok || !first || got.CommitType != "readOnly" {
		t.Fatalf("first commit attempt: %+v %v %v", got, first, ok)
	}
	if got, first, _ := c.StartCommit(id, 6, "singleShard", now.Add(time.Second)); first || got.CommitType != "readOnly" || !got.CommitStart.Equal(now) {
		t.Fatalf("retried commit changed the first attempt: %+v", got)
	}
	if c.FinishTxn(id, 5, TxnEnd{State: TxnCommitted}) || c.FinishTxn(unknown, 6, TxnEnd{State: TxnCommitted}) {
		t.Fatal("finished another transaction")
	}
	if !c.FinishTxn(id, 6, TxnEnd{State: TxnCommitted}) || !c.FinishTxn(id, 6, TxnEnd{State: TxnCommitted}) {
		t.Fatal("commit not recorded")
	}
	if ends, nums := log.take(); !reflect.DeepEqual(ends, []TxnEnd{{State: TxnCommitted}}) || nums[0] != 6 {
		t.Fatalf("commit: ends %+v of %v, want one", ends, nums)
	}
	c.FinishTxn(id, 6, TxnEnd{State: TxnAborted, Cause: "abort"})
	if got, _ := c.Txn(id); got.State != TxnCommitted {
		t.Fatalf("an abort after the commit made it %v", got.State)
	}
	wantCode(t, c.BeginTxn(id, 7, TxnOptions{}), 0)
	c.Kill(&sessionid.Patterns{All: true})
	c.FinishTxn(id, 7, TxnEnd{State: TxnCommitted}) // the shards committed what the router thought killed
	if got, _ := c.Txn(id); got.State != TxnCommitted {
		t.Fatalf("a confirmed commit after a kill: %v", got.State)
	}
	if ends, _ := log.take(); !reflect.DeepEqual(ends, []TxnEnd{{State: TxnAborted, Cause: Interrupted}}) {
		t.Fatalf("kill then commit: ends %+v, want the kill's only", ends)
	}

	// UpdateTxn keeps a change only when fn succeeds.
	errOld := errors.New("refused")
	if err := c.UpdateTxn(id, func(t *Txn) error { t.Number = 1; return errOld }); !errors.Is(err, errOld) {
		t.Fatalf("UpdateTxn error %v", err)
	}
	if got, _ := c.Txn(id); got.Number != 7 {
		t.Fatalf("a failed update changed the txn: %+v", got)
	}
	wantCode(t, c.UpdateTxn(unknown, func(*Txn) error { return nil }), mongoerr.NoSuchSession)
}

func TestEnlist(t *testing.T) {
	at := bson.Timestamp{T: 100, I: 1}
	tests := []struct {
		name  string
		start TxnOptions
		steps []enlistStep
		want  []Participant // after the last step
	}{
		{name: "reads on every shard, writes on one", steps: []enlistStep{
			{shards: []int{1}, joins: []bool{true}},
			{shards: []int{0, 2}, joins: []bool{true, true}},
			{shards: []int{2}, write: true, joins: []bool{false}},
			{shards: []int{1}},
			{shards: []int{2}, write: true, joins: []bool{false}},
		}, want: []Participant{{Shard: 1}, {Shard: 0}, {Shard: 2, Wrote: true}}},
		{name: "a second writer", steps: []enlistStep{
			{shards: []int{0}, write: true, joins: []bool{true}},
			{shards: []int{1}, joins: []bool{true}},
			{shards: []int{1}, write: true, refused: &EnlistError{Reason: SecondWriter, Shard: 1, Writer: 0}},
			{shards: []int{2}, write: true, refused: &EnlistError{Reason: SecondWriter, Shard: 2, Writer: 0}},
		}, want: []Participant{{Shard: 0, Wrote: true}, {Shard: 1}}},
		{name: "one write on two shards", steps: []enlistStep{
			{shards: []int{3, 3, 1}, write: true, refused: &EnlistError{Reason: SecondWriter, Shard: 1, Writer: 3}},
			{shards: []int{3, 3}, write: true, joins: []bool{true, false}},
		}, want: []Participant{{Shard: 3, Wrote: true}}},
		{name: "snapshot at a chosen time", start: TxnOptions{Snapshot: true, AtClusterTime: at}, steps: []enlistStep{
			{shards: []int{0}, joins: []bool{true}},
			{shards: []int{1}, write: true, joins: []bool{true}},
		}, want: []Participant{{Shard: 0}, {Shard: 1, Wrote: true}}},
		{name: "snapshot at the first shard's time", start: TxnOptions{Snapshot: true}, steps: []enlistStep{
			{shards: []int{0, 1}, refused: &EnlistError{Reason: UnsharedSnapshot, Shard: 1}},
			{shards: []int{0}, joins: []bool{true}},
			{shards: []int{0}, write: true, joins: []bool{false}},
			{shards: []int{1}, refused: &EnlistError{Reason: UnsharedSnapshot, Shard: 1}},
		}, want: []Participant{{Shard: 0, Wrote: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			txn := Txn{Number: 1, State: TxnInProgress, TxnOptions: tt.start}
			for i, s := range tt.steps {
				before := txn
				joins, err := txn.Enlist(s.shards, s.write)
				var refused *EnlistError
				if s.refused != nil {
					if !errors.As(err, &refused) || *refused != *s.refused {
						t.Fatalf("step %d: %v, want %+v", i, err, s.refused)
					}
					if !reflect.DeepEqual(txn, before) {
						t.Fatalf("step %d: a refused statement changed the transaction: %+v", i, txn)
					}
					continue
				}
				if err != nil || len(s.joins) > 0 && !reflect.DeepEqual(joins, s.joins) {
					t.Fatalf("step %d: joins %v (%v), want %v", i, joins, err, s.joins)
				}
			}
			if !reflect.DeepEqual(txn.Participants, tt.want) {
				t.Fatalf("participants %+v, want %+v", txn.Participants, tt.want)
			}
		})
	}
}

type enlistStep struct {
	shards  []int
	write   bool
	joins   []bool
	refused *EnlistError
}

// A copy handed out before a change keeps its participants: Enlist and Settle copy on write.
func TestTxnCopiesDoNotShare(t *testing.T) {
	var txn Txn
	if _, err := txn.Enlist([]int{0}, false); err != nil {
		t.Fatal(err)
	}
	copied := txn
	if _, err := txn.Enlist([]int{0}, true); err != nil {
		t.Fatal(err)
	}
	if !txn.Settle(0, "h:1", true) || txn.Settle(0, "h:2", true) {
		t.Fatal("settle reported no change, or a second one")
	}
	if p, _ := txn.Participant(0); p != (Participant{Shard: 0, Host: "h:1", Wrote: true, Ready: true}) {
		t.Fatalf("participant %+v", p)
	}
	if copied.Participants[0] != (Participant{Shard: 0}) {
		t.Fatalf("the earlier copy changed: %+v", copied.Participants[0])
	}
	if txn.Settle(5, "h:1", true) {
		t.Fatal("settled a shard that is no participant")
	}
}

// Killing a session aborts its transaction (cause Interrupted); the job aborts those of ended
// and reaped sessions and hands them to AbortTxns.
func TestTxnEndsWithItsSession(t *testing.T) {
	var log endLog
	clock := newFakeClock()
	c := New(Config{TxnEnded: log.ended, Clock: clock.Now})
	ids := newIDs(4, alice) // killed, ended, reaped, idle without a transaction
	for i, id := range ids {
		_ = c.Vivify(id, "")
		_ = c.MarkSeen(id, 0)
		if i < 3 {
			_ = c.BeginTxn(id, int64(i+1), TxnOptions{})
			_ = c.UpdateTxn(id, func(t *Txn) error { _, err := t.Enlist([]int{0, 1}, false); return err })
		}
	}
	c.Kill(&sessionid.Patterns{IDs: map[sessionid.ID]struct{}{ids[0]: {}}})
	if ends, nums := log.take(); !reflect.DeepEqual(ends, []TxnEnd{{State: TxnAborted, Cause: Interrupted}}) || nums[0] != 1 {
		t.Fatalf("kill: ends %+v of %v", ends, nums)
	}
	c.End(ids[1:2])
	var aborted []OpenTxn
	var fake fakeIO
	io := fake.io()
	io.AbortTxns = func(_ context.Context, txns []OpenTxn) { aborted = append(aborted, txns...) }
	clock.Advance(time.Minute)
	for _, id := range []sessionid.ID{ids[0], ids[1]} {
		_ = c.Vivify(id, "") // in use: only the ended one goes
	}
	res := c.Refresh(context.Background(), io)
	if res.TxnsAborted != 1 || len(aborted) != 1 || aborted[0].ID != ids[1] || len(aborted[0].Txn.Participants) != 2 {
		t.Fatalf("ended session: result %+v, aborted %+v", res, aborted)
	}
	clock.Advance(DefaultLocalTimeout + time.Minute)
	aborted = nil
	res = c.Refresh(context.Background(), io)
	if res.Reaped != 3 || res.TxnsAborted != 1 || len(aborted) != 1 || aborted[0].ID != ids[2] {
		t.Fatalf("reaped sessions: result %+v, aborted %+v", res, aborted)
	}
	ends, nums := log.take()
	want := []TxnEnd{{State: TxnAborted, Cause: Interrupted}, {State: TxnAborted, Cause: Interrupted}}
	if !reflect.DeepEqual(ends, want) || nums[0] != 2 || nums[1] != 3 {
		t.Fatalf("job: ends %+v of %v", ends, nums)
	}
}

func TestTxnStateString(t *testing.T) {
	for s, want := range map[TxnState]string{TxnNone: "none", TxnInProgress: "inProgress", TxnCommitted: "committed", TxnAborted: "aborted"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}

func bsonDoc(t *testing.T, d bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
