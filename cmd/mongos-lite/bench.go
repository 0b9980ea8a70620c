package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"

	"github.com/mongos-lite/mongos-lite/bench"
)

// benchCommand wires `mongos-lite bench` onto package bench.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "load generator: run a workload against a URI (and another to compare) and print ops/s, p50, p99, p99.9 and errors",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "uri", Value: "mongodb://127.0.0.1:27017/", Usage: "deployment to benchmark (any MongoDB URI)"},
			&cli.StringFlag{Name: "compare-uri", Usage: "a second deployment run with the same workload, rounds alternating; prints uri/compare-uri ratios"},
			&cli.StringFlag{Name: "workload", Value: bench.FindID, Usage: "one of " + strings.Join(bench.Workloads, ", ")},
			&cli.IntFlag{Name: "concurrency", Value: 16, Usage: fmt.Sprintf("clients issuing operations at once (1..%d)", bench.MaxConcurrency)},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "time spent on each target, over all rounds"},
			&cli.IntFlag{Name: "rounds", Usage: "rounds per target (default 4 with --compare-uri, so both see the same conditions; else 1)"},
			&cli.Int64Flag{Name: "max-ops", Usage: "stop each target after this many operations (0: only --duration bounds it)"},
			&cli.IntFlag{Name: "docs", Value: 1000, Usage: "documents seeded for the finds"},
			&cli.IntFlag{Name: "sessions", Value: 4, Usage: "kill-fanout: sessions, each with an open cursor, named by one killSessions"},
			&cli.DurationFlag{Name: "op-timeout", Value: 10 * time.Second, Usage: "deadline of one operation"},
			&cli.StringFlag{Name: "db", Value: "mongos_lite_bench", Usage: "database the workload writes to; dropped at the end"},
		},
		Action: func(c *cli.Context) error {
			ctx, stop := signal.NotifyContext(c.Context, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg := bench.Config{
				URI: c.String("uri"), CompareURI: c.String("compare-uri"), Workload: c.String("workload"),
				Concurrency: c.Int("concurrency"), Duration: c.Duration("duration"), Rounds: c.Int("rounds"),
				MaxOps: c.Int64("max-ops"), Docs: c.Int("docs"), Sessions: c.Int("sessions"),
				OpTimeout: c.Duration("op-timeout"), Database: c.String("db"),
			}
			// The live line only makes sense where it is rewritten in place.
			if c.App.Writer == os.Stdout && isatty.IsTerminal(os.Stdout.Fd()) {
				cfg.Progress = os.Stdout
			}
			rep, err := bench.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			return rep.WriteTable(c.App.Writer)
		},
	}
}
