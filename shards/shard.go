// Package shards is how the router talks to shard replica sets: one driver topology per shard
// (discovery, monitoring and SDAM; members.go), server selection by read preference
// (readpref.go, selector.go), and round trips (roundtrip.go) over the router's own pooled
// connections (pools.go, package pool): a request is a command body and its document sequences,
// framed here; a reply is checked to answer the request just written and comes back with its
// status read once (internal/outcome). It is the only package that uses the driver's
// x/mongo/driver/topology.
package shards

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// AppName is the application name shards see in the handshake (and in their logs and currentOp).
const AppName = "mongos-lite"

// DefaultSocketTimeout bounds a round trip whose context has no deadline. It is generous because
// a forwarded command may legitimately run long (an index build, a big aggregation); callers that
// know better (maxTimeMS, per-host fan-out limits) pass a context with their own deadline.
const DefaultSocketTimeout = 60 * time.Second

// Config describes one shard replica set. Zero durations and sizes mean the driver's defaults
// (maxPoolSize 100, minPoolSize 0, maxConnecting 2, no idle limit, connect and server selection
// timeouts 30 s, heartbeat 10 s).
type Config struct {
	Name    string   // shard name, as listShards shows it
	SetName string   // replica set name; members reporting another set are dropped
	Hosts   []string // seed list, host:port

	MaxPoolSize   uint64
	MinPoolSize   uint64
	MaxConnecting uint64

	MaxIdleTime            time.Duration
	ConnectTimeout         time.Duration
	ServerSelectionTimeout time.Duration
	HeartbeatInterval      time.Duration
	// SocketTimeout is the deadline of a round trip whose context has none; 0 means
	// DefaultSocketTimeout.
	SocketTimeout time.Duration
	Logger        zerolog.Logger

	// Auth, when set, authenticates every pooled connection (see Credential); nil connects
	// unauthenticated, as to shards without --auth.
	Auth *Credential
	// TLS, when set, is the client side of TLS to every member (RootCAs for the members'
	// certificates, Certificates for a client certificate); nil connects in plain TCP.
	TLS *tls.Config

	// onServerChange, when set (by tests), sees every server description change.
	onServerChange func(*event.ServerDescriptionChangedEvent)
}

// Shard is a connected shard replica set. It is safe for concurrent use.
type Shard struct {
	name, setName string
	authUser      string // "user@db" of cfg.Auth; empty without
	topo          *topology.Topology
	selTimeout    time.Duration
	sockTimeout   time.Duration

	// The router's own connections, one pool per member (package pool); the driver's
	// topology only discovers, monitors and selects.
	poolCfg pool.Config // Addr is set per member
	minPool int
	pools   atomic.Pointer[map[string]*pool.Pool] // copied on write
	poolsMu sync.Mutex                            // serializes writers; guards closed
	closed  bool

	wake      chan struct{} // a member became data-bearing: fill its pool now
	stopMaint context.CancelFunc
	maintDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open starts discovering and monitoring the shard's members; it does not wait for them, so a
// shard that is down at start-up is reported by the first round trip instead.
func Open(cfg Config) (*Shard, error) {
	if err := checkName(cfg.Name); err != nil {
		return nil, fmt.Errorf("shard name %v", err)
	}
	if err := checkName(cfg.SetName); err != nil {
		return nil, fmt.Errorf("shard %s: replica set name %v", cfg.Name, err)
	}
	if len(cfg.Hosts) == 0 {
		return nil, fmt.Errorf("shard %s: no hosts", cfg.Name)
	}
	for _, h := range cfg.Hosts {
		if err := checkHost(h); err != nil {
			return nil, fmt.Errorf("shard %s: host %q: %v", cfg.Name, h, err)
		}
	}
	if cfg.MinPoolSize > 0 && cfg.MaxPoolSize > 0 && cfg.MinPoolSize > cfg.MaxPoolSize {
		return nil, fmt.Errorf("shard %s: minPoolSize %d is above maxPoolSize %d", cfg.Name, cfg.MinPoolSize, cfg.MaxPoolSize)
	}
	handshaker, err := cfg.handshaker()
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	log := cfg.Logger.With().Str("shard", cfg.Name).Str("set", cfg.SetName).Logger()
	s := &Shard{name: cfg.Name, setName: cfg.SetName, authUser: cfg.Auth.fullName(), sockTimeout: cfg.SocketTimeout,
		minPool: int(cfg.MinPoolSize), wake: make(chan struct{}, 1),
		poolCfg: pool.Config{TLS: cfg.TLS, ConnectTimeout: cfg.ConnectTimeout, MaxSize: int(cfg.MaxPoolSize),
			MaxConnecting: int(cfg.MaxConnecting), MaxIdleTime: cfg.MaxIdleTime, Handshaker: handshaker}}
	if s.sockTimeout <= 0 {
		s.sockTimeout = DefaultSocketTimeout
	}
	s.pools.Store(&map[string]*pool.Pool{})
	opts := options.Client().
		SetHosts(cfg.Hosts).
		SetReplicaSet(cfg.SetName).
		SetAppName(AppName).
		SetServerMonitor(&event.ServerMonitor{
			ServerDescriptionChanged: func(e *event.ServerDescriptionChangedEvent) {
				if e.PreviousDescription.Kind != e.NewDescription.Kind {
					log.Info().Str("host", e.Address.String()).Str("from", e.PreviousDescription.Kind).
						Str("to", e.NewDescription.Kind).Msg("shard member state changed")
					s.wakeMaintainer()
				}
				if cfg.onServerChange != nil {
					cfg.onServerChange(e)
				}
			},
			ServerClosed: func(e *event.ServerClosedEvent) { s.dropPool(e.Address.String()) },
		}).
		// SDAM clears the driver's pool of a member that failed or changed state (the driver's
		// pool itself is never used): the router's pool follows.
		SetPoolMonitor(&event.PoolMonitor{Event: func(e *event.PoolEvent) {
			if e.Type == event.ConnectionPoolCleared {
				if p := s.existingPool(e.Address); p != nil {
					p.Clear()
				}
			}
		}})
	if cfg.ConnectTimeout > 0 {
		opts.SetConnectTimeout(cfg.ConnectTimeout)
	}
	if cfg.ServerSelectionTimeout > 0 {
		opts.SetServerSelectionTimeout(cfg.ServerSelectionTimeout)
	}
	if cfg.HeartbeatInterval > 0 {
		opts.SetHeartbeatInterval(cfg.HeartbeatInterval)
	}
	if cfg.TLS != nil {
		// The monitors' connections; the driver clones it and sets ServerName per member.
		opts.SetTLSConfig(cfg.TLS)
	}
	tcfg, err := topology.NewConfig(opts, nil)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	topo, err := topology.New(tcfg)
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	if err := topo.Connect(); err != nil {
		return nil, fmt.Errorf("shard %s: %w", cfg.Name, err)
	}
	s.topo = topo
	s.selTimeout = topo.GetServerSelectionTimeout()
	if s.minPool > 0 || cfg.MaxIdleTime > 0 {
		var ctx context.Context
		ctx, s.stopMaint = context.WithCancel(context.Background())
		s.maintDone = make(chan struct{})
		go s.maintain(ctx)
	}
	log.Info().Strs("hosts", cfg.Hosts).Bool("tls", cfg.TLS != nil).Bool("auth", cfg.Auth != nil).Msg("shard opened")
	return s, nil
}

// Name is the shard's name.
func (s *Shard) Name() string { return s.name }

// Close stops monitoring and closes every connection, lent ones included; it waits for the
// driver's goroutines (monitors) and the pool maintainer to stop, within ctx. Later calls return
// the first result.
func (s *Shard) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.poolsMu.Lock()
		s.closed = true
		pools := *s.pools.Load()
		s.poolsMu.Unlock()
		if s.stopMaint != nil {
			s.stopMaint()
			select {
			case <-s.maintDone:
			case <-ctx.Done():
				s.closeErr = ctx.Err()
			}
		}
		for _, p := range pools {
			p.Close()
		}
		if err := s.topo.Disconnect(ctx); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// SetName is the shard's replica set name.
func (s *Shard) SetName() string { return s.setName }

// AuthUser is the user the router authenticates as on the shard's members, "user@db" (the key
// file's internal user is "__system@local"); empty when it connects unauthenticated, to a shard
// without --auth.
func (s *Shard) AuthUser() string { return s.authUser }
