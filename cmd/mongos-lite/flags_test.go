package main

import (
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
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
