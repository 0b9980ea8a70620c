package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

func demoCommand() *cli.Command {
	flags := append(routerFlags(true), metricsFlag("127.0.0.1:9216"),
		&cli.IntFlag{Name: "shards", Value: 2, Usage: "in-memory shard replica sets to start"},
		&cli.IntFlag{Name: "members", Value: 3, Usage: "members per shard replica set"},
		&cli.IntFlag{Name: "routers", Value: 1, Usage: "routers over the same shards, on consecutive ports (a cluster with several mongos)"},
	)
	return &cli.Command{
		Name:   "demo",
		Usage:  "run the router in front of in-memory shard replica sets (nothing to install)",
		Flags:  flags,
		Before: withConfigFile(flags),
		Action: func(c *cli.Context) error {
			log, err := newLogger(c.String("log-level"))
			if err != nil {
				return err
			}
			n, members := c.Int("shards"), c.Int("members")
			if n < 1 || members < 1 {
				return fmt.Errorf("--shards and --members must be at least 1")
			}
			sets := make([]*memshard.ReplicaSet, 0, n)
			defer func() {
				for _, rs := range sets {
					_ = rs.Close()
				}
			}()
			cfgs := make([]shards.Config, 0, n)
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("rs%d", i)
				opts := []memshard.Option{memshard.WithLogger(log.With().Str("memshard", name).Logger()),
					memshard.WithMaxClockDrift(c.Int64("max-acceptable-logical-clock-drift-secs"))}
				if kf := c.String("keyfile"); kf != "" { // the shards share the router's key file, as a real cluster
					opts = append(opts, memshard.WithKeyFile(kf))
				}
				rs, err := memshard.StartReplicaSet(name, members, opts...)
				if err != nil {
					return err
				}
				sets = append(sets, rs)
				cfgs = append(cfgs, withPoolSettings(c, shards.Config{Name: name, SetName: name, Hosts: rs.Hosts()}))
			}
			routers := c.Int("routers")
			if routers < 1 {
				return fmt.Errorf("--routers must be at least 1")
			}
			return runRouter(c, log, cfgs, routers, func(addrs []string) {
				w := c.App.Writer
				for _, addr := range addrs {
					fmt.Fprintf(w, "router: mongodb://%s/\n", addr)
				}
				addr := addrs[0]
				for _, rs := range sets {
					fmt.Fprintf(w, "shard %s: %s\n", rs.Name(), rs.URI())
				}
				fmt.Fprintf(w, "try:    mongosh mongodb://%s/ --eval 'db.demo.insertOne({hello: \"world\"})'\n", addr)
				fmt.Fprintln(w, "Ctrl-C stops everything.")
			})
		},
	}
}
