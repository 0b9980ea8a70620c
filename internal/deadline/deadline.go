// Package deadline is a context that ends only at its deadline and creates no timer until
// somebody waits on it. The router bounds every command with one; the shard connections it
// reaches read only the deadline (as a socket deadline), so the common command never pays for the
// timer, the cancel function and the done channel of context.WithTimeout.
package deadline

import (
	"context"
	"sync"
	"time"
)

// Context is a context.Context with a deadline and no parent: no value, no cancellation before
// the deadline. Release it when done with it.
type Context struct {
	at time.Time

	once   sync.Once
	inner  context.Context // a real timer context, made by the first Done or AfterFunc
	cancel context.CancelFunc
}

// New returns a context that ends at at.
func New(at time.Time) *Context { return &Context{at: at} }

// After returns a context that ends d from now.
func After(d time.Duration) *Context { return New(time.Now().Add(d)) }

// Only reports whether ctx is a *Context: whoever holds it needs to honour the deadline and
// nothing else.
func Only(ctx context.Context) bool {
	_, ok := ctx.(*Context)
	return ok
}

func (c *Context) materialize() context.Context {
	c.once.Do(func() { c.inner, c.cancel = context.WithDeadline(context.Background(), c.at) })
	return c.inner
}

// Deadline implements context.Context.
func (c *Context) Deadline() (time.Time, bool) { return c.at, true }

// Done implements context.Context; the first call starts the timer.
func (c *Context) Done() <-chan struct{} { return c.materialize().Done() }

// Err implements context.Context. It follows the clock, not the timer, so it needs no lock.
func (c *Context) Err() error {
	if !time.Now().Before(c.at) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context: there are none.
func (c *Context) Value(any) any { return nil }

// AfterFunc lets contexts derived from c (context.WithCancel and the like) follow it without a
// goroutine of their own.
func (c *Context) AfterFunc(f func()) func() bool { return context.AfterFunc(c.materialize(), f) }

// Release stops the timer, if one was started. A late Done after Release is already closed.
func (c *Context) Release() {
	c.once.Do(func() { c.inner = ended })
	if c.cancel != nil {
		c.cancel()
	}
}

// ended is what a Context released before anybody waited on it hands out.
var ended = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()
