package main

import (
	"os"
	"slices"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mongos-lite/mongos-lite/router"
)

// TestCommandLineReported: getCmdLineOpts gets the process's arguments and every option set on
// the command line or in the environment, at mongos's path when mongos has the option and under
// mongosLite otherwise; options left at their defaults are not reported, as on mongos.
func TestCommandLineReported(t *testing.T) {
	t.Setenv("MONGOS_LITE_BIND", "0.0.0.0")
	var got router.CommandLine
	app := newApp()
	for _, cmd := range app.Commands {
		if cmd.Name == "serve" {
			cmd.Action = func(c *cli.Context) error { got = routerConfig(c).CommandLine; return nil }
		}
	}
	err := app.Run([]string{"mongos-lite", "serve", "--port", "28000", "--max-sessions", "5",
		"--shard", "rs0=rs0/h:1", "--shutdown-timeout", "3s", "--shard-max-pool-size", "7"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"net.port": 28000, "net.bindIp": "0.0.0.0", "setParameter.maxSessions": 5,
		"mongosLite.shard": []string{"rs0=rs0/h:1"}, "mongosLite.shutdown-timeout": "3s", "mongosLite.shard-max-pool-size": int64(7),
	}
	if len(got.Parsed) != len(want) {
		t.Fatalf("parsed %v, want %v", got.Parsed, want)
	}
	for _, o := range got.Parsed {
		w, ok := want[o.Path]
		if s, isSlice := w.([]string); isSlice {
			if v, _ := o.Value.([]string); !slices.Equal(v, s) {
				t.Errorf("%s = %#v, want %#v", o.Path, o.Value, w)
			}
			continue
		}
		if !ok || o.Value != w {
			t.Errorf("%s = %#v, want %#v", o.Path, o.Value, w)
		}
	}
	if !slices.Equal(got.Argv, os.Args) {
		t.Errorf("argv %q, want the process's %q", got.Argv, os.Args)
	}
}
