package sessioncache

import (
	"runtime"
	"slices"
	"sync"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// matcher is p.Matches, made cheaper for the common kill of one user's sessions.
func matcher(p *sessionid.Patterns) func(sessionid.ID) bool {
	if !p.All && len(p.IDs) == 0 && len(p.UIDs) == 1 {
		for uid := range p.UIDs {
			return func(id sessionid.ID) bool { return id.UID == uid }
		}
	}
	return p.Matches
}

// cursorSet holds a session's router cursors: the first inline, since most sessions have at
// most one, the rest in more. 0 marks the empty slot: no open cursor has id 0.
type cursorSet struct {
	first int64
	more  []int64
}

func (s *cursorSet) add(id int64) {
	switch {
	case id == 0:
	case s.first == 0:
		s.first = id
	default:
		s.more = append(s.more, id)
	}
}

func (s *cursorSet) remove(id int64) {
	if s.first == id {
		s.first = 0
		if len(s.more) > 0 {
			s.first, s.more = s.more[0], s.more[1:]
		}
		return
	}
	s.more = slices.DeleteFunc(s.more, func(x int64) bool { return x == id })
}

func (s *cursorSet) appendTo(dst []int64) []int64 {
	if s.first != 0 {
		dst = append(dst, s.first)
	}
	return append(dst, s.more...)
}

// AddCursor records a router cursor opened in the session, so a kill or the end of the session
// closes it (id 0, "no cursor" in MongoDB, is ignored). NoSuchSession(206) if the session is not
// cached.
func (c *Cache) AddCursor(id sessionid.ID, cursorID int64) error {
	if !c.update(id, func(r *record) { r.extra().cursors.add(cursorID) }) {
		return noSuchSession(id)
	}
	return nil
}

// RemoveCursor forgets a cursor that was exhausted or killed by the client.
func (c *Cache) RemoveCursor(id sessionid.ID, cursorID int64) {
	c.update(id, func(r *record) {
		if r.ext != nil {
			r.ext.cursors.remove(cursorID)
		}
	})
}

// Kill applies a kill command to the cache as mongod does to its sessions
// (src/mongo/db/kill_sessions_local.cpp): each matching session's in-progress transaction is
// aborted and its cursors are handed back for the router to close. The sessions stay usable. It
// returns the cursor ids to close.
func (c *Cache) Kill(p *sessionid.Patterns) []int64 {
	if !p.All && len(p.UIDs) == 0 {
		// Exact ids only: look them up instead of scanning.
		var cursors []int64
		for id := range p.IDs {
			c.update(id, func(r *record) { cursors = c.kill(r, cursors) })
		}
		return cursors
	}
	// Scan the stripes on every CPU: a kill of a busy user's sessions touches each record.
	match := matcher(p)
	workers := min(runtime.GOMAXPROCS(0), nStripes)
	parts := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < nStripes; i += workers {
				s := &c.stripes[i]
				s.mu.Lock()
				for id, r := range s.m {
					// Only records with cursors or a transaction change, through their ext pointer.
					if r.ext != nil && match(id) {
						parts[w] = c.kill(&r, parts[w]) // r.ext is shared: no store needed
					}
				}
				s.mu.Unlock()
			}
		})
	}
	wg.Wait()
	return slices.Concat(parts...)
}

// kill aborts the record's in-progress transaction and moves its cursors to dst; callers hold
// the record's stripe lock.
func (c *Cache) kill(r *record, dst []int64) []int64 {
	if r.ext == nil {
		return dst
	}
	dst = r.ext.cursors.appendTo(dst)
	r.ext.cursors = cursorSet{}
	c.endTxn(&r.ext.txn, TxnEnd{State: TxnAborted, Cause: Interrupted})
	return dst
}
