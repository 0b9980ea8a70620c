package sessioncache

import (
	"slices"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

func TestKill(t *testing.T) {
	a := newIDs(3, alice)
	b := newIDs(2, bob)
	setup := func(t *testing.T) *Cache {
		c := New(Config{})
		for i, id := range append(slices.Clone(a), b...) {
			if err := c.Vivify(id, ""); err != nil {
				t.Fatal(err)
			}
			if err := c.AddCursor(id, int64(10*i+1)); err != nil {
				t.Fatal(err)
			}
			_ = c.AddCursor(id, int64(10*i+2))
		}
		_ = c.BeginTxn(a[0], 4, TxnOptions{})
		_ = c.BeginTxn(b[0], 1, TxnOptions{})
		c.FinishTxn(b[0], 1, TxnEnd{State: TxnCommitted})
		c.RemoveCursor(a[2], 22)
		return c
	}
	ids := func(is ...sessionid.ID) map[sessionid.ID]struct{} {
		m := map[sessionid.ID]struct{}{}
		for _, i := range is {
			m[i] = struct{}{}
		}
		return m
	}
	tests := []struct {
		name    string
		p       sessionid.Patterns
		cursors []int64
		aborted bool // a[0]'s transaction
	}{
		{name: "all", p: sessionid.Patterns{All: true}, cursors: []int64{1, 2, 11, 12, 21, 31, 32, 41, 42}, aborted: true},
		{name: "uid", p: sessionid.Patterns{UIDs: map[sessionid.UID]struct{}{bob: {}}}, cursors: []int64{31, 32, 41, 42}},
		{name: "uid and id", p: sessionid.Patterns{UIDs: map[sessionid.UID]struct{}{bob: {}}, IDs: ids(a[0])},
			cursors: []int64{1, 2, 31, 32, 41, 42}, aborted: true},
		{name: "ids", p: sessionid.Patterns{IDs: ids(a[2], b[1], sessionid.NewID(alice))}, cursors: []int64{21, 41, 42}},
		{name: "same uuid, other user", p: sessionid.Patterns{IDs: ids(sessionid.ID{ID: a[1].ID, UID: bob})}},
		{name: "none", p: sessionid.Patterns{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := setup(t)
			got := sortInts(c.Kill(&tt.p))
			if !slices.Equal(got, tt.cursors) {
				t.Fatalf("cursors %v, want %v", got, tt.cursors)
			}
			if again := c.Kill(&tt.p); len(again) != 0 {
				t.Fatalf("second kill closed %v", again)
			}
			txn, _ := c.Txn(a[0])
			if (txn.State == TxnAborted) != tt.aborted {
				t.Fatalf("a[0] txn %v", txn.State)
			}
			if txn, _ := c.Txn(b[0]); txn.State != TxnCommitted {
				t.Fatalf("committed transaction became %v", txn.State)
			}
			// Killed sessions stay usable.
			if c.Len() != 5 || c.Vivify(a[0], "") != nil || c.AddCursor(a[0], 99) != nil {
				t.Fatal("session gone after kill")
			}
		})
	}
}

func TestCursorsUnknownSession(t *testing.T) {
	c := New(Config{})
	id := sessionid.NewID(alice)
	wantCode(t, c.AddCursor(id, 1), mongoerr.NoSuchSession)
	c.RemoveCursor(id, 1) // no-op
	if c.Len() != 0 {
		t.Fatal("RemoveCursor created a session")
	}
}

func TestCursorSet(t *testing.T) {
	tests := []struct {
		name string
		add  []int64
		del  []int64
		want []int64
	}{
		{name: "empty"},
		{name: "one", add: []int64{7}, want: []int64{7}},
		{name: "zero ignored", add: []int64{0, 7, 0}, want: []int64{7}},
		{name: "several", add: []int64{1, 2, 3}, want: []int64{1, 2, 3}},
		{name: "remove first promotes", add: []int64{1, 2, 3}, del: []int64{1}, want: []int64{2, 3}},
		{name: "remove middle", add: []int64{1, 2, 3}, del: []int64{2}, want: []int64{1, 3}},
		{name: "remove all", add: []int64{1, 2}, del: []int64{2, 1}, want: nil},
		{name: "remove unknown", add: []int64{1}, del: []int64{5, 0}, want: []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s cursorSet
			for _, id := range tt.add {
				s.add(id)
			}
			for _, id := range tt.del {
				s.remove(id)
			}
			if got := s.appendTo(nil); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
