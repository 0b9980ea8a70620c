package metrics

import (
	"sync/atomic"
	"testing"

	"github.com/mongos-lite/mongos-lite/router"
)

type fakeSource struct {
	stats router.Stats
	pools []router.ShardPool
	ready atomic.Bool
	txns  router.TxnStats
}

func (f *fakeSource) Stats() router.Stats            { return f.stats }
func (f *fakeSource) ShardPools() []router.ShardPool { return f.pools }
func (f *fakeSource) Ready() bool                    { return f.ready.Load() }
func (f *fakeSource) TxnStats() router.TxnStats      { return f.txns }

func TestSourcesSumAndReady(t *testing.T) {
	m := New()
	if m.sources.ready() {
		t.Error("ready with no router watched")
	}
	a := &fakeSource{stats: router.Stats{Connections: 3, ActiveSessions: 10, OpenCursors: 2}}
	b := &fakeSource{stats: router.Stats{Connections: 1, ActiveSessions: 5, OpenCursors: 0}}
	m.Watch(a)
	m.Watch(b)
	for name, want := range map[string]float64{
		"mongos_lite_client_connections": 4,
		"mongos_lite_sessions_active":    15,
		"mongos_lite_cursors_open":       2,
	} {
		if got := counter(t, m.reg, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, tc := range []struct{ a, b, want bool }{{false, false, false}, {true, false, false}, {true, true, true}} {
		a.ready.Store(tc.a)
		b.ready.Store(tc.b)
		if got := m.sources.ready(); got != tc.want {
			t.Errorf("ready(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
