// Package sessioncache is the router's logical session cache (docs/architecture.md, "Session
// fan-out"; mongod's src/mongo/db/logical_session_cache_impl.cpp): which sessions exist, who owns
// them, which shards have seen them, their transaction state and router cursors. It stores and
// selects; the router does all I/O, which the periodic job (Refresh) receives as functions.
package sessioncache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// Defaults of mongod/mongos (logical_session_cache.idl).
const (
	DefaultMaxSessions  = 1_000_000        // maxSessions
	DefaultLocalTimeout = 30 * time.Minute // localLogicalSessionTimeoutMinutes
	// DefaultBatchSize is the most ids one refreshSessions/endSessions carries: the driver
	// specification's endSessions limit, which keeps commands far below 16 MiB.
	DefaultBatchSize = 10_000
	// DefaultRefreshInterval is logicalSessionRefreshMillis: the period of the refresh job.
	DefaultRefreshInterval = 5 * time.Minute
	// MaxShards is how many shards the seen-by bitset can name.
	MaxShards = 64
)

// Config sets the cache's limits; zero values take the defaults.
type Config struct {
	// MaxSessions caps the sessions touched since the last refresh, as maxSessions does on
	// mongos; beyond it a new session gets TooManyLogicalSessions(261).
	MaxSessions int
	// LocalTimeout is how long an unused session is kept before the refresh job reaps it.
	LocalTimeout time.Duration
	// BatchSize caps the ids of one refresh or end call to a shard.
	BatchSize int
	// Clock is the time source (tests inject a fake one).
	Clock func() time.Time
	// TxnEnded, when set, hears of every transaction that stops being in progress (committed,
	// aborted, killed, forgotten with its session, replaced by a newer one), with the
	// transaction as it was: the router's transaction metrics. It runs under the session's
	// lock, so it must be quick and must not call the cache.
	TxnEnded func(Txn, TxnEnd)
}

// nStripes spreads sessions over independently locked maps so concurrent commands rarely meet.
const nStripes = 64

// Record flags.
const (
	flagActive uint8 = 1 << iota // touched since the last refresh: counted against MaxSessions
	flagEnding                   // endSessions named it; the next refresh ends it on its shards
)

// record is one session, kept small: most sessions never have a transaction or a cursor, so that
// state lives behind ext.
type record struct {
	lastUse int64  // unix nanoseconds of the last Vivify
	shards  uint64 // bit i: shard i has seen the session
	ext     *extra // transaction and cursors; nil for most sessions
	owner   uint32 // index into the owner table
	flags   uint8
}

// extra is the rarely present part of a record.
type extra struct {
	txn     Txn
	cursors cursorSet
}

type stripe struct {
	mu sync.Mutex
	m  map[sessionid.ID]record
	_  [48]byte // keep neighbouring stripes' locks off one cache line
}

// Cache is the router's logical session cache. All methods are safe for concurrent use.
type Cache struct {
	cfg     Config
	seed    maphash.Seed
	stripes [nStripes]stripe
	active  atomic.Int64 // records with flagActive
	owners  owners

	job   sync.Mutex // one refresh at a time
	statM sync.Mutex
	stats Stats
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.LocalTimeout <= 0 {
		cfg.LocalTimeout = DefaultLocalTimeout
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	c := &Cache{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range c.stripes {
		c.stripes[i].m = make(map[sessionid.ID]record)
	}
	c.owners.init()
	now := cfg.Clock()
	c.stats.LastSessionsCollectionJobTimestamp = now
	c.stats.LastTransactionReaperJobTimestamp = now
	return c
}

// stripe picks the stripe of id. The seeded hash keeps chosen ids from piling into one stripe.
func (c *Cache) stripe(id sessionid.ID) *stripe {
	return &c.stripes[maphash.Comparable(c.seed, id)%nStripes]
}

// Vivify adds the session or marks it used now, as mongod's vivify does on every command that
// carries an lsid, on refreshSessions and on startSession. owner is the authenticated "user@db"
// that owns the uid ("" without auth). A session not touched since the last refresh counts
// against MaxSessions: when full, TooManyLogicalSessions(261).
func (c *Cache) Vivify(id sessionid.ID, owner string) error {
	now := c.cfg.Clock().UnixNano()
	s := c.stripe(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok || r.flags&flagActive == 0 {
		if !c.reserve() {
			return mongoerr.New(mongoerr.TooManyLogicalSessions,
				"Unable to add session ID %s into the cache because the number of active sessions is too high", id)
		}
		r.flags |= flagActive
	}
	if !ok {
		r.owner = c.owners.index(owner)
	}
	r.lastUse = now
	s.m[id] = r
	return nil
}

// reserve takes one slot of the active set, or reports it full.
func (c *Cache) reserve() bool {
	limit := int64(c.cfg.MaxSessions)
	for {
		n := c.active.Load()
		if n >= limit {
			return false
		}
		if c.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// MarkSeen records that shard (0 <= shard < MaxShards) has seen the session, so the refresh job
// refreshes and ends it there. Unknown sessions are ignored.
func (c *Cache) MarkSeen(id sessionid.ID, shard int) error {
	if shard < 0 || shard >= MaxShards {
		return mongoerr.New(mongoerr.InternalError, "shard index %d outside the session cache's 0..%d", shard, MaxShards-1)
	}
	s := c.stripe(id)
	s.mu.Lock()
	if r, ok := s.m[id]; ok && r.shards&(1<<shard) == 0 {
		r.shards |= 1 << shard
		s.m[id] = r
	}
	s.mu.Unlock()
	return nil
}

// End marks sessions ending, as endSessions does: nothing else changes now (their cursors keep
// working); the next refresh sends endSessions to the shards that saw them, closes their router
// cursors and forgets them. Unknown ids are ignored.
func (c *Cache) End(ids []sessionid.ID) {
	for _, id := range ids {
		s := c.stripe(id)
		s.mu.Lock()
		if r, ok := s.m[id]; ok {
			r.flags |= flagEnding
			s.m[id] = r
		}
		s.mu.Unlock()
	}
}

// Len is the number of sessions held, used or not since the last refresh.
func (c *Cache) Len() int {
	n := 0
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// ActiveCount is the number of sessions touched since the last refresh (what MaxSessions caps).
func (c *Cache) ActiveCount() int { return int(c.active.Load()) }

// update runs fn on id's record under its stripe lock and stores the result; false if unknown.
func (c *Cache) update(id sessionid.ID, fn func(r *record)) bool {
	s := c.stripe(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[id]
	if !ok {
		return false
	}
	fn(&r)
	s.m[id] = r
	return true
}

func noSuchSession(id sessionid.ID) *mongoerr.Error {
	return mongoerr.New(mongoerr.NoSuchSession, "session %s is not in the router's session cache", id)
}
