// Package bench is the load generator behind `mongos-lite bench`: it runs one workload with the
// official Go driver against a URI (and, to compare, against a second URI in alternating rounds)
// and reports throughput, latency percentiles and errors. Any MongoDB deployment will do; the
// data it writes lives in its own database, dropped at the end.
package bench

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Workloads.
const (
	FindID       = "find-id"       // find one document by _id
	Insert       = "insert"        // insert one small document
	Mixed        = "mixed"         // 80% find-id, 20% insert
	SessionChurn = "session-churn" // startSession, one find in a new session, endSessions
	KillFanout   = "kill-fanout"   // open a cursor in each of N sessions, then killSessions (timed)
)

// Workloads lists every workload name, in the order help shows them.
var Workloads = []string{FindID, Insert, Mixed, SessionChurn, KillFanout}

// Limits keep a mistyped flag from exhausting the machine or the target.
const (
	MaxConcurrency = 10_000
	MaxDocs        = 10_000_000
	MaxSessions    = 10_000
	MaxDuration    = 24 * time.Hour
	MaxRounds      = 1000
)

// Config is one benchmark run. Zero values take the defaults noted.
type Config struct {
	URI        string // required
	CompareURI string // optional: the same workload runs against it too, rounds alternating
	Workload   string // default find-id

	Concurrency int           // clients issuing operations at once (default 16)
	Duration    time.Duration // time spent on each target, over all rounds (default 10s)
	Rounds      int           // rounds per target, alternating when comparing (default 4 when comparing, else 1)
	MaxOps      int64         // stop each target after this many operations (0: no limit)
	Docs        int           // documents seeded for finds (default 1000)
	Sessions    int           // kill-fanout: sessions (each with an open cursor) per killSessions (default 4)
	OpTimeout   time.Duration // deadline of one operation (default 10s)
	Database    string        // where the documents live (default mongos_lite_bench); dropped at the end

	// Progress, when set (a terminal), gets a live progress line rewritten in place.
	Progress io.Writer
}

func (c Config) withDefaults() Config {
	if c.Workload == "" {
		c.Workload = FindID
	}
	if c.Concurrency == 0 {
		c.Concurrency = 16
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rounds == 0 {
		c.Rounds = 1
		if c.CompareURI != "" {
			c.Rounds = 4
		}
	}
	if c.Docs == 0 {
		c.Docs = 1000
	}
	if c.Sessions == 0 {
		c.Sessions = 4
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 10 * time.Second
	}
	if c.Database == "" {
		c.Database = "mongos_lite_bench"
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.URI == "":
		return fmt.Errorf("a URI to benchmark is required")
	case !slices.Contains(Workloads, c.Workload):
		return fmt.Errorf("unknown workload %q (one of %v)", c.Workload, Workloads)
	case c.Concurrency < 1 || c.Concurrency > MaxConcurrency:
		return fmt.Errorf("concurrency %d outside 1..%d", c.Concurrency, MaxConcurrency)
	case c.Duration <= 0 || c.Duration > MaxDuration:
		return fmt.Errorf("duration %v outside (0, %v]", c.Duration, MaxDuration)
	case c.Rounds < 1 || c.Rounds > MaxRounds:
		return fmt.Errorf("rounds %d outside 1..%d", c.Rounds, MaxRounds)
	case c.MaxOps < 0:
		return fmt.Errorf("max ops %d is negative", c.MaxOps)
	case c.Docs < 2 || c.Docs > MaxDocs:
		// kill-fanout needs a second document so that a batch of one leaves its cursor open.
		return fmt.Errorf("docs %d outside 2..%d", c.Docs, MaxDocs)
	case c.Sessions < 1 || c.Sessions > MaxSessions:
		return fmt.Errorf("sessions %d outside 1..%d", c.Sessions, MaxSessions)
	case c.OpTimeout <= 0:
		return fmt.Errorf("operation timeout %v is not positive", c.OpTimeout)
	}
	return nil
}
