package memshard

import (
	"time"
)

// How a request reads and writes the store: the locks, its transaction or snapshot view, and the
// documents a filter selects.

func (r *request) now() time.Time { return r.m.rs.now() }

func (r *request) ns(coll string) string { return r.db + "." + coll }

// txnLive fails a statement of a transaction that was aborted meanwhile (kill, step down);
// callers hold store.mu.
func (r *request) txnLive() error {
	if r.txn != nil && r.txn.phase != txnInProgress {
		return txnAbortedError(r.txn.number)
	}
	return nil
}

// wrote reports a committed write's time as the reply's operationTime; callers hold store.mu.
func (r *request) wrote(s *store) {
	if r.txn == nil {
		r.opTime = unpack(s.seq)
	}
}

// read runs fn with the store read-locked on the collection as the request sees it: in its
// transaction, at its snapshot read time, or latest (c is nil when the collection does not
// exist).
func (r *request) read(coll string, fn func(c *collection, view *txn) error) error {
	s := r.m.rs.store
	view := r.txn
	if r.snapshotRead {
		s.mu.Lock() // a snapshot read keeps history: it changes store state
		defer s.mu.Unlock()
		var err error
		if view, r.readAt, err = s.snapshotView(r.readAt); err != nil {
			return err
		}
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	if err := r.txnLive(); err != nil {
		return err
	}
	c := s.coll(r.db, coll, view)
	if view != nil {
		if err := c.readableAt(view.snapshot); err != nil {
			return err
		}
	}
	return fn(c, view)
}

// write runs one write statement with the store locked, retrying while an open transaction
// blocks it.
func (r *request) write(fn func(s *store) error) error {
	return r.retryBlocked(func() error {
		s := r.m.rs.store
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := r.txnLive(); err != nil {
			return err
		}
		return fn(s)
	})
}
