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
