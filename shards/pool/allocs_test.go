//go:build !race

// The race detector changes allocation counts, so they are only asserted in ordinary builds.

package pool

import (
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/deadline"
)

// TestRoundTripAllocs: the router's common path (check out, round trip into its buffer, give
// back, under a deadline-only context) allocates nothing. The member is the fake, which
// allocates nothing per request either: AllocsPerRun counts the whole process.
func TestRoundTripAllocs(t *testing.T) {
	f := startFake(t, answer)
	p := newPool(t, Config{Addr: f.addr()})
	c := mustGet(t, p) // the connection exists before counting
	roundTrip(t, c)
	p.Put(c)
	ctx := deadline.After(time.Minute)
	defer ctx.Release()
	msg, reqID := ping(t)
	dst := make([]byte, 0, 4096)
	var (
		reply []byte
		err   error
	)
	allocs := testing.AllocsPerRun(100, func() {
		c, gerr := p.Get(ctx)
		if gerr != nil {
			err = gerr
			return
		}
		reply, err = c.RoundTrip(ctx, msg, dst)
		p.Put(c)
	})
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	checkOK(t, reply, reqID)
	if allocs != 0 {
		t.Fatalf("Get+RoundTrip+Put allocates %v times, want 0", allocs)
	}
}
