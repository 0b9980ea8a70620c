package sessioncache

import (
	"context"
	"math/bits"
	"sync"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// ShardFunc sends one command about ids to one shard (refreshSessions or endSessions to its
// primary). It owns its deadline; an error means the shard may not have applied it.
type ShardFunc func(ctx context.Context, shard int, ids []sessionid.ID) error

// IO is the router's half of the periodic job. A nil function does nothing and succeeds.
type IO struct {
	Refresh     ShardFunc
	End         ShardFunc
	KillCursors func(cursorIDs []int64) // closes router cursors of ended and reaped sessions
}

// RefreshResult tells what one refresh cycle did.
type RefreshResult struct {
	Refreshed       int // used sessions refreshed on every shard that saw them
	FailedToRefresh int // used sessions put back into the active set for the next cycle
	Ended           int // ended sessions ended on every shard that saw them, and forgotten
	EndRetained     int // ended sessions some shard failed to end; retried next cycle
	Reaped          int // sessions unused for longer than LocalTimeout, forgotten
	CursorsClosed   int // router cursors handed to KillCursors
	// ShardErrors holds the first error of each shard that failed a call, for the log.
	ShardErrors map[int]error
}

// pendingEnd is an ended session sent to shards, with the shards it was sent to.
type pendingEnd struct {
	id   sessionid.ID
	sent uint64
}

// Refresh runs one cycle of the job mongos runs every logicalSessionRefreshMillis: it swaps the
// active set out, refreshes those sessions on the shards that saw them (batches of at most
// BatchSize ids per call, shards in parallel), puts back whatever a shard failed so nothing is
// lost, ends ended sessions on their shards and forgets them, reaps sessions idle for longer than
// LocalTimeout, and closes the router cursors of the forgotten sessions. Stripe locks are never
// held across I/O. Only one cycle runs at a time.
func (c *Cache) Refresh(ctx context.Context, io IO) RefreshResult {
	c.job.Lock()
	defer c.job.Unlock()
	start := c.cfg.Clock()
	c.statM.Lock()
	// Like mongod, a run clears the previous run's figures when it starts.
	c.stats = Stats{
		SessionsCollectionJobCount:         c.stats.SessionsCollectionJobCount + 1,
		LastSessionsCollectionJobTimestamp: start,
		TransactionReaperJobCount:          c.stats.TransactionReaperJobCount + 1,
		LastTransactionReaperJobTimestamp:  start,
	}
	c.statM.Unlock()

	snd := newSender(ctx, io, c.cfg.BatchSize)
	idleSince := start.Add(-c.cfg.LocalTimeout).UnixNano()
	var res RefreshResult
	var cursors []int64
	var ending []pendingEnd
	swapped := 0
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		for id, r := range s.m {
			active := r.flags&flagActive != 0
			switch {
			case !active && r.lastUse < idleSince:
				// Idle past the timeout: the shards have expired it too.
				cursors = r.appendCursors(cursors)
				delete(s.m, id)
				res.Reaped++
			case r.flags&flagEnding != 0:
				// Ending wins over use in the same cycle, as on mongos.
				if active {
					r.flags &^= flagActive
					c.active.Add(-1)
				}
				if r.shards == 0 {
					cursors = r.appendCursors(cursors)
					delete(s.m, id)
					res.Ended++
					continue
				}
				s.m[id] = r
				snd.add(true, r.shards, id)
				ending = append(ending, pendingEnd{id, r.shards})
			case active:
				r.flags &^= flagActive
				s.m[id] = r
				c.active.Add(-1)
				swapped++
				snd.add(false, r.shards, id)
			}
		}
		s.mu.Unlock()
		snd.dispatch(false)
	}
	snd.dispatch(true)
	snd.wait()

	res.FailedToRefresh = c.putBack(snd.failedRefresh)
	res.Refreshed = swapped - res.FailedToRefresh
	for _, pe := range ending {
		if failed := snd.failedEnd[pe.id]; failed != 0 {
			// Retry only the shards that failed, plus any that saw the session meanwhile.
			c.update(pe.id, func(r *record) { r.shards = failed | r.shards&^pe.sent })
			res.EndRetained++
			continue
		}
		cursors = c.forget(pe.id, cursors)
		res.Ended++
	}
	if len(cursors) > 0 && io.KillCursors != nil {
		io.KillCursors(cursors)
	}
	res.CursorsClosed = len(cursors)
	res.ShardErrors = snd.errs

	millis := int(c.cfg.Clock().Sub(start).Milliseconds())
	c.statM.Lock()
	c.stats.LastSessionsCollectionJobDurationMillis = millis
	c.stats.LastSessionsCollectionJobEntriesRefreshed = res.Refreshed
	c.stats.LastSessionsCollectionJobEntriesFailedToRefresh = res.FailedToRefresh
	c.stats.LastSessionsCollectionJobEntriesEnded = res.Ended
	c.stats.LastSessionsCollectionJobCursorsClosed = res.CursorsClosed
	c.stats.LastTransactionReaperJobDurationMillis = millis
	c.stats.LastTransactionReaperJobEntriesCleanedUp = res.Reaped
	c.statM.Unlock()
	return res
}

// putBack returns sessions whose refresh failed somewhere to the active set (as mongos merges a
// failed refresh back), without counting against MaxSessions. It returns how many distinct
// sessions failed.
func (c *Cache) putBack(ids []sessionid.ID) int {
	failed := make(map[sessionid.ID]struct{}, len(ids))
	for _, id := range ids {
		if _, dup := failed[id]; dup {
			continue
		}
		failed[id] = struct{}{}
		c.update(id, func(r *record) {
			if r.flags&(flagActive|flagEnding) == 0 {
				r.flags |= flagActive
				c.active.Add(1)
			}
		})
	}
	return len(failed)
}

// forget deletes a session and appends its cursors to dst.
func (c *Cache) forget(id sessionid.ID, dst []int64) []int64 {
	s := c.stripe(id)
	s.mu.Lock()
	if r, ok := s.m[id]; ok {
		dst = r.appendCursors(dst)
		if r.flags&flagActive != 0 {
			c.active.Add(-1)
		}
		delete(s.m, id)
	}
	s.mu.Unlock()
	return dst
}

func (r *record) appendCursors(dst []int64) []int64 {
	if r.ext == nil {
		return dst
	}
	return r.ext.cursors.appendTo(dst)
}

// Run runs Refresh every period (DefaultRefreshInterval if not positive) until ctx is done;
// report, if not nil, gets each result. The caller owns the goroutine that runs it and stops it
// by cancelling ctx.
func (c *Cache) Run(ctx context.Context, every time.Duration, io IO, report func(RefreshResult)) {
	if every <= 0 {
		every = DefaultRefreshInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			res := c.Refresh(ctx, io)
			if report != nil {
				report(res)
			}
		}
	}
}

// sender batches ids per shard and runs one worker goroutine per shard that has work, so a slow
// shard delays only itself. It collects what failed.
type sender struct {
	ctx  context.Context
	io   IO
	size int

	bufs    [MaxShards][2][]sessionid.ID // [shard][end?]
	workers [MaxShards]chan batch
	wg      sync.WaitGroup

	mu            sync.Mutex // guards what workers report
	failedRefresh []sessionid.ID
	failedEnd     map[sessionid.ID]uint64 // ended session -> shards that failed to end it
	errs          map[int]error
}

type batch struct {
	end bool
	ids []sessionid.ID
}

func newSender(ctx context.Context, io IO, size int) *sender {
	return &sender{ctx: ctx, io: io, size: size, failedEnd: map[sessionid.ID]uint64{}}
}

// add queues id for every shard in shards.
func (s *sender) add(end bool, shards uint64, id sessionid.ID) {
	kind := 0
	if end {
		kind = 1
	}
	for shards != 0 {
		i := bits.TrailingZeros64(shards)
		shards &= shards - 1
		s.bufs[i][kind] = append(s.bufs[i][kind], id)
	}
}

// dispatch hands full batches to the workers (all batches when final). It may block on a busy
// worker, so it is called with no lock held.
func (s *sender) dispatch(final bool) {
	for shard := range s.bufs {
		for kind := range s.bufs[shard] {
			buf := s.bufs[shard][kind]
			sent := false
			for len(buf) >= s.size || final && len(buf) > 0 {
				n := min(s.size, len(buf))
				s.send(shard, batch{end: kind == 1, ids: buf[:n:n]})
				buf, sent = buf[n:], true
			}
			if sent {
				// Continue on fresh memory: the workers own what was sent.
				s.bufs[shard][kind] = append([]sessionid.ID(nil), buf...)
			}
		}
	}
}

func (s *sender) send(shard int, b batch) {
	if s.workers[shard] == nil {
		ch := make(chan batch, 1)
		s.workers[shard] = ch
		s.wg.Go(func() { s.work(shard, ch) })
	}
	s.workers[shard] <- b
}

func (s *sender) work(shard int, ch <-chan batch) {
	for b := range ch {
		f := s.io.Refresh
		if b.end {
			f = s.io.End
		}
		if f == nil {
			continue
		}
		if err := f(s.ctx, shard, b.ids); err != nil {
			s.fail(shard, b, err)
		}
	}
}

func (s *sender) fail(shard int, b batch, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errs == nil {
		s.errs = map[int]error{}
	}
	if _, ok := s.errs[shard]; !ok {
		s.errs[shard] = err
	}
	if !b.end {
		s.failedRefresh = append(s.failedRefresh, b.ids...)
		return
	}
	for _, id := range b.ids {
		s.failedEnd[id] |= 1 << shard
	}
}

// wait closes the workers' queues and waits for them to finish.
func (s *sender) wait() {
	for _, ch := range s.workers {
		if ch != nil {
			close(ch)
		}
	}
	s.wg.Wait()
}
