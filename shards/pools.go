package shards

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// maintainInterval is how often idle connections are pruned and pools filled to MinPoolSize
// (the driver's own interval), besides when a member becomes a primary or secondary.
const maintainInterval = 10 * time.Second

// poolFor returns host's pool, making it on first use; nil once the shard is closed.
func (s *Shard) poolFor(host string) *pool.Pool {
	if p := s.existingPool(host); p != nil {
		return p
	}
	s.poolsMu.Lock()
	defer s.poolsMu.Unlock()
	if s.closed {
		return nil
	}
	old := *s.pools.Load()
	if p := old[host]; p != nil {
		return p
	}
	cfg := s.poolCfg
	cfg.Addr = host
	p := pool.New(cfg)
	next := make(map[string]*pool.Pool, len(old)+1)
	maps.Copy(next, old)
	next[host] = p
	s.pools.Store(&next)
	return p
}

func (s *Shard) existingPool(host string) *pool.Pool { return (*s.pools.Load())[host] }

// dropPool closes the pool of a member that left the set.
func (s *Shard) dropPool(host string) {
	s.poolsMu.Lock()
	old := *s.pools.Load()
	p := old[host]
	if p != nil {
		next := maps.Clone(old)
		delete(next, host)
		s.pools.Store(&next)
	}
	s.poolsMu.Unlock()
	if p != nil {
		p.Close()
	}
}

func (s *Shard) wakeMaintainer() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// maintain prunes idle connections and fills the data-bearing members' pools to MinPoolSize,
// until ctx ends (Close).
func (s *Shard) maintain(ctx context.Context) {
	defer close(s.maintDone)
	tick := time.NewTicker(maintainInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.wake:
		}
		now := time.Now()
		for _, srv := range s.topo.Description().Servers {
			p := s.poolFor(srv.Addr.String())
			if p == nil {
				return
			}
			p.Prune(now)
			if s.minPool > 0 && dataBearing(srv.Kind) {
				// A failure is SDAM's to see (the monitor reaches the same member).
				_ = p.Fill(ctx, s.minPool)
			}
		}
	}
}

// PoolStats is the state of every member's pool, sorted by address.
func (s *Shard) PoolStats() []pool.Stats {
	pools := *s.pools.Load()
	out := make([]pool.Stats, 0, len(pools))
	for _, p := range pools {
		out = append(out, p.Stats())
	}
	slices.SortFunc(out, func(a, b pool.Stats) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}
