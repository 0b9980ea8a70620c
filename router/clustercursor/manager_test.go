package clustercursor

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a manager on a clock the test moves, recording what it kills and forgets.
type fixture struct {
	*Manager
	mu      sync.Mutex
	now     time.Time
	killed  []Remote
	forgot  []int64
	killNSs []string
}

func newFixture(timeout time.Duration) *fixture {
	f := &fixture{now: time.Unix(1_700_000_000, 0)}
	f.Manager = New(Config{
		Timeout: timeout,
		Now: func() time.Time {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.now
		},
		KillRemotes: func(ns string, remotes []Remote) {
			f.mu.Lock()
			f.killed = append(f.killed, remotes...)
			f.killNSs = append(f.killNSs, ns)
			f.mu.Unlock()
		},
		Forget: func(_ sessionid.ID, id int64) {
			f.mu.Lock()
			f.forgot = append(f.forgot, id)
			f.mu.Unlock()
		},
	})
	return f
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) killedIDs() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for _, r := range f.killed {
		ids = append(ids, r.ID)
	}
	return ids
}

var (
	alice = sessionid.UID{1}
	bob   = sessionid.UID{2}
	lsidA = sessionid.ID{ID: [16]byte{0xa}, UID: alice}
	lsidB = sessionid.ID{ID: [16]byte{0xb}, UID: alice}
)

func (f *fixture) register(t *testing.T, b Binding, remoteID int64) int64 {
	t.Helper()
	id, err := f.Register(Spec{NS: "db.c", Binding: b, Remotes: []Remote{{Shard: 0, Host: "h:1", ID: remoteID}}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantCode(t *testing.T, err error, code mongoerr.Code, msg string) {
	t.Helper()
	e := mongoerr.As(err)
	if err == nil || e.Code != code || !strings.Contains(e.Msg, msg) {
		t.Fatalf("got %v, want code %d with %q", err, code, msg)
	}
}

func TestIDsAreTheManagersOwn(t *testing.T) {
	f, other := newFixture(time.Minute), newFixture(time.Minute)
	seen := map[int64]bool{}
	for i := range 1000 {
		id := f.register(t, Binding{Owner: alice}, int64(i+1))
		if id <= 0 || seen[id] {
			t.Fatalf("cursor id %d: not positive or given twice", id)
		}
		seen[id] = true
		if _, err := other.CheckOut(id, "db.c", Binding{Owner: alice}); err == nil {
			t.Fatalf("another manager knows cursor %d", id)
		}
	}
	var some int64
	for id := range seen {
		some = id
		break
	}
	_, err := other.CheckOut(some, "db.c", Binding{Owner: alice})
	wantCode(t, err, mongoerr.CursorNotFound, "Cursor not found (id: ")
}

// TestCheckOutRules: mongos's checks, in mongos's order, with its codes and messages.
func TestCheckOutRules(t *testing.T) {
	inA := Binding{Owner: alice, HasLSID: true, LSID: lsidA}
	inTxn := Binding{Owner: alice, HasLSID: true, LSID: lsidA, HasTxnNumber: true, TxnNumber: 3}
	cases := []struct {
		name       string
		opened, by Binding
		ns         string
		code       mongoerr.Code
		msg        string
	}{
		{"another user", inA, Binding{Owner: bob, HasLSID: true, LSID: lsidA}, "db.c", mongoerr.Unauthorized,
			"was not created by the authenticated user :: caused by :: User not authorized to access cursor"},
		{"another user before another namespace", inA, Binding{Owner: bob}, "db.other", mongoerr.Unauthorized, "not created by the authenticated user"},
		{"in a session, not created in one", Binding{Owner: alice}, inA, "db.c", 50799, "which was not created in a session, in session " + lsidA.String()},
		{"without an lsid", inA, Binding{Owner: alice}, "db.c", 50800, "which was created in session " + lsidA.String() + ", without an lsid"},
		{"another session", inA, Binding{Owner: alice, HasLSID: true, LSID: lsidB}, "db.c", 50801, ", in session " + lsidB.String()},
		{"in a transaction, not created in one", inA, inTxn, "db.c", 50802, "which was not created in a transaction, in transaction 3"},
		{"without a txnNumber", inTxn, inA, "db.c", 50803, "which was created in transaction 3, without a txnNumber"},
		{"another transaction", inTxn, Binding{Owner: alice, HasLSID: true, LSID: lsidA, HasTxnNumber: true, TxnNumber: 4}, "db.c", 50804,
			"which was created in transaction 3, in transaction 4"},
		{"another namespace", inA, inA, "db.other", mongoerr.Unauthorized,
			"Requested getMore on namespace 'db.other', but cursor belongs to a different namespace db.c"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(time.Minute)
			id := f.register(t, tc.opened, 7)
			_, err := f.CheckOut(id, tc.ns, tc.by)
			wantCode(t, err, tc.code, tc.msg)
			// A refused getMore leaves the cursor to its owner.
			c, err := f.CheckOut(id, "db.c", tc.opened)
			if err != nil {
				t.Fatalf("the owner after a refused getMore: %v", err)
			}
			f.Return(c, Open, 0)
		})
	}
}

func TestOneGetMoreAtATime(t *testing.T) {
	f := newFixture(time.Minute)
	id := f.register(t, Binding{Owner: alice}, 7)
	c, err := f.CheckOut(id, "db.c", Binding{Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.CheckOut(id, "db.c", Binding{Owner: alice})
	wantCode(t, err, mongoerr.CursorInUse, "Cursor already in use (id: ")
	// The owner check comes first: another user learns nothing of its use.
	_, err = f.CheckOut(id, "db.c", Binding{Owner: bob})
	wantCode(t, err, mongoerr.Unauthorized, "not created by the authenticated user")
	if st := f.Stats(); st.Pinned != 1 || st.Open() != 1 {
		t.Fatalf("stats while checked out: %+v", st)
	}
	f.Return(c, Open, 2)
	if _, err := f.CheckOut(id, "db.c", Binding{Owner: alice}); err != nil {
		t.Fatalf("after return: %v", err)
	}
}

func TestReturnStates(t *testing.T) {
	f := newFixture(time.Minute)
	inA := Binding{Owner: alice, HasLSID: true, LSID: lsidA}
	exhausted := f.register(t, inA, 1)
	abandoned := f.register(t, inA, 2)
	for _, tc := range []struct {
		id    int64
		state State
	}{{exhausted, Exhausted}, {abandoned, Abandoned}} {
		c, err := f.CheckOut(tc.id, "db.c", inA)
		if err != nil {
			t.Fatal(err)
		}
		if f.Return(c, tc.state, 1) {
			t.Fatal("reported killed")
		}
		if _, err := f.CheckOut(tc.id, "db.c", inA); mongoerr.As(err).Code != mongoerr.CursorNotFound {
			t.Fatalf("cursor after state %d: %v", tc.state, err)
		}
	}
	// An exhausted cursor's shard cursor is gone already; an abandoned one's is killed.
	if got := f.killedIDs(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("killed shard cursors %v, want [2]", got)
	}
	if !slices.Equal(f.forgot, []int64{exhausted, abandoned}) {
		t.Fatalf("the session forgot %v", f.forgot)
	}
}

func TestKill(t *testing.T) {
	f := newFixture(time.Minute)
	idle := f.register(t, Binding{Owner: alice}, 1)
	busy := f.register(t, Binding{Owner: alice}, 2)
	c, err := f.CheckOut(busy, "db.c", Binding{Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	found := f.Kill([]int64{idle, busy, 12345}, true)
	if !slices.Equal(found, []int64{idle, busy}) {
		t.Fatalf("found %v", found)
	}
	// Both shard cursors die now: the busy one's so that a getMore waiting on the shard ends.
	if got := f.killedIDs(); !slices.Equal(got, []int64{1, 2}) || f.killNSs[0] != "db.c" {
		t.Fatalf("killed %v in %v", got, f.killNSs)
	}
	if st := f.Stats(); st.Open() != 0 {
		t.Fatalf("a cursor being killed is still counted open: %+v", st)
	}
	if again := f.Kill([]int64{busy}, true); len(again) != 0 {
		t.Fatalf("killed twice: %v", again)
	}
	if !f.Return(c, Open, 3) {
		t.Fatal("the getMore of a killed cursor was not told")
	}
	if got := f.killedIDs(); len(got) != 2 {
		t.Fatalf("shard cursor killed again on return: %v", got)
	}
	if _, err := f.CheckOut(busy, "db.c", Binding{Owner: alice}); mongoerr.As(err).Code != mongoerr.CursorNotFound {
		t.Fatalf("killed cursor: %v", err)
	}
	// Kills that leave the shard cursors to the caller.
	other := f.register(t, Binding{Owner: alice}, 3)
	f.Kill([]int64{other}, false)
	if got := f.killedIDs(); len(got) != 2 {
		t.Fatalf("shard cursors killed against the caller's word: %v", got)
	}
}

// TestRebind: a checked-out cursor's shard cursors may be replaced; a kill then reaches the new
// ones, and a cursor killed while checked out refuses the new ones (the caller kills them).
func TestRebind(t *testing.T) {
	f := newFixture(time.Minute)
	id := f.register(t, Binding{Owner: alice}, 1)
	c, err := f.CheckOut(id, "db.c", Binding{Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	if f.Rebind(c, []Remote{{Shard: 0, Host: "h:2", ID: 7}, {Shard: 1, Host: "h:3", ID: 8}}) {
		t.Fatal("a live cursor was reported killed")
	}
	f.Return(c, Open, 0)
	f.Kill([]int64{id}, true)
	if got := f.killedIDs(); !slices.Equal(got, []int64{7, 8}) {
		t.Fatalf("killed %v, want the rebound shard cursors 7 and 8", got)
	}

	busy := f.register(t, Binding{Owner: alice}, 2)
	c, err = f.CheckOut(busy, "db.c", Binding{Owner: alice})
	if err != nil {
		t.Fatal(err)
	}
	f.Kill([]int64{busy}, true)
	if !f.Rebind(c, []Remote{{Shard: 0, Host: "h:2", ID: 9}}) {
		t.Fatal("a cursor killed while checked out took new shard cursors")
	}
	if got := f.killedIDs(); !slices.Equal(got, []int64{7, 8, 2}) {
		t.Fatalf("killed %v", got)
	}
	f.Return(c, Open, 0)
}

// TestReap: idle cursors outside a session go after the timeout with their shard cursors;
// session cursors, noCursorTimeout ones and those in use stay.
func TestReap(t *testing.T) {
	f := newFixture(10 * time.Minute)
	old := f.register(t, Binding{Owner: alice}, 1)
	used := f.register(t, Binding{Owner: alice}, 2)
	session := f.register(t, Binding{Owner: alice, HasLSID: true, LSID: lsidA}, 3)
	immortal, _ := f.Register(Spec{NS: "db.c", Binding: Binding{Owner: alice}, NoTimeout: true, Remotes: []Remote{{ID: 4}}})
	pinned := f.register(t, Binding{Owner: alice}, 5)

	f.advance(9 * time.Minute)
	c, _ := f.CheckOut(used, "db.c", Binding{Owner: alice})
	f.Return(c, Open, 1) // used a minute before the timeout
	p, _ := f.CheckOut(pinned, "db.c", Binding{Owner: alice})
	if n := f.Reap(); n != 0 {
		t.Fatalf("reaped %d before the timeout", n)
	}
	f.advance(time.Minute)
	if n := f.Reap(); n != 1 {
		t.Fatalf("reaped %d, want 1", n)
	}
	if got := f.killedIDs(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("killed shard cursors %v", got)
	}
	for _, id := range []int64{used, session, immortal} {
		c, err := f.CheckOut(id, "db.c", f.cursors[id].Binding)
		if err != nil {
			t.Fatalf("cursor %d reaped: %v", id, err)
		}
		f.Return(c, Open, 0)
	}
	if _, err := f.CheckOut(old, "db.c", Binding{Owner: alice}); mongoerr.As(err).Code != mongoerr.CursorNotFound {
		t.Fatalf("reaped cursor: %v", err)
	}
	f.Return(p, Open, 0)
	f.advance(11 * time.Minute)
	if n := f.Reap(); n != 2 { // used and pinned, idle now
		t.Fatalf("second reap: %d", n)
	}
	if st := f.Stats(); st.TimedOut != 3 || st.Open() != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCloseKillsEverything(t *testing.T) {
	f := newFixture(time.Minute)
	f.register(t, Binding{Owner: alice}, 1)
	if _, err := f.RegisterQueued(Spec{NS: "db.c"}, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got := f.killedIDs(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("killed %v", got)
	}
	_, err := f.Register(Spec{NS: "db.c", Remotes: []Remote{{ID: 9}}})
	wantCode(t, err, mongoerr.ShutdownInProgress, "shutting down")
	if got := f.killedIDs(); !slices.Equal(got, []int64{1, 9}) {
		t.Fatalf("a cursor refused at shutdown keeps its shard cursor: %v", got)
	}
}

func TestStatsByKind(t *testing.T) {
	f := newFixture(time.Minute)
	f.register(t, Binding{}, 1)
	_, _ = f.Register(Spec{NS: "db.c", Remotes: []Remote{{ID: 2}, {Shard: 1, ID: 3}}})
	_, _ = f.RegisterQueued(Spec{NS: "db.c"}, nil)
	if st := f.Stats(); st.SingleTarget != 1 || st.MultiTarget != 1 || st.QueuedData != 1 || st.Open() != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestRunStops: the reaper's goroutine ends with its context (TestMain checks for leaks).
func TestRunStops(t *testing.T) {
	f := newFixture(time.Nanosecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.Run(ctx, time.Millisecond)
		close(done)
	}()
	cancel()
	<-done
}
