package topology

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// BenchmarkAcquireCached is what the agreement adds to a command whose routing table is cached:
// the lease check, the critical-section check, the hold on the view and the cache lookup, from
// as many goroutines as GOMAXPROCS (the router's connections).
func BenchmarkAcquireCached(b *testing.B) {
	var list []*shards.Shard
	for i := range 2 {
		name := fmt.Sprintf("rs%d", i)
		rs, err := memshard.StartReplicaSet(name, 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = rs.Close() })
		sh, err := shards.Open(shards.Config{Name: name, SetName: name, Hosts: rs.Hosts(), Logger: zerolog.Nop(),
			ServerSelectionTimeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sh.Close(context.Background()) })
		list = append(list, sh)
	}
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
