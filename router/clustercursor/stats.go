package clustercursor

import (
	"context"
	"time"
)

// Stats are the counts serverStatus reports under metrics.cursor, as mongos counts them
// (ClusterCursorManager::stats): a cursor being killed is no longer open.
type Stats struct {
	SingleTarget int
	MultiTarget  int
	QueuedData   int
	Pinned       int
	TimedOut     int64
}

// Open is the number of open cursors.
func (s Stats) Open() int { return s.SingleTarget + s.MultiTarget + s.QueuedData }

// Stats counts the cursors.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Stats{TimedOut: m.timedOut}
	for _, c := range m.cursors {
		if c.killPending {
			continue
		}
		if c.pinned {
			s.Pinned++
		}
		switch len(c.Remotes) {
		case 0:
			s.QueuedData++
		case 1:
			s.SingleTarget++
		default:
			s.MultiTarget++
		}
	}
	return s
}

// ReapEvery is how often Run looks for idle cursors (mongod's clientCursorMonitorFrequencySecs).
const ReapEvery = 4 * time.Second

// Run reaps idle cursors every period until ctx ends.
func (m *Manager) Run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Reap()
		}
	}
}

// Idle is a cursor no operation holds, as $currentOp's idleCursors reports it.
type Idle struct {
	ID          int64
	NS          string
	Binding     Binding
	Created     time.Time
	LastUsed    time.Time
	Returned    int64
	Batches     int64
	NoTimeout   bool
	Originating []byte
}

// Idle lists the cursors no operation holds (ClusterCursorManager::getIdleCursors): killed and
// checked-out ones are not idle.
func (m *Manager) Idle() []Idle {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Idle
	for id, c := range m.cursors {
		if c.pinned || c.killPending {
			continue
		}
		out = append(out, Idle{ID: id, NS: c.NS, Binding: c.Binding, Created: c.created, LastUsed: c.lastUsed,
			Returned: c.returned, Batches: c.batches, NoTimeout: c.NoTimeout, Originating: c.Originating})
	}
	return out
}
