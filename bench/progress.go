package bench

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressEvery is how often the live line is rewritten.
const progressEvery = 250 * time.Millisecond

// progress rewrites one status line in place on a terminal while the benchmark runs. A nil
// writer makes every method a no-op.
type progress struct {
	w      io.Writer
	rounds int

	mu    sync.Mutex
	t     *target
	round int
	start time.Time
	base  int64 // the target's count when the round started

	quit chan struct{}
	done chan struct{}
	once sync.Once
}

func startProgress(w io.Writer, rounds int) *progress {
	p := &progress{w: w, rounds: rounds, quit: make(chan struct{}), done: make(chan struct{})}
	if w == nil {
		close(p.done)
		return p
	}
	go p.loop()
	return p
}

// set says which target and round now run.
func (p *progress) set(t *target, round int) {
	p.mu.Lock()
	p.t, p.round, p.start, p.base = t, round, time.Now(), t.ops.Load()
	p.mu.Unlock()
}

func (p *progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-p.quit:
			fmt.Fprint(p.w, "\r\x1b[K") // leave a clean line for the table
			return
		case <-tick.C:
			p.draw()
		}
	}
}

func (p *progress) draw() {
	p.mu.Lock()
	t, round, start, base := p.t, p.round, p.start, p.base
	p.mu.Unlock()
	if t == nil {
		return
	}
	elapsed := time.Since(start)
	ops := t.ops.Load()
	rate := float64(ops-base) / elapsed.Seconds()
	fmt.Fprintf(p.w, "\r%s  round %d/%d  %5.1fs  %d ops  %.0f ops/s  %d errors\x1b[K",
		t.result.URI, round+1, p.rounds, elapsed.Seconds(), ops, rate, t.errs.Load())
}

// stop clears the line and waits for the drawing goroutine; later calls do nothing.
func (p *progress) stop() {
	p.once.Do(func() { close(p.quit) })
	<-p.done
}
