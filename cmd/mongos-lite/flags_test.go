package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mongos-lite/mongos-lite/router"
)

// Shard specs hold commas; several in one environment variable are separated by semicolons.
func TestShardSpecsFromEnvironment(t *testing.T) {
	t.Setenv("MONGOS_LITE_SHARD", "rs0=rs0/h1:1,h2:2;rs1=rs1/h3:3")
	var got []string
	app := newApp()
	for _, cmd := range app.Commands {
		if cmd.Name == "serve" {
			cmd.Action = func(c *cli.Context) error { got = c.StringSlice("shard"); return nil }
		}
	}
	if err := app.Run([]string{"mongos-lite", "serve"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"rs0=rs0/h1:1,h2:2", "rs1=rs1/h3:3"}; !slices.Equal(got, want) {
		t.Fatalf("shards %q, want %q", got, want)
	}
}

// The drift limit reaches the router's configuration, and is refused below 1, as mongod refuses it.
func TestClockDriftFlag(t *testing.T) {
	run := func(serve bool, args ...string) (router.Config, error) {
		var cfg router.Config
		app := newApp()
		for _, cmd := range app.Commands {
			if cmd.Name == "serve" {
				action := cmd.Action
				cmd.Action = func(c *cli.Context) error {
					cfg = routerConfig(c)
					if serve {
						return action(c)
					}
					return nil
				}
			}
		}
		err := app.Run(append([]string{"mongos-lite", "serve"}, args...))
		return cfg, err
	}
	if cfg, err := run(false); err != nil || cfg.MaxClockDriftSecs != 365*24*3600 {
		t.Fatalf("default: %d, %v", cfg.MaxClockDriftSecs, err)
	}
	if cfg, err := run(false, "--max-acceptable-logical-clock-drift-secs", "60"); err != nil || cfg.MaxClockDriftSecs != 60 {
		t.Fatalf("--max-acceptable-logical-clock-drift-secs 60: %d, %v", cfg.MaxClockDriftSecs, err)
	}
	_, err := run(true, "--max-acceptable-logical-clock-drift-secs", "0", "--shard", "rs0=rs0/127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "--max-acceptable-logical-clock-drift-secs must be at least 1") {
		t.Fatalf("a limit of 0: %v", err)
	}
}
