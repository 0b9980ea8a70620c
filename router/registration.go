package router

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mongos-lite/mongos-lite/topology"
)

// registration is the router's presence in the cluster metadata, as a mongos's: its entry in
// config.mongos, pinged by a goroutine the server owns (mongos's uptime reporter,
// sharding_uptime_reporter.cpp), and the metadata every mongos finds on its config servers
// (config.version, the balancer settings), written once by whichever router comes first.
type registration struct {
	metadataMu    sync.Mutex
	metadataReady atomic.Bool
}

// startRegistration reports the router in config.mongos at once and then every PingInterval,
// until Close. A router that stops pinging stays listed with its last ping, as a mongos does:
// sh.status() tells the active ones by their recent ping.
func (s *Server) startRegistration() {
	s.background(func(ctx context.Context) {
		t := time.NewTicker(s.cfg.PingInterval)
		defer t.Stop()
		for {
			s.ping(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
}

// ping writes the router's config.mongos entry (and the cluster metadata, until it is there),
// each write bounded by the ping interval. Failures are logged: the next ping tries again.
func (s *Server) ping(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PingInterval)
	defer cancel()
	if err := s.ensureMetadata(ctx); err != nil && ctx.Err() == nil {
		s.cfg.Logger.Warn().Err(err).Msg("cluster metadata (config.version, config.settings) not written yet")
	}
	now := time.Now()
	err := s.cluster.ReportRouter(ctx, topology.RouterEntry{
		ID: s.instanceID(), Created: s.started, Ping: now, Up: now.Sub(s.started), Version: Version, FQDNs: []string{},
	})
	if err != nil && ctx.Err() == nil {
		s.cfg.Logger.Warn().Err(err).Msg("could not report this router in config.mongos")
	}
}

// ensureMetadata writes config.version and the balancer settings on the config shard unless
// this router already has. Reads of the config database wait for it, so that sh.status()
// finds them from the first command on.
func (s *Server) ensureMetadata(ctx context.Context) error {
	if s.reg.metadataReady.Load() {
		return nil
	}
	s.reg.metadataMu.Lock()
	defer s.reg.metadataMu.Unlock()
	if s.reg.metadataReady.Load() {
		return nil
	}
	if err := s.cluster.EnsureMetadata(ctx); err != nil {
		return err
	}
	s.reg.metadataReady.Store(true)
	return nil
}

// instanceID is the router's name in config.mongos: its host name and port, as mongos's
// constructInstanceIdString.
func (s *Server) instanceID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "localhost"
	}
	port := s.cfg.Port
	if s.ln != nil {
		if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
