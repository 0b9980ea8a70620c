package sessioncache

import (
	"errors"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

func TestTxn(t *testing.T) {
	id := sessionid.NewID(alice)
	unknown := sessionid.NewID(alice)
	c := New(Config{})
	_ = c.Vivify(id, "")

	if got, ok := c.Txn(id); !ok || got.State != TxnNone || got.Participant != NoParticipant {
		t.Fatalf("fresh session txn %+v %v", got, ok)
	}
	if _, ok := c.Txn(unknown); ok {
		t.Fatal("unknown session has a txn")
	}
	wantCode(t, c.BeginTxn(unknown, 1), mongoerr.NoSuchSession)
	wantCode(t, c.BeginTxn(id, 5), 0)

	steps := []struct {
		name string
		do   func() bool
		want bool
	}{
		{"participant of another txn", func() bool { return c.SetTxnParticipant(id, 4, 0) }, false},
		{"participant", func() bool { return c.SetTxnParticipant(id, 5, 2) }, true},
		{"same participant again", func() bool { return c.SetTxnParticipant(id, 5, 2) }, true},
		{"second participant refused", func() bool { return c.SetTxnParticipant(id, 5, 1) }, false},
		{"finish another txn", func() bool { return c.FinishTxn(id, 6, TxnCommitted) }, false},
		{"commit", func() bool { return c.FinishTxn(id, 5, TxnCommitted) }, true},
		{"participant after commit", func() bool { return c.SetTxnParticipant(id, 5, 2) }, false},
		{"unknown session", func() bool { return c.SetTxnParticipant(unknown, 5, 2) || c.FinishTxn(unknown, 5, TxnAborted) }, false},
	}
	for _, s := range steps {
		if got := s.do(); got != s.want {
			t.Fatalf("%s: got %v", s.name, got)
		}
	}
	if got, _ := c.Txn(id); got.Number != 5 || got.State != TxnCommitted || got.Participant != 2 {
		t.Fatalf("txn %+v", got)
	}

	// UpdateTxn keeps a change only when fn succeeds.
	errOld := errors.New("too old")
	err := c.UpdateTxn(id, func(t *Txn) error {
		t.Number = 1
		return errOld
	})
	if !errors.Is(err, errOld) {
		t.Fatalf("UpdateTxn error %v", err)
	}
	_ = c.UpdateTxn(id, func(t *Txn) error { t.Recovery = []byte("token"); return nil })
	if got, _ := c.Txn(id); got.Number != 5 || string(got.Recovery) != "token" {
		t.Fatalf("after updates %+v", got)
	}
	wantCode(t, c.UpdateTxn(unknown, func(*Txn) error { return nil }), mongoerr.NoSuchSession)
}

func TestTxnStateString(t *testing.T) {
	for s, want := range map[TxnState]string{TxnNone: "none", TxnInProgress: "inProgress", TxnCommitted: "committed", TxnAborted: "aborted"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}
