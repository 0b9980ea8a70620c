package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/mongos-lite/mongos-lite/metrics"
	"github.com/mongos-lite/mongos-lite/router"
)

// metricsFlag is --metrics-addr; serve leaves it off, demo turns it on.
func metricsFlag(def string) cli.Flag {
	return altsrc.NewStringFlag(&cli.StringFlag{Name: "metrics-addr", Value: def, EnvVars: env("metrics-addr"),
		Usage: "host:port serving Prometheus /metrics, /healthz and /readyz (empty: off)"})
}

// routerMetrics is the metrics of one process; a nil *routerMetrics (metrics off) does nothing.
type routerMetrics struct {
	m   *metrics.Metrics
	srv *metrics.Server
}

// startMetrics serves the metrics when --metrics-addr is not empty.
func startMetrics(c *cli.Context, log zerolog.Logger) (*routerMetrics, error) {
	addr := c.String("metrics-addr")
	if addr == "" {
		return nil, nil
	}
	m := metrics.New()
	srv, err := m.Listen(addr)
	if err != nil && !c.IsSet("metrics-addr") {
		// demo's default port may be taken (another demo): run without metrics rather than not at all.
		log.Warn().Err(err).Msg("metrics off: the default --metrics-addr is taken")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	log.Info().Str("addr", srv.Addr()).Msg("metrics on /metrics, /healthz, /readyz")
	return &routerMetrics{m: m, srv: srv}, nil
}

// observe makes the metrics a router's observer.
func (rm *routerMetrics) observe(cfg *router.Config) {
	if rm != nil {
		cfg.Observer = rm.m
	}
}

// watch adds a router's gauges and readiness.
func (rm *routerMetrics) watch(srv *router.Server) {
	if rm != nil {
		rm.m.Watch(srv)
	}
}

func (rm *routerMetrics) stop() {
	if rm == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = rm.srv.Close(ctx)
}
