package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
)

func serveCommand() *cli.Command {
	flags := append(routerFlags(false), metricsFlag(""),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "shard", EnvVars: env("shard"),
			Usage: "a shard replica set as NAME=RSNAME/host:port,host:port (repeat for each shard; in MONGOS_LITE_SHARD separate shards with ';')"}))
	return &cli.Command{
		Name:   "serve",
		Usage:  "route clients to the shard replica sets given with --shard",
		Flags:  flags,
		Before: withConfigFile(flags),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c.String("log-level"))
			if err != nil {
				return err
			}
			specs := c.StringSlice("shard")
			if len(specs) == 0 {
				return errors.New("no shards: give --shard NAME=RSNAME/host:port,... at least once (or try `mongos-lite demo`)")
			}
			cfgs := make([]shards.Config, len(specs))
			for i, spec := range specs {
				cfg, err := shards.ParseSpec(spec)
				if err != nil {
					return err
				}
				cfgs[i] = withPoolSettings(c, cfg)
			}
			return runRouter(c, log, cfgs, 1, nil)
		},
	}
}

// runRouter opens the shards, serves until SIGINT/SIGTERM, then closes everything it opened.
// routers > 1 starts that many routers over the same shards on consecutive ports, as a cluster
// with several mongos. ready, when given, runs once they listen (demo prints its banner there).
func runRouter(c *cli.Context, log zerolog.Logger, cfgs []shards.Config, routers int, ready func(addrs []string)) error {
	if c.Int64("max-acceptable-logical-clock-drift-secs") < 1 {
		return errors.New("--max-acceptable-logical-clock-drift-secs must be at least 1, as on mongod")
	}
	sec, err := securityFromFlags(c)
	if err != nil {
		return err
	}
	rm, err := startMetrics(c, log)
	if err != nil {
		return err
	}
	defer rm.stop()
	opened := make([]*shards.Shard, 0, len(cfgs))
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range opened {
			_ = s.Close(ctx)
		}
	}()
	for _, cfg := range cfgs {
		cfg.Logger = log
		sec.shard(&cfg)
		s, err := shards.Open(cfg)
		if err != nil {
			return fmt.Errorf("shard %s: %w", cfg.Name, err)
		}
		opened = append(opened, s)
	}
	clientAuthenticator, err := clientAuth(c, log)
	if err != nil {
		return err
	}
	if clientAuthenticator != nil && sec.clusterTimeKeys == nil {
		sec.clusterTimeKeys = clustertime.RandomKeys() // shared by this process's routers
		log.Warn().Msg("--auth without --keyfile: routers in other processes refuse the cluster times this one signs; give every router the same --keyfile")
	}
	servers := make([]*router.Server, 0, routers)
	served := make(chan error, routers)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Close(ctx)
		}
		for range servers {
			<-served
		}
	}()
	var addrs []string
	for i := 0; i < routers; i++ {
		rcfg := routerConfig(c)
		if rcfg.Port != 0 {
			rcfg.Port += i
		}
		rcfg.Logger = log.With().Int("router", i).Logger()
		rcfg.Auth = clientAuthenticator
		sec.router(&rcfg)
		rm.observe(&rcfg)
		srv, err := router.New(rcfg, opened)
		if err != nil {
			return err
		}
		if err := srv.Listen(); err != nil {
			return err
		}
		servers = append(servers, srv)
		rm.watch(srv)
		addrs = append(addrs, srv.Addr())
		log.Info().Str("addr", srv.Addr()).Int("shards", len(opened)).Msg("mongos-lite listening")
		go func() { served <- srv.Serve() }()
	}
	if ready != nil {
		ready(addrs)
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case s := <-sig:
		timeout := c.Duration("shutdown-timeout")
		log.Info().Str("signal", s.String()).Dur("timeout", timeout).Msg("quiescing: finishing in-flight commands")
		done := make(chan struct{})
		defer close(done)
		go func() { // a second signal does not wait
			select {
			case s := <-sig:
				log.Warn().Str("signal", s.String()).Msg("second signal: exiting at once")
				os.Exit(1)
			case <-done:
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		for _, srv := range servers {
			if err := srv.Shutdown(ctx); err != nil {
				log.Warn().Err(err).Msg("shutting down with commands still running")
			}
		}
		return nil
	case err := <-served:
		served <- err // keep the count for the deferred wait
		log.Error().Err(err).Msg("listener failed")
		return err
	}
}
