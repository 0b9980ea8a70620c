package router

import (
	"time"

	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// Observer receives the router's own measurements; the metrics package implements it. The
// router calls it on the per-command path, so implementations must be cheap and concurrent.
type Observer interface {
	// CommandDone reports one client command: its name (as the client spelled it), the time
	// from frame read to reply written, the time spent in shard round trips within it, and the
	// error code of the reply (0 when ok).
	CommandDone(name string, total, shard time.Duration, code int32)
	// FanoutDone reports one session-command broadcast.
	FanoutDone(command string, targets int, took time.Duration)
	// ConnOpened and ConnClosed bracket every client connection.
	ConnOpened()
	ConnClosed()
}

type nopObserver struct{}

func (nopObserver) CommandDone(string, time.Duration, time.Duration, int32) {}
func (nopObserver) FanoutDone(string, int, time.Duration)                   {}
func (nopObserver) ConnOpened()                                             {}
func (nopObserver) ConnClosed()                                             {}

// Stats are the router's gauges, read when scraped.
type Stats struct {
	Connections    int
	ActiveSessions int
	OpenCursors    int
	InFlight       int // commands being served
}

// Stats reads the gauges.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	conns := len(s.conns)
	s.mu.Unlock()
	return Stats{Connections: conns, ActiveSessions: s.sessions.ActiveCount(), OpenCursors: s.cursors.Stats().Open(),
		InFlight: int(s.inFlight.Load() - s.awaiting.Load())}
}

// ShardPool is one shard member's connection pool, as the router's metrics show it.
type ShardPool struct {
	Shard string
	pool.Stats
}

// ShardPools reads every shard member's connection pool.
func (s *Server) ShardPools() []ShardPool {
	var out []ShardPool
	for _, sh := range s.cluster.Shards() {
		for _, st := range sh.PoolStats() {
			out = append(out, ShardPool{Shard: sh.Name(), Stats: st})
		}
	}
	return out
}

// Ready reports whether every shard has a primary (readiness probes).
func (s *Server) Ready() bool {
	for _, sh := range s.cluster.Shards() {
		if !sh.HasPrimary() {
			return false
		}
	}
	return true
}
