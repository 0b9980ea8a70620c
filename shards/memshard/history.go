package memshard

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Versions and snapshots. Every committed write is stamped with a fresh cluster timestamp; a
// transaction reads as of the cluster time it started at (or its atClusterTime), and a snapshot
// read (readConcern snapshot, optionally atClusterTime) as of the time it names. To serve them,
// overwritten values are kept while transactions are open or snapshot reads are recent, and
// dropped after. A collection whose values no change dropped since a snapshot's time reads
// right at that time from its current values; one that lost such a value is SnapshotTooOld
// there, as mongod is for a time older than its history.

// snapshotWindow is mongod's minSnapshotHistoryWindowInSeconds: how long after a snapshot
// read older versions stay readable.
const snapshotWindow = 300 * time.Second

func pack(ts bson.Timestamp) uint64 { return uint64(ts.T)<<32 | uint64(ts.I) }

func unpack(v uint64) bson.Timestamp { return bson.Timestamp{T: uint32(v >> 32), I: uint32(v)} }

// stamp ticks the cluster clock for a write and makes that the current version; callers hold
// mu exclusively.
func (s *store) stamp() { s.seq = pack(s.clock.tick(s.now())) }

// keeping reports whether history is needed: a transaction is open or a snapshot read is
// recent. Callers hold mu exclusively (a lapsed snapshot window is cleared).
func (s *store) keeping() bool {
	switch {
	case s.open > 0:
		return true
	case s.snapshotUntil.IsZero():
		return false
	case s.now().Before(s.snapshotUntil):
		return true
	}
	s.snapshotUntil = time.Time{}
	return false
}

// keep makes sure history is kept from now on, before a transaction or snapshot read starts.
func (s *store) keep() {
	if !s.keeping() {
		s.forgetHistory()
	}
}

// commitDoc makes raw the committed value of d at the current version, keeping the previous
// value when someone may still read it.
func (s *store) commitDoc(c *collection, d *doc, raw bson.Raw) {
	keep := s.open > 0 || len(s.history) > 0 || !s.snapshotUntil.IsZero() // cheap first: the write path
	if keep && !s.keeping() {
		s.forgetHistory()
		keep = false
	}
	if keep {
		if d.ver > 0 {
			d.old = &version{raw: d.raw, ver: d.ver, next: d.old}
		}
		s.history = append(s.history, slot{c, d})
	}
	if !keep && d.ver > 0 {
		c.unkept = s.seq // the value it replaces is gone
	}
	c.reindex(d, d.raw, raw)
	d.raw, d.ver, d.lock = raw, s.seq, nil
	if raw == nil && !keep {
		c.drop(d)
	}
}

// forgetHistory drops kept versions and the slots only they held, unless still needed.
func (s *store) forgetHistory() {
	if len(s.history) == 0 || s.keeping() {
		return
	}
	for _, h := range s.history {
		if h.d.old != nil {
			h.c.unkept = max(h.c.unkept, h.d.ver)
		}
		h.d.old = nil
		if h.d.raw == nil && h.d.lock == nil {
			h.c.drop(h.d)
		}
	}
	s.history = nil
}

// snapshotView is a read-only view for a snapshot read at the given cluster time (zero: now),
// and the time it reads at; callers hold mu exclusively.
func (s *store) snapshotView(at bson.Timestamp) (*txn, bson.Timestamp, error) {
	s.keep()
	s.snapshotUntil = s.now().Add(snapshotWindow)
	if at.IsZero() {
		at = s.clock.now()
	}
	return &txn{snapshot: pack(at)}, at, nil
}

// readableAt refuses a read of c (nil: none) as of snapshot when a later change dropped a value
// the snapshot sees, with mongod's SnapshotTooOld.
func (c *collection) readableAt(snapshot uint64) error {
	if c == nil || snapshot >= c.unkept {
		return nil
	}
	at := unpack(snapshot)
	return mongoerr.New(mongoerr.SnapshotTooOld, "Read timestamp Timestamp(%d, %d) is older than the oldest available timestamp.", at.T, at.I)
}
