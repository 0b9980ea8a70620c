package main

import (
	"time"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
)

const routerVersion = router.Version

// env names a flag's environment variable: MONGOS_LITE_<FLAG_IN_CAPS>.
func env(name string) []string {
	b := []byte("MONGOS_LITE_" + name)
	for i, ch := range b {
		switch {
		case ch == '-':
			b[i] = '_'
		case ch >= 'a' && ch <= 'z':
			b[i] = ch - 'a' + 'A'
		}
	}
	return []string{string(b)}
}

// routerFlags are shared by serve and demo; demo enables test commands by default. Each can also be set in the --config YAML file
// under its own name.
func routerFlags(testCommands bool) []cli.Flag {
	return append(append(authFlags(), securityFlags()...),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "enable-test-commands", Value: testCommands, EnvVars: env("enable-test-commands"),
			Usage: "accept configureFailPoint on the router (for driver test suites; never in production)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-sessions", Value: 1_000_000, EnvVars: env("max-sessions"),
			Usage: "sessions touched per refresh interval before TooManyLogicalSessions (maxSessions, as mongos)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "logical-session-refresh-millis", Value: 300_000, EnvVars: env("logical-session-refresh-millis"),
			Usage: "how often sessions are refreshed on the shards, ended and reaped (as mongos)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "kill-sessions-max-concurrency", Value: 100, EnvVars: env("kill-sessions-max-concurrency"),
			Usage: "shard members a session command reaches at once (KillSessionsMaxConcurrency, as mongos)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "kill-sessions-per-host-timeout-ms", Value: 60_000, EnvVars: env("kill-sessions-per-host-timeout-ms"),
			Usage: "bound on each member's answer to a session command (KillSessionsPerHostTimeoutMS, as mongos)"}),
		altsrc.NewInt64Flag(&cli.Int64Flag{Name: "max-acceptable-logical-clock-drift-secs", Value: clustertime.DefaultMaxDriftSecs,
			EnvVars: env("max-acceptable-logical-clock-drift-secs"),
			Usage:   "refuse a cluster time more than this many seconds past the wall clock (ClusterTimeFailsRateLimiter, one year as mongod)"}),
		&cli.StringFlag{Name: "config", Usage: "YAML file whose keys are these flags' names", EnvVars: env("config")},
		altsrc.NewStringFlag(&cli.StringFlag{Name: "bind", Value: "127.0.0.1", EnvVars: env("bind"),
			Usage: "address to listen on (loopback by default: exposing a router is a choice)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "port", Value: 27017, EnvVars: env("port"),
			Usage: "port to listen on (27017, where drivers look for a mongos)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shutdown-timeout", Value: 15 * time.Second, EnvVars: env("shutdown-timeout"),
			Usage: "on SIGTERM/SIGINT, how long in-flight commands may run while new ones get ShutdownInProgress (15s, as mongos's quiesce)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "max-conns", Value: 0, EnvVars: env("max-conns"),
			Usage: "client connections above this are closed at once and counted (0: no cap beyond the OS's)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "idle-timeout", Value: 0, EnvVars: env("idle-timeout"),
			Usage: "close client connections silent this long (0: never, as mongos; keep it above 10s, drivers' hello wait)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Value: "info", EnvVars: env("log-level"),
			Usage: "trace, debug, info, warn or error"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: "local-logical-session-timeout-minutes", Value: 30, EnvVars: env("local-logical-session-timeout-minutes"),
			Usage: "idle session timeout (30, as mongod); hello advertises the smallest of this and every shard's"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shard-timeout", Value: 10 * time.Minute, EnvVars: env("shard-timeout"),
			Usage: "bound on one shard round trip for a command without maxTimeMS (long enough for big aggregations, short enough that nothing hangs)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "cursor-timeout", Value: 10 * time.Minute, EnvVars: env("cursor-timeout"),
			Usage: "close a cursor outside any session idle this long, and the shard cursors behind it (10m, mongos's cursorTimeoutMillis)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "routing-poll-interval", Value: 100 * time.Millisecond, EnvVars: env("routing-poll-interval"),
			Usage: "how often the router reads the routing state on the config shard: the longest a sharding change waits for a live router"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "routing-lease", Value: 10 * time.Second, EnvVars: env("routing-lease"),
			Usage: "how long the router routes without renewing its lease on the config shard: the longest a sharding change waits for a router that stopped"}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "shard-max-pool-size", Value: 100, EnvVars: env("shard-max-pool-size"),
			Usage: "connections per shard member (100, the driver default)"}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "shard-min-pool-size", Value: 0, EnvVars: env("shard-min-pool-size"),
			Usage: "connections kept open per shard member even when idle"}),
		altsrc.NewUint64Flag(&cli.Uint64Flag{Name: "shard-max-connecting", Value: 2, EnvVars: env("shard-max-connecting"),
			Usage: "connections established at once per shard member (2, the driver default: avoids connection storms)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shard-max-idle-time", Value: 0, EnvVars: env("shard-max-idle-time"),
			Usage: "close pooled shard connections idle this long (0: never)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shard-connect-timeout", Value: 10 * time.Second, EnvVars: env("shard-connect-timeout"),
			Usage: "TCP connect + handshake bound to a shard member (10s, the driver default)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shard-server-selection-timeout", Value: 30 * time.Second, EnvVars: env("shard-server-selection-timeout"),
			Usage: "how long to wait for a suitable shard member (30s, the driver default) before failing a command"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: "shard-heartbeat-interval", Value: 10 * time.Second, EnvVars: env("shard-heartbeat-interval"),
			Usage: "shard member monitoring interval (10s, the driver default)"}),
	)
}

func routerConfig(c *cli.Context) router.Config {
	return router.Config{
		Bind:                         c.String("bind"),
		Port:                         c.Int("port"),
		LogicalSessionTimeoutMinutes: c.Int("local-logical-session-timeout-minutes"),
		ShardTimeout:                 c.Duration("shard-timeout"),
		CursorTimeout:                c.Duration("cursor-timeout"),
		RoutingPollInterval:          c.Duration("routing-poll-interval"),
		RoutingLease:                 c.Duration("routing-lease"),
		EnableTestCommands:           c.Bool("enable-test-commands"),
		MaxConns:                     c.Int("max-conns"),
		IdleTimeout:                  c.Duration("idle-timeout"),
		MaxSessions:                  c.Int("max-sessions"),
		SessionRefresh:               time.Duration(c.Int("logical-session-refresh-millis")) * time.Millisecond,
		KillSessionsMaxConcurrency:   c.Int("kill-sessions-max-concurrency"),
		KillSessionsPerHostTimeout:   time.Duration(c.Int("kill-sessions-per-host-timeout-ms")) * time.Millisecond,
		MaxClockDriftSecs:            c.Int64("max-acceptable-logical-clock-drift-secs"),
		CommandLine:                  commandLine(c),
	}
}

// withPoolSettings applies the pool and timeout flags to a parsed shard.
func withPoolSettings(c *cli.Context, cfg shards.Config) shards.Config {
	cfg.MaxPoolSize = c.Uint64("shard-max-pool-size")
	cfg.MinPoolSize = c.Uint64("shard-min-pool-size")
	cfg.MaxConnecting = c.Uint64("shard-max-connecting")
	cfg.MaxIdleTime = c.Duration("shard-max-idle-time")
	cfg.ConnectTimeout = c.Duration("shard-connect-timeout")
	cfg.ServerSelectionTimeout = c.Duration("shard-server-selection-timeout")
	cfg.HeartbeatInterval = c.Duration("shard-heartbeat-interval")
	return cfg
}

// withConfigFile loads --config before the flags are read; flags and env vars still win.
func withConfigFile(flags []cli.Flag) cli.BeforeFunc {
	load := altsrc.InitInputSourceWithContext(flags, altsrc.NewYamlSourceFromFlagFunc("config"))
	return func(c *cli.Context) error {
		if c.String("config") == "" {
			return nil
		}
		return load(c)
	}
}
