package router

import (
	"context"
	"time"

	"github.com/mongos-lite/mongos-lite/topology"
)

// startAgreement makes the router a party to the routers' agreement on the routing metadata
// (topology/agreement.go, docs/architecture.md "Routers agree") under its config.mongos name,
// before it accepts a connection: a goroutine the server owns renews its lease and reads the
// routing state every poll interval, and gives the lease up at Close so that changes stop
// waiting for this router at once.
func (s *Server) startAgreement() {
	s.cluster.Join(topology.RouterEntry{ID: s.instanceID(), Created: s.started, Version: Version, FQDNs: []string{}},
		topology.Agreement{PollInterval: s.cfg.RoutingPollInterval, Lease: s.cfg.RoutingLease})
	s.background(func(ctx context.Context) {
		t := time.NewTicker(s.cluster.PollInterval())
		defer t.Stop()
		failing := false
		for {
			err := s.cluster.Renew(ctx)
			switch {
			case err != nil && ctx.Err() == nil && !failing:
				s.cfg.Logger.Warn().Err(err).Msg("routing lease not renewed; commands wait for the config shard once it expires")
				failing = true
			case err == nil && failing:
				s.cfg.Logger.Info().Msg("routing lease renewed again")
				failing = false
			}
			select {
			case <-ctx.Done():
				leave, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if err := s.cluster.Leave(leave); err != nil {
					s.cfg.Logger.Debug().Err(err).Msg("routing lease not given up at shutdown; it expires by itself")
				}
				cancel()
				return
			case <-t.C:
			}
		}
	})
}
