package pool

import (
	"context"
	"testing"
)

// TestCancelRaceLeavesNoInterrupt: a round trip that completes while its context is being
// cancelled must not leave the interrupt pending: the next borrower's round trip, under a
// context that never ends, must succeed.
func TestCancelRaceLeavesNoInterrupt(t *testing.T) {
	f := startFake(t, answer)
	p := newPool(t, Config{Addr: f.addr()})
	dst := make([]byte, 0, 512)
	raced := 0
	for i := 0; i < 10000; i++ {
		c := mustGet(t, p)
		ctx, cancel := context.WithCancel(context.Background())
		go cancel() // races the round trip
		msg, _ := ping(t)
		if _, err := c.RoundTrip(ctx, msg, dst); err != nil {
			p.Discard(c) // the cancellation won: nothing to check
			continue
		}
		if ctx.Err() != nil {
			raced++
		}
		msg, reqID := ping(t)
		reply, err := c.RoundTrip(context.Background(), msg, dst)
		if err != nil {
			p.Discard(c)
			t.Fatalf("round %d: the round trip after one whose context was cancelled as it completed: %v", i, err)
		}
		p.Put(c)
		checkOK(t, reply, reqID)
	}
	t.Logf("%d round trips completed as their context was cancelled", raced)
}
