// Package sessionfanout sends one piece of work to many targets at once (every shard's primary
// for refreshSessions/endSessions and the session cache's refresh job, every member of every
// shard for killAllSessionsByPattern) and folds their replies into one MongoDB reply.
//
// The semantics follow mongos's kill multicaster (src/mongo/db/kill_sessions_remote.cpp and
// src/mongo/s/async_requests_sender.cpp): every target is tried, a concurrency cap and a
// per-target deadline bound the work, and no target is cancelled because another failed; only
// the caller's context stops them all.
package sessionfanout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sourcegraph/conc/panics"
	"github.com/sourcegraph/conc/pool"

	"github.com/mongos-lite/mongos-lite/internal/deadline"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Defaults of Options, those of mongos's KillSessionsMaxConcurrency and
// KillSessionsPerHostTimeoutMS startup parameters.
const (
	DefaultMaxConcurrency   = 100
	DefaultPerTargetTimeout = 60 * time.Second
)

// Options bound a broadcast. Zero values select the defaults.
type Options struct {
	// MaxConcurrency caps how many targets are called at the same time.
	MaxConcurrency int
	// PerTargetTimeout bounds each call; it starts when that target's call starts.
	PerTargetTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.MaxConcurrency <= 0 {
		o.MaxConcurrency = DefaultMaxConcurrency
	}
	if o.PerTargetTimeout <= 0 {
		o.PerTargetTimeout = DefaultPerTargetTimeout
	}
	return o
}

// Target is what a broadcast reaches: a shard, a member. String names it in raw and in errors.
type Target interface {
	comparable
	String() string
}

// Result is one target's outcome.
type Result[T Target, V any] struct {
	Target T
	Value  V
	Err    error
}

// TimeoutError is the error of a call that failed after its own PerTargetTimeout expired (as
// opposed to the caller's context ending). It wraps what the call returned.
type TimeoutError struct {
	Target string
	After  time.Duration
	Err    error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("request to %s timed out after %dms: %v", e.Target, e.After.Milliseconds(), e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// MongoCode is NetworkTimeout, which mongos reports for a host that did not answer in time.
func (e *TimeoutError) MongoCode() mongoerr.Code { return mongoerr.NetworkTimeout }

// Broadcast calls call once per distinct target, at most opts.MaxConcurrency at a time, each under
// its own context.WithTimeout(ctx, opts.PerTargetTimeout), and returns one Result per distinct
// target in order of first occurrence. It returns only when every call has returned, so call must
// honour its context. Targets not yet started when ctx ends are not called; their Err is ctx.Err().
//
// One target is called in the caller's goroutine: the common single-shard case pays for no
// goroutine. A panic in any call is re-raised in the caller as a *panics.Recovered, after every
// other call has returned.
func Broadcast[T Target, V any](ctx context.Context, targets []T, opts Options, call func(ctx context.Context, target T) (V, error)) []Result[T, V] {
	opts = opts.withDefaults()
	targets = distinct(targets)
	results := make([]Result[T, V], len(targets))
	run := func(i int) {
		results[i] = callOne(ctx, targets[i], opts.PerTargetTimeout, call)
	}
	switch len(targets) {
	case 0:
	case 1:
		// Same panic shape as the pooled case, so callers recover one type.
		var pc panics.Catcher
		pc.Try(func() { run(0) })
		pc.Repanic()
	default:
		p := pool.New().WithMaxGoroutines(min(opts.MaxConcurrency, len(targets)))
		for i := range targets {
			p.Go(func() { run(i) })
		}
		p.Wait()
	}
	return results
}

// callOne runs one target's call under its own deadline.
func callOne[T Target, V any](ctx context.Context, target T, timeout time.Duration, call func(context.Context, T) (V, error)) Result[T, V] {
	r := Result[T, V]{Target: target}
	if err := ctx.Err(); err != nil {
		r.Err = err
		return r
	}
	tctx, cancel := withTimeout(ctx, timeout)
	defer cancel()
	r.Value, r.Err = call(tctx, target)
	// Name the timeout only when it was this target's own deadline, not the caller's.
	if r.Err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
		r.Err = &TimeoutError{Target: target.String(), After: timeout, Err: r.Err}
	}
	return r
}

// withTimeout is context.WithTimeout, except under a deadline-only parent (a client command's),
// where the target's context is deadline-only too: no timer, and the shard connection needs no
// watcher for cancellation that cannot come.
func withTimeout(ctx context.Context, timeout time.Duration) (context.Context, func()) {
	if !deadline.Only(ctx) {
		return context.WithTimeout(ctx, timeout)
	}
	at := time.Now().Add(timeout)
	if parent, _ := ctx.Deadline(); parent.Before(at) {
		at = parent
	}
	tctx := deadline.New(at)
	return tctx, tctx.Release
}

// distinct drops repeated targets, keeping first occurrences in order.
func distinct[T Target](targets []T) []T {
	if len(targets) < 2 {
		return targets
	}
	seen := make(map[T]struct{}, len(targets))
	out := make([]T, 0, len(targets))
	for _, t := range targets {
		if _, dup := seen[t]; !dup {
			seen[t] = struct{}{}
			out = append(out, t)
		}
	}
	return out
}
