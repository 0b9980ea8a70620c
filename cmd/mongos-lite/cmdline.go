package main

import (
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mongos-lite/mongos-lite/router"
)

// mongosOptions are the flags that mean what a mongos option means, by that option's path in
// mongos's configuration file; getCmdLineOpts reports them there.
var mongosOptions = map[string]string{
	"bind":                                  "net.bindIp",
	"port":                                  "net.port",
	"max-conns":                             "net.maxIncomingConnections",
	"keyfile":                               "security.keyFile",
	"config":                                "config",
	"local-logical-session-timeout-minutes": "setParameter.localLogicalSessionTimeoutMinutes",
	"logical-session-refresh-millis":        "setParameter.logicalSessionRefreshMillis",
	"max-sessions":                          "setParameter.maxSessions",
	"kill-sessions-max-concurrency":         "setParameter.KillSessionsMaxConcurrency",
	"kill-sessions-per-host-timeout-ms":     "setParameter.KillSessionsPerHostTimeoutMS",
	"max-acceptable-logical-clock-drift-secs": "setParameter.maxAcceptableLogicalClockDriftSecs",
	"enable-test-commands":                    "setParameter.enableTestCommands",
}

// commandLine is what getCmdLineOpts reports of this process: its arguments, and each option
// set on the command line, in the environment or in the --config file, as mongos reports the
// options it parsed. mongos-lite's own options, which a mongos does not have, are under
// mongosLite.
func commandLine(c *cli.Context) router.CommandLine {
	out := router.CommandLine{Argv: os.Args}
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		if !c.IsSet(name) {
			continue
		}
		path, ok := mongosOptions[name]
		if !ok {
			path = "mongosLite." + name
		}
		out.Parsed = append(out.Parsed, router.Option{Path: path, Value: optionValue(c.Value(name))})
	}
	return out
}

// optionValue is a flag's value as BSON holds it: durations as written ("15s"), lists as
// arrays, unsigned numbers as longs.
func optionValue(v any) any {
	switch x := v.(type) {
	case time.Duration:
		return x.String()
	case uint64:
		return int64(x)
	case cli.StringSlice:
		return x.Value()
	}
	return v
}
