package sessioncache

import (
	"cmp"
	"context"
	"math/bits"
	"strconv"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/sessionfanout"
)

// ShardFunc sends one command about ids to one shard (refreshSessions or endSessions to its
// primary). It owns its deadline; an error means the shard may not have applied it.
type ShardFunc func(ctx context.Context, shard int, ids []sessionid.ID) error

// IO is the router's half of the periodic job. A nil function does nothing and succeeds.
type IO struct {
	Refresh     ShardFunc
	End         ShardFunc
	KillCursors func(cursorIDs []int64) // closes router cursors of ended and reaped sessions
	// AbortTxns aborts, on their participants, the transactions that were still in progress in
	// ended and reaped sessions. It owns its deadlines.
	AbortTxns func(ctx context.Context, txns []OpenTxn)
}

// OpenTxn is a transaction still in progress in a session the job forgets.
type OpenTxn struct {
	ID  sessionid.ID
	Txn Txn
}

// RefreshResult tells what one refresh cycle did.
type RefreshResult struct {
	Refreshed       int // used sessions refreshed on every shard that saw them
	FailedToRefresh int // used sessions put back into the active set for the next cycle
	Ended           int // ended sessions ended on every shard that saw them, and forgotten
	EndRetained     int // ended sessions some shard failed to end; retried next cycle
	Reaped          int // sessions unused for longer than LocalTimeout, forgotten
	CursorsClosed   int // router cursors handed to KillCursors
	TxnsAborted     int // transactions in progress handed to AbortTxns
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
// BatchSize ids per call, shards in parallel through sessionfanout.Broadcast), puts back whatever
// a shard failed so nothing is lost, ends ended sessions on their shards and forgets them, reaps
// sessions idle for longer than LocalTimeout, and closes the router cursors of the forgotten
// sessions and aborts their transactions. Stripe locks are never held across I/O. Only one cycle
// runs at a time.
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

	var work [MaxShards]shardWork
	idleSince := start.Add(-c.cfg.LocalTimeout).UnixNano()
	var res RefreshResult
	var cursors []int64
	var open []OpenTxn
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
				open = c.appendOpenTxn(open, id, &r)
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
					open = c.appendOpenTxn(open, id, &r)
					delete(s.m, id)
					res.Ended++
					continue
				}
				s.m[id] = r
				queue(&work, true, r.shards, id)
				ending = append(ending, pendingEnd{id, r.shards})
			case active:
				r.flags &^= flagActive
				s.m[id] = r
				c.active.Add(-1)
				swapped++
				queue(&work, false, r.shards, id)
			}
		}
		s.mu.Unlock()
	}
	failed := c.send(ctx, io, &work)

	res.FailedToRefresh = c.putBack(failed.refresh)
	res.Refreshed = swapped - res.FailedToRefresh
	for _, pe := range ending {
		if failed := failed.end[pe.id]; failed != 0 {
			// Retry only the shards that failed, plus any that saw the session meanwhile.
			c.update(pe.id, func(r *record) { r.shards = failed | r.shards&^pe.sent })
			res.EndRetained++
			continue
		}
		cursors, open = c.forget(pe.id, cursors, open)
		res.Ended++
	}
	if len(cursors) > 0 && io.KillCursors != nil {
		io.KillCursors(cursors)
	}
	res.CursorsClosed = len(cursors)
	if len(open) > 0 && io.AbortTxns != nil {
		io.AbortTxns(ctx, open)
	}
	res.TxnsAborted = len(open)
	res.ShardErrors = failed.errs

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

// forget deletes a session, appending its cursors to dst and its transaction in progress to
// open.
func (c *Cache) forget(id sessionid.ID, dst []int64, open []OpenTxn) ([]int64, []OpenTxn) {
	s := c.stripe(id)
	s.mu.Lock()
	if r, ok := s.m[id]; ok {
		dst = r.appendCursors(dst)
		open = c.appendOpenTxn(open, id, &r)
		if r.flags&flagActive != 0 {
			c.active.Add(-1)
		}
		delete(s.m, id)
	}
	s.mu.Unlock()
	return dst, open
}

// appendOpenTxn ends the transaction in progress of a session being forgotten (its abort cause
// is Interrupted, as the shards abort it) and appends it to open; callers hold the stripe lock.
func (c *Cache) appendOpenTxn(open []OpenTxn, id sessionid.ID, r *record) []OpenTxn {
	if r.ext == nil || r.ext.txn.State != TxnInProgress {
		return open
	}
	open = append(open, OpenTxn{ID: id, Txn: r.ext.txn})
	c.endTxn(&r.ext.txn, TxnEnd{State: TxnAborted, Cause: Interrupted})
	return open
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

// shardWork is what one cycle sends one shard: the sessions to refresh and to end.
type shardWork struct{ refresh, end []sessionid.ID }

// queue adds id to the work of every shard in shards.
func queue(work *[MaxShards]shardWork, end bool, shards uint64, id sessionid.ID) {
	for shards != 0 {
		i := bits.TrailingZeros64(shards)
		shards &= shards - 1
		if end {
			work[i].end = append(work[i].end, id)
		} else {
			work[i].refresh = append(work[i].refresh, id)
		}
	}
}

// shardIndex names a shard in the job's broadcast.
type shardIndex int

func (i shardIndex) String() string { return strconv.Itoa(int(i)) }

// shardFailures is what one shard failed to do, and the first error it gave.
type shardFailures struct {
	refresh, end []sessionid.ID
	err          error
}

// failures is what every shard failed to do.
type failures struct {
	refresh []sessionid.ID
	end     map[sessionid.ID]uint64 // ended session -> the shards that failed to end it
	errs    map[int]error
}

// send runs each shard's work, in batches of BatchSize ids, every shard at once (a slow shard
// delays only itself), and gathers what failed.
func (c *Cache) send(ctx context.Context, io IO, work *[MaxShards]shardWork) failures {
	var targets []shardIndex
	for i := range work {
		if len(work[i].refresh)+len(work[i].end) > 0 {
			targets = append(targets, shardIndex(i))
		}
	}
	// A cycle's work on a shard is bounded by the calls' own deadlines (IO's); the sessions
	// would expire on the shards after LocalTimeout anyway.
	opts := sessionfanout.Options{MaxConcurrency: MaxShards, PerTargetTimeout: c.cfg.LocalTimeout}
	results := sessionfanout.Broadcast(ctx, targets, opts, func(ctx context.Context, shard shardIndex) (shardFailures, error) {
		var f shardFailures
		run := func(call ShardFunc, ids []sessionid.ID, failed *[]sessionid.ID) {
			for len(ids) > 0 && call != nil {
				n := min(c.cfg.BatchSize, len(ids))
				if err := call(ctx, int(shard), ids[:n]); err != nil {
					*failed = append(*failed, ids[:n]...)
					if f.err == nil {
						f.err = err
					}
				}
				ids = ids[n:]
			}
		}
		run(io.Refresh, work[shard].refresh, &f.refresh)
		run(io.End, work[shard].end, &f.end)
		return f, nil
	})
	out := failures{end: map[sessionid.ID]uint64{}}
	for _, r := range results {
		f := r.Value
		if r.Err != nil { // not called: the job was stopped first
			f = shardFailures{refresh: work[r.Target].refresh, end: work[r.Target].end}
		}
		out.refresh = append(out.refresh, f.refresh...)
		for _, id := range f.end {
			out.end[id] |= 1 << int(r.Target)
		}
		if err := cmp.Or(r.Err, f.err); err != nil {
			if out.errs == nil {
				out.errs = map[int]error{}
			}
			out.errs[int(r.Target)] = err
		}
	}
	return out
}
