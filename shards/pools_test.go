package shards

import (
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/shards/pool"
)

func poolOf(s *Shard, host string) (pool.Stats, bool) {
	for _, st := range s.PoolStats() {
		if st.Addr == host {
			return st, true
		}
	}
	return pool.Stats{}, false
}

// TestMinPoolSizeFillsDataBearingMembers: without a single round trip, every member that SDAM
// finds to be a primary or secondary gets MinPoolSize connections.
func TestMinPoolSizeFillsDataBearingMembers(t *testing.T) {
	rs := startSet(t)
	s := openShard(t, rs.Hosts(), func(c *Config) { c.MinPoolSize = 2 })
	for _, host := range rs.Hosts() {
		waitFor(t, "a filled pool for "+host, func() bool {
			st, ok := poolOf(s, host)
			return ok && st.Open >= 2
		})
		if st, _ := poolOf(s, host); st.Checkouts != 0 || st.InUse != 0 {
			t.Errorf("%s: %+v, want idle connections only", host, st)
		}
	}
}

// TestStoppedMemberClearsItsPool: when the monitor finds a member gone, SDAM clears the driver's
// (unused) pool and the router's pool follows: its idle connections are closed.
func TestStoppedMemberClearsItsPool(t *testing.T) {
	rs := startSet(t)
	s := openShard(t, rs.Hosts(), func(c *Config) { c.HeartbeatInterval = 500 * time.Millisecond })
	waitFor(t, "a primary", s.HasPrimary)
	victim := 1 - min(rs.Primary(), 1) // a secondary
	host := rs.Hosts()[victim]
	msg := command(0, ping)
	reply, err := s.RoundTripHost(testCtx(t, 10*time.Second), host, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantOK(t, replyBody(t, reply))
	if st, _ := poolOf(s, host); st.Open != 1 || st.Cleared != 0 {
		t.Fatalf("before: %+v", st)
	}
	if err := rs.StopMember(victim); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stopped member's pool cleared", func() bool {
		st, _ := poolOf(s, host)
		return st.Cleared >= 1 && st.Open == 0
	})
}
