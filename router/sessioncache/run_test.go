package sessioncache

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// TestRun: the loop refreshes periodically and returns once its context is cancelled, leaving no
// goroutine behind (workers included).
func TestRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	c := New(Config{})
	id := sessionid.NewID(alice)
	_ = c.Vivify(id, "")
	_ = c.MarkSeen(id, 3)

	refreshed := make(chan []sessionid.ID, 1)
	io := IO{Refresh: func(_ context.Context, shard int, ids []sessionid.ID) error {
		refreshed <- ids
		return nil
	}}
	var mu sync.Mutex
	var results []RefreshResult
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, time.Millisecond, io, func(r RefreshResult) {
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}()
	select {
	case got := <-refreshed:
		if len(got) != 1 || got[0] != id {
			t.Fatalf("refreshed %v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no refresh within 10s")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) == 0 || results[0].Refreshed != 1 {
		t.Fatalf("results %+v", results)
	}
}
