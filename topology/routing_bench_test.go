package topology

import (
	"context"
	"testing"
)

// BenchmarkAcquireCached is what the agreement adds to a command whose routing table is cached:
// the lease check, the critical-section check, the hold on the view and the cache lookup, from
// as many goroutines as GOMAXPROCS (the router's connections).
func BenchmarkAcquireCached(b *testing.B) {
	list, _ := memSets(b, 2)
	c := New(list)
	ctx := context.Background()
	if _, err := c.PrimaryShard(ctx, []byte("d"), true); err != nil {
		b.Fatal(err)
	}
	if _, _, err := c.Acquire(ctx, "d", "c", false); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, h, err := c.Acquire(ctx, "d", "c", false)
			if err != nil {
				b.Fatal(err)
			}
			h.Release()
		}
	})
}
