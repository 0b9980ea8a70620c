package sessioncache

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// seed vivifies ids and marks each seen by the shards in its mask.
func seed(t *testing.T, c *Cache, ids []sessionid.ID, masks []uint64) {
	t.Helper()
	for i, id := range ids {
		if err := c.Vivify(id, "alice@admin"); err != nil {
			t.Fatal(err)
		}
		for s := range MaxShards {
			if masks[i]&(1<<s) != 0 {
				if err := c.MarkSeen(id, s); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestRefreshBatchesPerShard(t *testing.T) {
	ids := newIDs(9, alice)
	masks := []uint64{1, 1, 1, 1, 1, 2, 2, 3, 0} // shard 0: 6 ids, shard 1: 3, one on none
	tests := []struct {
		name  string
		batch int
	}{{"batches of 2", 2}, {"batches of 4", 4}, {"one batch", 100}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{BatchSize: tt.batch})
			seed(t, c, ids, masks)
			var io fakeIO
			res := c.Refresh(context.Background(), io.io())
			got := idsByShard(t, io.refreshes, tt.batch)
			want := map[int][]sessionid.ID{
				0: sortIDs([]sessionid.ID{ids[0], ids[1], ids[2], ids[3], ids[4], ids[7]}),
				1: sortIDs([]sessionid.ID{ids[5], ids[6], ids[7]}),
			}
			for s, w := range want {
				if !slices.Equal(got[s], w) {
					t.Fatalf("shard %d got %v, want %v", s, got[s], w)
				}
			}
			if len(got) != 2 || res.Refreshed != 9 || res.FailedToRefresh != 0 || c.ActiveCount() != 0 {
				t.Fatalf("result %+v, shards %d, active %d", res, len(got), c.ActiveCount())
			}
			// Nothing was used since: the next cycle sends nothing.
			io.refreshes = nil
			if res := c.Refresh(context.Background(), io.io()); res.Refreshed != 0 || len(io.refreshes) != 0 {
				t.Fatalf("second cycle %+v, calls %v", res, io.refreshes)
			}
		})
	}
}

// TestRefreshFailingShard: ids a shard failed to refresh come back for the next cycle.
func TestRefreshFailingShard(t *testing.T) {
	ids := newIDs(6, alice)
	masks := []uint64{1, 1, 2, 2, 3, 0}
	c := New(Config{BatchSize: 1, MaxSessions: 6})
	seed(t, c, ids, masks)
	io := fakeIO{failing: map[int]bool{1: true}}
	res := c.Refresh(context.Background(), io.io())
	if res.Refreshed != 3 || res.FailedToRefresh != 3 || !errors.Is(res.ShardErrors[1], errShardDown) || len(res.ShardErrors) != 1 {
		t.Fatalf("first cycle %+v", res)
	}
	if c.ActiveCount() != 3 || countActive(c) != 3 {
		t.Fatalf("active after failure %d", c.ActiveCount())
	}
	if st := c.Stats(); st.LastSessionsCollectionJobEntriesFailedToRefresh != 3 || st.LastSessionsCollectionJobEntriesRefreshed != 3 {
		t.Fatalf("stats %+v", st)
	}
	// Put-back sessions do not block new ones beyond the cap's accounting: 3 slots remain.
	for _, id := range newIDs(3, alice) {
		if err := c.Vivify(id, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Shard 1 recovers: the failed sessions are refreshed on every shard that saw them.
	io = fakeIO{}
	res = c.Refresh(context.Background(), io.io())
	got := idsByShard(t, io.refreshes, 1)
	if !slices.Equal(got[1], sortIDs([]sessionid.ID{ids[2], ids[3], ids[4]})) || !slices.Equal(got[0], []sessionid.ID{ids[4]}) {
		t.Fatalf("retry sent %v", got)
	}
	if res.Refreshed != 6 || res.FailedToRefresh != 0 {
		t.Fatalf("second cycle %+v", res)
	}
}

// TestRefreshCancelled: a cancelled context fails every call; nothing is lost.
func TestRefreshCancelled(t *testing.T) {
	ids := newIDs(5, alice)
	c := New(Config{})
	seed(t, c, ids, []uint64{1, 1, 2, 4, 5})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	io := IO{Refresh: func(ctx context.Context, _ int, _ []sessionid.ID) error { return ctx.Err() }}
	res := c.Refresh(ctx, io)
	if res.FailedToRefresh != 5 || c.ActiveCount() != 5 {
		t.Fatalf("%+v active %d", res, c.ActiveCount())
	}
}

func TestEndAtRefresh(t *testing.T) {
	ids := newIDs(4, alice)
	c := New(Config{})
	seed(t, c, ids, []uint64{1, 3, 0, 2})
	for i, id := range ids {
		if err := c.AddCursor(id, int64(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	c.End([]sessionid.ID{ids[0], ids[1], ids[2], sessionid.NewID(bob)})
	// endSessions only marks: cursors and records stay until the refresh.
	if got := c.Kill(&sessionid.Patterns{IDs: map[sessionid.ID]struct{}{ids[3]: {}}}); !slices.Equal(got, []int64{103}) {
		t.Fatalf("kill before refresh: %v", got)
	}
	if c.Len() != 4 || len(c.List(sessionid.ListSpec{AllUsers: true})) != 4 {
		t.Fatalf("records before refresh: %d", c.Len())
	}
	io := fakeIO{failing: map[int]bool{1: true}}
	res := c.Refresh(context.Background(), io.io())
	ends := idsByShard(t, io.ends, DefaultBatchSize)
	if !slices.Equal(ends[0], sortIDs([]sessionid.ID{ids[0], ids[1]})) || !slices.Equal(ends[1], []sessionid.ID{ids[1]}) || len(ends) != 2 {
		t.Fatalf("ends sent %v", ends)
	}
	// ids[0] (shard 0 ok) and ids[2] (no shard) are gone with their cursors; ids[1] waits for shard 1.
	if res.Ended != 2 || res.EndRetained != 1 || res.CursorsClosed != 2 || !slices.Equal(sortInts(io.killed), []int64{100, 102}) {
		t.Fatalf("result %+v killed %v", res, io.killed)
	}
	// Ended sessions leave the active set; ids[3] was refreshed on shard 1 and failed there.
	if res.Refreshed != 0 || res.FailedToRefresh != 1 || c.Len() != 2 {
		t.Fatalf("result %+v len %d", res, c.Len())
	}
	io = fakeIO{}
	res = c.Refresh(context.Background(), io.io())
	ends = idsByShard(t, io.ends, DefaultBatchSize)
	if !slices.Equal(ends[1], []sessionid.ID{ids[1]}) || len(ends) != 1 || res.Ended != 1 || !slices.Equal(io.killed, []int64{101}) {
		t.Fatalf("retry: ends %v result %+v killed %v", ends, res, io.killed)
	}
	if st := c.Stats(); st.LastSessionsCollectionJobEntriesEnded != 1 || st.LastSessionsCollectionJobCursorsClosed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReap(t *testing.T) {
	clock := newFakeClock()
	c := New(Config{Clock: clock.Now, LocalTimeout: 30 * time.Minute})
	old := newIDs(3, alice)
	seed(t, c, old, []uint64{2, 2, 1})
	_ = c.AddCursor(old[0], 7)
	_ = c.AddCursor(old[1], 8)
	c.End(old[2:])
	io := fakeIO{failing: map[int]bool{0: true}} // old[2]'s end keeps failing on shard 0
	c.Refresh(context.Background(), io.io())

	clock.Advance(20 * time.Minute)
	_ = c.Vivify(old[1], "alice@admin") // used again: not idle
	fresh := newIDs(1, alice)
	seed(t, c, fresh, []uint64{2})
	if res := c.Refresh(context.Background(), io.io()); res.Reaped != 0 {
		t.Fatalf("reaped too early: %+v", res)
	}

	clock.Advance(11 * time.Minute) // old[0] and old[2] idle 31 min, old[1] 11, fresh 11
	res := c.Refresh(context.Background(), io.io())
	if res.Reaped != 2 || !slices.Equal(io.killed, []int64{7}) || c.Len() != 2 {
		t.Fatalf("result %+v killed %v len %d", res, io.killed, c.Len())
	}
	if _, ok := c.Txn(old[1]); !ok {
		t.Fatal("recently used session reaped")
	}
	st := c.Stats()
	if st.TransactionReaperJobCount != 3 || st.LastTransactionReaperJobEntriesCleanedUp != 2 ||
		!st.LastTransactionReaperJobTimestamp.Equal(clock.Now()) || st.SessionsCollectionJobCount != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func sortInts(s []int64) []int64 { slices.Sort(s); return s }
