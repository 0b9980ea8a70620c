package shards

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/address"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// member returns host as the topology spells it and whether it is a known member.
func (s *Shard) member(host string) (string, bool) {
	canon := address.Address(host).Canonicalize()
	for _, srv := range s.topo.Description().Servers {
		if srv.Addr == canon {
			return canon.String(), true
		}
	}
	return host, false
}

// selectHost picks the member rp allows. The primary, the common case, is read off the current
// description without the driver's selection machinery (which allocates).
func (s *Shard) selectHost(ctx context.Context, rp ReadPref) (string, error) {
	if rp.Mode == ModePrimary {
		for _, srv := range s.topo.Description().Servers {
			if srv.Kind == description.ServerKindRSPrimary {
				return srv.Addr.String(), nil
			}
		}
	}
	srv, err := s.selectServer(ctx, rp)
	if err != nil {
		return "", err
	}
	return srv.Description().Addr.String(), nil
}

// selectServer waits at most the server selection timeout for a member that rp allows.
func (s *Shard) selectServer(ctx context.Context, rp ReadPref) (*topology.SelectedServer, error) {
	sel := selectorFor(rp)
	if srv, err := s.topo.SelectServer(expired, sel); err == nil {
		return srv.(*topology.SelectedServer), nil // Topology.SelectServer only returns those
	}
	selCtx := ctx
	if d, _ := ctx.Deadline(); time.Until(d) > s.selTimeout {
		var cancel context.CancelFunc
		selCtx, cancel = context.WithTimeout(ctx, s.selTimeout)
		defer cancel()
	}
	srv, err := s.topo.SelectServer(selCtx, sel)
	if err != nil {
		code := classify(err, mongoerr.FailedToSatisfyReadPreference)
		if code == mongoerr.NetworkTimeout {
			code = mongoerr.FailedToSatisfyReadPreference // selection ran out of time: nothing matched
		}
		if code == mongoerr.FailedToSatisfyReadPreference {
			return nil, &HostError{Shard: s.name, Set: s.setName, Code: code, What: rp.String()}
		}
		return nil, &HostError{Shard: s.name, Set: s.setName, Code: code, What: "selecting a member of", Err: err}
	}
	return srv.(*topology.SelectedServer), nil
}

// server is the driver's server for host, nil when it is no longer a member.
func (s *Shard) server(host string) *topology.SelectedServer {
	srv, err := s.topo.FindServer(description.Server{Addr: address.Address(host)})
	if err != nil {
		return nil
	}
	return srv
}

// Members lists every member of the set as currently known (seeds until discovery, then the
// members the set reports), including members that are down, sorted.
func (s *Shard) Members() []string {
	desc := s.topo.Description()
	hosts := make([]string, len(desc.Servers))
	for i, srv := range desc.Servers {
		hosts[i] = srv.Addr.String()
	}
	slices.Sort(hosts)
	return hosts
}

// dataBearing reports whether a member holds data (primary or secondary).
func dataBearing(k description.ServerKind) bool {
	return k == description.ServerKindRSPrimary || k == description.ServerKindRSSecondary
}

// WireVersions is the range of wire versions every known data-bearing member supports; ok is
// false when no such member is known or the ranges do not overlap.
func (s *Shard) WireVersions() (lo, hi int32, ok bool) {
	for _, srv := range s.topo.Description().Servers {
		if !dataBearing(srv.Kind) || srv.WireVersion == nil {
			continue
		}
		if !ok {
			lo, hi, ok = srv.WireVersion.Min, srv.WireVersion.Max, true
			continue
		}
		lo, hi = max(lo, srv.WireVersion.Min), min(hi, srv.WireVersion.Max)
	}
	if ok && lo > hi {
		return 0, 0, false
	}
	return lo, hi, ok
}

// SessionTimeoutMinutes is the smallest logicalSessionTimeoutMinutes of the data-bearing
// members; false when none is known or one of them does not report it (sessions unsupported).
func (s *Shard) SessionTimeoutMinutes() (int32, bool) {
	var minutes int64
	found := false
	for _, srv := range s.topo.Description().Servers {
		if !dataBearing(srv.Kind) {
			continue
		}
		if srv.SessionTimeoutMinutes == nil {
			return 0, false
		}
		if !found || *srv.SessionTimeoutMinutes < minutes {
			minutes, found = *srv.SessionTimeoutMinutes, true
		}
	}
	return int32(minutes), found
}

// HasPrimary reports whether a primary is currently known.
func (s *Shard) HasPrimary() bool {
	for _, srv := range s.topo.Description().Servers {
		if srv.Kind == description.ServerKindRSPrimary {
			return true
		}
	}
	return false
}
