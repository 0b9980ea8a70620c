package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// setupTimeout bounds connecting, seeding and tidying up one target.
const setupTimeout = 2 * time.Minute

// Result is what one target did over all its rounds.
type Result struct {
	URI      string // as given, password redacted
	Ops      int64  // operations that succeeded
	Errors   int64  // operations that failed
	Elapsed  time.Duration
	Latency  Histogram // of successful operations
	FirstErr string    // the first failure, for the report ("" when none)
}

// Throughput is successful operations per second.
func (r *Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// target is one deployment under test, with its clients' workers and counters.
type target struct {
	client  *mongo.Client
	workers []*worker
	hists   []Histogram // one per worker, merged into the result at the end
	result  *Result

	ops, errs atomic.Int64 // live counts, read by the progress line
	errOnce   sync.Once
}

// Run runs cfg's workload against cfg.URI and, when given, cfg.CompareURI, alternating rounds
// between them so that both see the same conditions. Cancelling ctx stops it early with an
// error. It drops cfg.Database on each target at the end.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	uris := []string{cfg.URI}
	if cfg.CompareURI != "" {
		uris = append(uris, cfg.CompareURI)
	}
	targets := make([]*target, 0, len(uris))
	defer func() {
		for _, t := range targets {
			t.close(cfg)
		}
	}()
	for _, uri := range uris {
		t, err := openTarget(ctx, cfg, uri)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", redact(uri), err)
		}
		targets = append(targets, t)
	}
	prog := startProgress(cfg.Progress, cfg.Rounds)
	defer prog.stop()
	done := make([]int64, len(targets)) // operations issued so far, for MaxOps
	for round := range cfg.Rounds {
		// The rounds share the duration; the last one takes what division left over.
		d := cfg.Duration / time.Duration(cfg.Rounds)
		if round == cfg.Rounds-1 {
			d = cfg.Duration - d*time.Duration(cfg.Rounds-1)
		}
		for i, t := range targets {
			var limit int64
			if cfg.MaxOps > 0 {
				// Spread what is left over the rounds left, rounding up.
				left := int64(cfg.Rounds - round)
				if limit = (cfg.MaxOps - done[i] + left - 1) / left; limit == 0 {
					continue // all done in earlier rounds
				}
			}
			prog.set(t, round)
			done[i] += t.round(ctx, cfg, d, limit)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	prog.stop()
	rep := &Report{Config: cfg}
	for _, t := range targets {
		for i := range t.hists {
			t.result.Latency.Merge(&t.hists[i])
		}
		t.result.Ops, t.result.Errors = t.ops.Load(), t.errs.Load()
		rep.Results = append(rep.Results, t.result)
	}
	return rep, nil
}

// openTarget connects, seeds and builds the workers of one target.
func openTarget(ctx context.Context, cfg Config, uri string) (*target, error) {
	opts := options.Client().ApplyURI(uri).SetAppName("mongos-lite-bench").
		SetMaxPoolSize(uint64(max(cfg.Concurrency, 100))).SetServerSelectionTimeout(cfg.OpTimeout)
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, err
	}
	t := &target{client: client, result: &Result{URI: redact(uri)}}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if err := seed(ctx, client.Database(cfg.Database), cfg.Docs); err != nil {
		t.close(cfg)
		return nil, err
	}
	for i := range cfg.Concurrency {
		w, err := newWorker(ctx, cfg, client, i)
		if err != nil {
			t.close(cfg)
			return nil, err
		}
		t.workers = append(t.workers, w)
	}
	t.hists = make([]Histogram, cfg.Concurrency)
	return t, nil
}

// round runs every worker for d (or until limit operations, when positive) and returns how
// many operations were issued under the limit (0 without one). Operations in flight when d ends finish, within their deadline,
// and count; their time is part of the round's.
func (t *target) round(ctx context.Context, cfg Config, d time.Duration, limit int64) int64 {
	roundCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var issued atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, w := range t.workers {
		h := &t.hists[i]
		wg.Go(func() {
			for roundCtx.Err() == nil && (limit <= 0 || issued.Add(1) <= limit) {
				t.runOne(ctx, cfg.OpTimeout, w, h)
			}
		})
	}
	wg.Wait()
	t.result.Elapsed += time.Since(start)
	// Each worker's last Add, the one refused, went past the limit.
	return min(issued.Load(), limit)
}

// runOne runs one operation of w with its own deadline, derived from the run's context (not
// the round's: an operation cut at the end of a round would count as a failure).
func (t *target) runOne(ctx context.Context, timeout time.Duration, w *worker, h *Histogram) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if w.before != nil {
		if err := w.before(ctx); err != nil {
			t.fail(err)
			return
		}
	}
	start := time.Now()
	err := w.op(ctx)
	took := time.Since(start)
	if err != nil {
		t.fail(err)
		return
	}
	h.Record(took)
	t.ops.Add(1)
}

func (t *target) fail(err error) {
	t.errs.Add(1)
	t.errOnce.Do(func() { t.result.FirstErr = err.Error() })
}

// close ends the workers' sessions, drops the benchmark's database and disconnects.
func (t *target) close(cfg Config) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	for _, w := range t.workers {
		if w.close != nil {
			w.close(ctx)
		}
	}
	err := t.client.Database(cfg.Database).Drop(ctx)
	err = errors.Join(err, t.client.Disconnect(ctx))
	if err != nil && t.result.FirstErr == "" {
		t.result.FirstErr = "tidying up: " + err.Error()
	}
}
