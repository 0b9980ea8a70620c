// Command mongos-lite is a router that stands in for mongos in front of shards that are plain
// replica sets. This package only wires flags, logging and signals onto the router.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "mongos-lite:", err)
		os.Exit(1)
	}
}

func newApp() *cli.App {
	serve := serveCommand()
	return &cli.App{
		Name:    "mongos-lite",
		Usage:   "a mongos stand-in for sharded clusters whose shards are plain replica sets",
		Version: version,
		Commands: []*cli.Command{
			serve,
			demoCommand(),
			healthcheckCommand(),
			benchCommand(),
			userCommand(),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintf(c.App.Writer, "mongos-lite %s (speaks MongoDB %s)\n", version, routerVersion)
					return nil
				},
			},
		},
		// Like mongos, running it bare serves.
		DefaultCommand: serve.Name,
		// A shard spec holds commas (host lists), so several specs in one value
		// (MONGOS_LITE_SHARD) are separated by semicolons.
		SliceFlagSeparator: ";",
	}
}
