// Package router is the client side of mongos-lite: it accepts connections, answers the
// handshake and local commands, and routes everything else to the right shard.
package router

import (
	"crypto/tls"
	"time"

	"github.com/rs/zerolog"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/clustertime"
)

// Config holds every knob of the router. cmd/mongos-lite maps flags, env vars and the config
// file onto it; zero values mean the documented defaults (see withDefaults).
type Config struct {
	Bind string // default 127.0.0.1: a router is not exposed until asked to be
	Port int    // 0 picks a free port (tests); the command line defaults to 27017

	// LogicalSessionTimeoutMinutes is localLogicalSessionTimeoutMinutes (default 30, as mongod).
	// hello advertises the smallest of it and every shard's value.
	LogicalSessionTimeoutMinutes int

	// ShardTimeout bounds one round trip to a shard when the command has no maxTimeMS
	// (default 10 minutes: long enough for big aggregations, short enough that nothing hangs).
	ShardTimeout time.Duration

	// WriteTimeout bounds writing one reply to a client (default 30 s): a client that stops
	// reading must not pin a goroutine forever.
	WriteTimeout time.Duration

	// MaxSessions caps the sessions touched per refresh interval (maxSessions, default
	// 1,000,000 as mongos); past it a new session gets TooManyLogicalSessions.
	MaxSessions int

	// SessionRefresh is logicalSessionRefreshMillis: how often the session cache refreshes its
	// sessions on the shards, ends ended ones and reaps idle ones (default 5 minutes, as mongos).
	SessionRefresh time.Duration

	// CursorTimeout is cursorTimeoutMillis: a router cursor outside any session that stays idle
	// this long is closed, and the shard cursors behind it killed (default 10 minutes, as mongos).
	CursorTimeout time.Duration

	// KillSessionsMaxConcurrency and KillSessionsPerHostTimeout bound a session command's
	// fan-out (defaults 100 and 60 s, mongos's KillSessionsMaxConcurrency and
	// KillSessionsPerHostTimeoutMS).
	KillSessionsMaxConcurrency int
	KillSessionsPerHostTimeout time.Duration

	Logger zerolog.Logger

	// MaxConns caps open client connections (maxIncomingConnections); past it a new connection
	// is closed at once and counted. 0: no cap beyond the OS's.
	MaxConns int

	// IdleTimeout closes a client connection that sends nothing for this long (0: never, as
	// mongos). Keep it above drivers' maxAwaitTimeMS (10 s) or monitors will churn.
	IdleTimeout time.Duration

	// Auth authenticates and authorizes clients (--auth); nil: no authentication, as mongod
	// without --auth.
	Auth *auth.Authenticator

	// TLS is the server side of TLS for clients: the certificate, and ClientCAs with ClientAuth
	// tls.VerifyClientCertIfGiven to verify client certificates. TLSMode says which connections
	// must use it (mongod's net.tls.mode); empty means TLSRequire when TLS is set, TLSDisabled
	// otherwise.
	TLS     *tls.Config
	TLSMode TLSMode

	// MaxClockDriftSecs is maxAcceptableLogicalClockDriftSecs: the router adopts no cluster time,
	// from a client or a shard, more than this many seconds past its wall clock (default one
	// year, as mongod); getParameter reports it.
	MaxClockDriftSecs int64

	// ClusterTimeKeys sign the cluster times the router returns to clients and check those they
	// send back, when Auth is set. Routers given keys from the same secret (their key file)
	// accept each other's times; nil gives this router keys of its own (docs/architecture.md,
	// "Cluster time").
	ClusterTimeKeys *clustertime.Keys

	// PingInterval is how often the router writes its entry in config.mongos (default 10 s,
	// mongos's kUptimeReportInterval in sharding_uptime_reporter.cpp).
	PingInterval time.Duration

	// RoutingPollInterval and RoutingLease are the routers' agreement on the routing metadata
	// (docs/architecture.md, "Routers agree"): how often the router reads the routing state
	// (default 100 ms, what a sharding change waits for a live router at most), and how long it
	// routes without renewing its lease on the config shard (default 10 s, what a change waits for
	// a router that stopped; the lease is renewed five times over its length).
	RoutingPollInterval time.Duration
	RoutingLease        time.Duration

	// CommandLine is what getCmdLineOpts reports: the process's arguments and the options it
	// parsed (cmd/mongos-lite fills it in).
	CommandLine CommandLine

	// EnableTestCommands enables configureFailPoint on the router (enableTestCommands).
	EnableTestCommands bool

	// Observer receives measurements (metrics); nil records nothing.
	Observer Observer
}

func (c Config) withDefaults() Config {
	if c.Bind == "" {
		c.Bind = "127.0.0.1"
	}
	if c.LogicalSessionTimeoutMinutes == 0 {
		c.LogicalSessionTimeoutMinutes = 30
	}
	if c.ShardTimeout == 0 {
		c.ShardTimeout = 10 * time.Minute
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 1_000_000
	}
	if c.SessionRefresh == 0 {
		c.SessionRefresh = 5 * time.Minute
	}
	if c.CursorTimeout == 0 {
		c.CursorTimeout = 10 * time.Minute
	}
	if c.KillSessionsMaxConcurrency == 0 {
		c.KillSessionsMaxConcurrency = 100
	}
	if c.KillSessionsPerHostTimeout == 0 {
		c.KillSessionsPerHostTimeout = 60 * time.Second
	}
	if c.PingInterval == 0 {
		c.PingInterval = 10 * time.Second
	}
	if c.MaxClockDriftSecs == 0 {
		c.MaxClockDriftSecs = clustertime.DefaultMaxDriftSecs
	}
	return c
}
