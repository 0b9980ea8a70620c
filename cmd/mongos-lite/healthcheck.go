package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// healthcheckCommand is the container image's HEALTHCHECK: the runtime image has no shell and
// no mongosh, so the binary checks itself.
func healthcheckCommand() *cli.Command {
	return &cli.Command{
		Name:  "healthcheck",
		Usage: "exit 0 if the router on 127.0.0.1 answers hello as a mongos, 1 otherwise (container HEALTHCHECK)",
		Flags: []cli.Flag{
			// Same env var as serve's --port, so a port set with MONGOS_LITE_PORT is followed.
			&cli.IntFlag{Name: "port", Value: 27017, EnvVars: env("port"), Usage: "the router's port"},
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Second,
				Usage: "bound on connect + hello (short: Docker runs this every few seconds)"},
		},
		Action: func(c *cli.Context) error {
			addr := fmt.Sprintf("127.0.0.1:%d", c.Int("port"))
			if err := checkRouter(c.Context, addr, c.Duration("timeout")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "mongos-lite at %s answers hello as a mongos\n", addr)
			return nil
		},
	}
}

// checkRouter connects directly to addr and wants hello to answer ok with msg "isdbgrid": a
// plain mongod (or anything else) on that port is not healthy.
func checkRouter(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://" + addr + "/").
		SetDirect(true).
		// A one-shot probe needs no streaming monitor, whose awaitable hello (10 s) can hold up
		// Disconnect past the probe's deadline.
		SetServerMonitoringMode(options.ServerMonitoringModePoll).
		SetConnectTimeout(timeout).
		SetServerSelectionTimeout(timeout).
		SetTimeout(timeout))
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", addr, err)
	}
	// One deadline bounds the whole check, disconnect included: an orchestrator's probe must end.
	defer func() { _ = cl.Disconnect(ctx) }()
	var hello struct {
		OK  float64 `bson:"ok"`
		Msg string  `bson:"msg"`
	}
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return fmt.Errorf("healthcheck %s: hello: %w", addr, err)
	}
	if hello.OK != 1 || hello.Msg != "isdbgrid" {
		return fmt.Errorf("healthcheck %s: hello answered ok=%v msg=%q; want a mongos (msg \"isdbgrid\")", addr, hello.OK, hello.Msg)
	}
	return nil
}
