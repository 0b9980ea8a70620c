// Package pool keeps the router's connections to one shard member: dialled, handshaken and
// authenticated once (by the driver's handshaker, so SCRAM, the key file's internal user and
// TLS work as the driver does them), then lent out for synchronous round trips over buffered
// I/O. A round trip costs two system calls, a socket deadline and no goroutine; the driver's own
// pool starts two goroutines per round trip to watch the context and allocates every reply.
// Discovery, server selection and SDAM stay with the driver's topology (package shards).
package pool

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/address"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/mnet"
)

// Defaults, the driver's.
const (
	DefaultMaxSize        = 100
	DefaultMaxConnecting  = 2
	DefaultConnectTimeout = 30 * time.Second
)

// ErrClosed is returned once the pool is closed.
var ErrClosed = errors.New("connection pool closed")

// Config describes the pool of one member.
type Config struct {
	Addr string // host:port
	// TLS, when set, is the client side of TLS; ServerName defaults to the member's host.
	TLS *tls.Config
	// ConnectTimeout bounds dial, TLS and handshake of a new connection.
	ConnectTimeout time.Duration
	MaxSize        int // connections lent out or being made at once
	MaxConnecting  int // connections being made at once
	// MaxIdleTime closes a connection idle for longer (at the next Prune or checkout); 0 never.
	MaxIdleTime time.Duration
	// Handshaker makes the handshaker of one new connection (hello, then authentication).
	Handshaker func() driver.Handshaker
}

// Stats is a snapshot of a pool's counters.
type Stats struct {
	Addr      string
	Open      int    // connections open, idle or lent out
	InUse     int    // connections lent out
	Checkouts uint64 // successful checkouts
	Created   uint64 // connections made (dialled and handshaken) since the pool began
	// Failed checkouts by cause, named as the driver names them in its pool events.
	FailedTimeout, FailedConnection, FailedClosed uint64
	Cleared                                       uint64 // times the pool was cleared
}

// Pool is the connections to one member. It is safe for concurrent use.
type Pool struct {
	cfg   Config
	addr  address.Address
	slots chan struct{} // one token per connection lent out or being made
	dials chan struct{} // one token per connection being made
	done  chan struct{} // closed by Close

	mu     sync.Mutex
	idle   []*Conn // most recently used last
	open   map[*Conn]struct{}
	closed bool
	gen    atomic.Uint64 // bumped by Clear; written under mu

	inUse                                                          atomic.Int64
	checkouts, created, failTimeout, failConn, failClosed, cleared atomic.Uint64
}

// New returns an empty pool; connections are made on demand (or by Fill).
func New(cfg Config) *Pool {
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.MaxConnecting <= 0 {
		cfg.MaxConnecting = DefaultMaxConnecting
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	return &Pool{
		cfg:   cfg,
		addr:  address.Address(cfg.Addr),
		slots: make(chan struct{}, cfg.MaxSize),
		dials: make(chan struct{}, cfg.MaxConnecting),
		done:  make(chan struct{}),
		open:  map[*Conn]struct{}{},
	}
}

// Addr is the member's address.
func (p *Pool) Addr() string { return p.cfg.Addr }

// Get lends out a connection: the most recently returned idle one, else a new one. It waits,
// within ctx, while MaxSize connections are lent out. Give it back with Put or Discard.
func (p *Pool) Get(ctx context.Context) (*Conn, error) {
	if err := p.acquire(ctx, p.slots); err != nil {
		p.countFailure(err)
		return nil, err
	}
	for {
		c := p.popIdle()
		if c == nil {
			break
		}
		if p.fresh(c, time.Now()) {
			p.lend()
			return c, nil
		}
		p.closeConn(c)
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.slots
		p.countFailure(err)
		return nil, err
	}
	p.lend()
	return c, nil
}

// waitError is a checkout that ran out of time waiting for a slot or for a dial to start.
type waitError struct {
	addr string
	err  error
}

func (e *waitError) Error() string {
	return fmt.Sprintf("waiting for a connection to %s: %v", e.addr, e.err)
}
func (e *waitError) Unwrap() error { return e.err }

func (p *Pool) lend() {
	p.inUse.Add(1)
	p.checkouts.Add(1)
}

// Put gives back a connection whose last round trip completed; it is kept unless the pool was
// cleared or closed since it was made.
func (p *Pool) Put(c *Conn) {
	p.inUse.Add(-1)
	p.mu.Lock()
	keep := !p.closed && !c.Stale()
	if keep {
		if p.cfg.MaxIdleTime > 0 {
			c.idleSince = time.Now()
		}
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !keep {
		p.closeConn(c)
	}
	<-p.slots
}

// Discard gives back a connection that must not be reused (an I/O error, a reply that did not
// match, a stream the router will not read to its end): it is closed.
func (p *Pool) Discard(c *Conn) {
	p.inUse.Add(-1)
	p.closeConn(c)
	<-p.slots
}

// Clear makes every connection stale: idle ones are closed now, lent ones when given back. SDAM
// calls it when the member failed or changed state.
func (p *Pool) Clear() {
	p.mu.Lock()
	p.gen.Add(1)
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	p.cleared.Add(1)
	for _, c := range idle {
		p.closeConn(c)
	}
}

// Prune closes connections idle for longer than MaxIdleTime.
func (p *Pool) Prune(now time.Time) {
	if p.cfg.MaxIdleTime <= 0 {
		return
	}
	p.mu.Lock()
	var old []*Conn
	kept := p.idle[:0]
	for _, c := range p.idle {
		if p.fresh(c, now) {
			kept = append(kept, c)
		} else {
			old = append(old, c)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	p.mu.Unlock()
	for _, c := range old {
		p.closeConn(c)
	}
}

// Fill makes idle connections until min are open, without waiting for a free slot; it stops at
// the first failure (the member is down: SDAM will say so).
func (p *Pool) Fill(ctx context.Context, min int) error {
	for p.Stats().Open < min {
		select {
		case p.slots <- struct{}{}:
		default:
			return nil // the pool is busy, so not short of connections
		}
		c, err := p.dial(ctx)
		if err != nil {
			<-p.slots
			return err
		}
		p.inUse.Add(1)
		p.Put(c)
	}
	return nil
}

// Close closes every connection, lent ones included (their I/O fails at once), and refuses new
// checkouts.
func (p *Pool) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	all := make([]*Conn, 0, len(p.open))
	for c := range p.open {
		all = append(all, c)
	}
	p.idle = nil
	p.mu.Unlock()
	for _, c := range all {
		p.closeConn(c)
	}
}

// Stats returns the pool's counters.
func (p *Pool) Stats() Stats {
	p.mu.Lock()
	open := len(p.open)
	p.mu.Unlock()
	return Stats{
		Addr: p.cfg.Addr, Open: open, InUse: int(p.inUse.Load()), Checkouts: p.checkouts.Load(), Created: p.created.Load(),
		FailedTimeout: p.failTimeout.Load(), FailedConnection: p.failConn.Load(),
		FailedClosed: p.failClosed.Load(), Cleared: p.cleared.Load(),
	}
}

// acquire takes a token of sem, waiting within ctx.
func (p *Pool) acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case <-p.done:
		return ErrClosed
	default:
	}
	// The common case is decided without ctx.Done(), which would start a deadline.Context's timer.
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &waitError{addr: p.cfg.Addr, err: ctx.Err()}
	case <-p.done:
		return ErrClosed
	}
}

// countFailure counts a failed checkout as the driver names it: poolClosed, timeout (waiting),
// or connectionError (dial, TLS or handshake, whatever ended it, its deadline included).
func (p *Pool) countFailure(err error) {
	var we *waitError
	switch {
	case errors.Is(err, ErrClosed):
		p.failClosed.Add(1)
	case errors.As(err, &we):
		p.failTimeout.Add(1)
	default:
		p.failConn.Add(1)
	}
}

func (p *Pool) popIdle() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return c
}

// fresh reports whether an idle connection may be lent out again.
func (p *Pool) fresh(c *Conn, now time.Time) bool {
	if c.Stale() {
		return false
	}
	return p.cfg.MaxIdleTime <= 0 || now.Sub(c.idleSince) <= p.cfg.MaxIdleTime
}

// closeConn closes c and forgets it; closing twice is harmless.
func (p *Pool) closeConn(c *Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	_ = c.nc.Close()
}

// dial makes, handshakes and authenticates a new connection, within ctx and ConnectTimeout.
func (p *Pool) dial(ctx context.Context) (*Conn, error) {
	if err := p.acquire(ctx, p.dials); err != nil {
		return nil, err
	}
	defer func() { <-p.dials }()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return nil, err
	}
	if p.cfg.TLS != nil {
		cfg := p.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(p.cfg.Addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, err
		}
		nc = tc
	}
	c := newConn(p, nc)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		return nil, ErrClosed
	}
	p.open[c] = struct{}{} // from here Close interrupts the handshake too
	p.mu.Unlock()
	if err := c.handshake(ctx, p.cfg.Handshaker()); err != nil {
		p.closeConn(c)
		if p.isClosed() {
			return nil, ErrClosed // Close cut the handshake short: say so, not the I/O error
		}
		return nil, err
	}
	p.created.Add(1)
	return c, nil
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Describer is what SDAM needs to judge an error that came with no connection (a failed dial):
// the pool's current generation, no wire version.
func (p *Pool) Describer() mnet.Describer { return &Conn{pool: p, gen: p.gen.Load()} }
