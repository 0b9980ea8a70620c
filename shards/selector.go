package shards

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/tag"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
)

// localThreshold is the latency window above the fastest eligible member (localThresholdMS,
// the drivers' and mongos's default).
const localThreshold = 15 * time.Millisecond

// selector applies a read preference to a replica set topology (server selection spec); the
// driver's own read preference selectors are internal to it.
type selector struct{ rp ReadPref }

var _ description.ServerSelector = selector{}

// plainSelectors are the selectors of the read preferences without tags or staleness, boxed
// once: selection runs on every round trip.
var plainSelectors = func() (sels [len(modeNames)]description.ServerSelector) {
	for i := range sels {
		sels[i] = selector{ReadPref{Mode: Mode(i)}}
	}
	return sels
}()

// selectorFor returns the selector that applies rp.
func selectorFor(rp ReadPref) description.ServerSelector {
	if len(rp.Tags) == 0 && rp.MaxStaleness == 0 && int(rp.Mode) < len(plainSelectors) {
		return plainSelectors[rp.Mode]
	}
	return selector{rp}
}

// SelectServer keeps the candidates (known members) that rp allows.
func (s selector) SelectServer(_ description.Topology, cands []description.Server) ([]description.Server, error) {
	primary := -1
	for i := range cands {
		if cands[i].Kind == description.ServerKindRSPrimary {
			primary = i
			break
		}
	}
	switch s.rp.Mode {
	case ModePrimary:
		return only(cands, primary), nil
	case ModePrimaryPreferred:
		if primary >= 0 {
			return only(cands, primary), nil
		}
		return s.eligible(cands, primary, false), nil
	case ModeSecondaryPreferred:
		if sel := s.eligible(cands, primary, false); len(sel) > 0 {
			return sel, nil
		}
		return only(cands, primary), nil
	case ModeNearest:
		return s.eligible(cands, primary, true), nil
	default: // ModeSecondary
		return s.eligible(cands, primary, false), nil
	}
}

func only(cands []description.Server, i int) []description.Server {
	if i < 0 {
		return nil
	}
	return cands[i : i+1]
}

// eligible filters secondaries (and the primary when withPrimary) by staleness, then by the
// first matching tag set, then keeps the latency window.
func (s selector) eligible(cands []description.Server, primary int, withPrimary bool) []description.Server {
	var p *description.Server
	if primary >= 0 {
		p = &cands[primary]
	}
	var maxWrite time.Time // freshest secondary's last write, the reference when there is no primary
	for i := range cands {
		if c := &cands[i]; c.Kind == description.ServerKindRSSecondary && c.LastWriteTime.After(maxWrite) {
			maxWrite = c.LastWriteTime
		}
	}
	out := make([]description.Server, 0, len(cands))
	for i := range cands {
		c := &cands[i]
		switch {
		case c.Kind == description.ServerKindRSPrimary && withPrimary:
		case c.Kind == description.ServerKindRSSecondary:
			if s.rp.MaxStaleness > 0 && staleness(c, p, maxWrite) > s.rp.MaxStaleness {
				continue
			}
		default:
			continue
		}
		out = append(out, *c)
	}
	out = matchTags(out, s.rp.Tags)
	return latencyWindow(out)
}

// staleness estimates how far secondary c lags (max staleness spec).
func staleness(c, p *description.Server, maxWrite time.Time) time.Duration {
	if p != nil {
		return c.LastUpdateTime.Sub(c.LastWriteTime) - p.LastUpdateTime.Sub(p.LastWriteTime) + c.HeartbeatInterval
	}
	return maxWrite.Sub(c.LastWriteTime) + c.HeartbeatInterval
}

func matchTags(servers []description.Server, sets []tag.Set) []description.Server {
	if len(sets) == 0 {
		return servers
	}
	for _, set := range sets {
		var out []description.Server
		for _, srv := range servers {
			if srv.Tags.ContainsAll(set) {
				out = append(out, srv)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func latencyWindow(servers []description.Server) []description.Server {
	if len(servers) < 2 {
		return servers
	}
	fastest := servers[0].AverageRTT
	for _, srv := range servers[1:] {
		fastest = min(fastest, srv.AverageRTT)
	}
	out := servers[:0]
	for _, srv := range servers {
		if srv.AverageRTT <= fastest+localThreshold {
			out = append(out, srv)
		}
	}
	return out
}
