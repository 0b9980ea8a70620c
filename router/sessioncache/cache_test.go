package sessioncache

import (
	"context"
	"sync"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

func TestVivifyCap(t *testing.T) {
	ids := newIDs(4, alice)
	tests := []struct {
		name   string
		steps  func(c *Cache) error
		code   mongoerr.Code
		active int
	}{
		{name: "below the cap", steps: func(c *Cache) error { return c.Vivify(ids[0], "alice@admin") }, active: 1},
		{name: "same session twice counts once", steps: func(c *Cache) error {
			_ = c.Vivify(ids[0], "")
			_ = c.Vivify(ids[1], "")
			_ = c.Vivify(ids[2], "")
			return c.Vivify(ids[0], "")
		}, active: 3},
		{name: "full", steps: func(c *Cache) error {
			for _, id := range ids[:3] {
				_ = c.Vivify(id, "")
			}
			return c.Vivify(ids[3], "")
		}, code: mongoerr.TooManyLogicalSessions, active: 3},
		{name: "refresh empties the active set", steps: func(c *Cache) error {
			for _, id := range ids[:3] {
				_ = c.Vivify(id, "")
			}
			c.Refresh(context.Background(), IO{})
			return c.Vivify(ids[3], "")
		}, active: 1},
		{name: "a cached but swapped-out session counts again", steps: func(c *Cache) error {
			for _, id := range ids[:3] {
				_ = c.Vivify(id, "")
			}
			c.Refresh(context.Background(), IO{})
			for _, id := range []sessionid.ID{ids[3], ids[1], ids[2]} {
				_ = c.Vivify(id, "")
			}
			return c.Vivify(ids[0], "")
		}, code: mongoerr.TooManyLogicalSessions, active: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{MaxSessions: 3})
			wantCode(t, tt.steps(c), tt.code)
			if c.ActiveCount() != tt.active || countActive(c) != tt.active {
				t.Fatalf("active = %d (records %d), want %d", c.ActiveCount(), countActive(c), tt.active)
			}
		})
	}
}

func TestTooManyLogicalSessionsMessage(t *testing.T) {
	c := New(Config{MaxSessions: 1})
	id := sessionid.NewID(alice)
	if err := c.Vivify(sessionid.NewID(alice), ""); err != nil {
		t.Fatal(err)
	}
	err := c.Vivify(id, "")
	want := "Unable to add session ID " + id.String() + " into the cache because the number of active sessions is too high"
	if me := mongoerr.As(err); me == nil || me.Code != 261 || me.Msg != want || me.Code.Name() != "TooManyLogicalSessions" {
		t.Fatalf("got %v, want 261 %q", err, want)
	}
}

// TestVivifyCapConcurrent: concurrent new sessions never overshoot the cap.
func TestVivifyCapConcurrent(t *testing.T) {
	const limit, workers, each = 500, 8, 200
	c := New(Config{MaxSessions: limit})
	var mu sync.Mutex
	ok, full := 0, 0
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for _, id := range newIDs(each, alice) {
				err := c.Vivify(id, "alice@admin")
				mu.Lock()
				if err == nil {
					ok++
				} else if mongoerr.As(err).Code == mongoerr.TooManyLogicalSessions {
					full++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != limit || full != workers*each-limit || c.ActiveCount() != limit || countActive(c) != limit {
		t.Fatalf("ok=%d full=%d active=%d records=%d", ok, full, c.ActiveCount(), countActive(c))
	}
}

// TestConcurrentUse runs every operation at once; -race checks the locking, the end state
// checks the counters.
func TestConcurrentUse(t *testing.T) {
	c := New(Config{MaxSessions: 100_000, BatchSize: 7})
	var io fakeIO
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i, id := range newIDs(300, alice) {
				if err := c.Vivify(id, "alice@admin"); err != nil {
					t.Error(err)
					return
				}
				_ = c.MarkSeen(id, (w+i)%3)
				_ = c.AddCursor(id, int64(w*1000+i))
				_ = c.BeginTxn(id, int64(i), TxnOptions{})
				_ = c.UpdateTxn(id, func(t *Txn) error { _, err := t.Enlist([]int{w}, i%2 == 0); return err })
				if i%10 == 0 {
					c.End([]sessionid.ID{id})
				}
				if i%5 == 0 {
					c.RemoveCursor(id, int64(w*1000+i))
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			c.Refresh(ctx, io.io())
			_ = c.List(sessionid.ListSpec{AllUsers: true})
			_ = c.Stats()
		}
	})
	wg.Go(func() {
		for range 20 {
			p := sessionid.Patterns{UIDs: map[sessionid.UID]struct{}{bob: {}}}
			if got := c.Kill(&p); len(got) != 0 {
				t.Errorf("bob's kill closed %v", got)
			}
		}
	})
	wg.Wait()
	if c.ActiveCount() != countActive(c) {
		t.Fatalf("active counter %d, records %d", c.ActiveCount(), countActive(c))
	}
	all := sessionid.Patterns{All: true}
	c.Kill(&all)
	c.Refresh(ctx, io.io())
	if c.ActiveCount() != 0 || countActive(c) != 0 {
		t.Fatalf("after refresh: active %d, records %d", c.ActiveCount(), countActive(c))
	}
}

func TestMarkSeenRange(t *testing.T) {
	c := New(Config{})
	id := sessionid.NewID(alice)
	_ = c.Vivify(id, "")
	tests := []struct {
		shard int
		code  mongoerr.Code
	}{{0, 0}, {63, 0}, {64, mongoerr.InternalError}, {-1, mongoerr.InternalError}}
	for _, tt := range tests {
		wantCode(t, c.MarkSeen(id, tt.shard), tt.code)
	}
	wantCode(t, c.MarkSeen(sessionid.NewID(alice), 1), 0) // unknown: ignored
	if got := c.stripe(id).m[id].shards; got != 1|1<<63 {
		t.Fatalf("shards = %b", got)
	}
}
