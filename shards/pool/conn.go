package pool

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/address"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/description"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/mnet"

	"github.com/mongos-lite/mongos-lite/internal/deadline"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// readBufferBytes holds a typical reply whole, so one read system call gets it.
const readBufferBytes = 16 << 10

var connIDs atomic.Int64

// aLongTimeAgo is a deadline in the past: setting it makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// Conn is one connection to a member, lent to one caller at a time. Besides RoundTrip and Send,
// it implements the driver's mnet.ReadWriteCloser and mnet.Describer, for the handshake and for
// SDAM's judgement of its errors.
type Conn struct {
	pool      *Pool
	nc        net.Conn
	br        *bufio.Reader
	id        int64
	gen       uint64 // the pool's generation when it was made
	desc      description.Server
	serverID  *int64
	idleSince time.Time
	interrupt func() // unblocks I/O when a caller's context ends early
	// interrupted receives when interrupt has run, so that a late one cannot cut short the
	// next caller's I/O.
	interrupted chan struct{}
	oidcGen     uint64
}

func newConn(p *Pool, nc net.Conn) *Conn {
	c := &Conn{pool: p, nc: nc, br: bufio.NewReaderSize(nc, readBufferBytes),
		id: connIDs.Add(1), gen: p.gen.Load()}
	c.interrupted = make(chan struct{}, 1)
	c.interrupt = func() {
		_ = nc.SetDeadline(aLongTimeAgo)
		c.interrupted <- struct{}{}
	}
	return c
}

func (c *Conn) handshake(ctx context.Context, h driver.Handshaker) error {
	mc := mnet.NewConnection(c)
	info, err := h.GetHandshakeInformation(ctx, c.pool.addr, mc)
	if err != nil {
		return err
	}
	c.desc, c.serverID = info.Description, info.ServerConnectionID
	return h.FinishHandshake(ctx, mc)
}

// RoundTrip writes the request frame msg and reads the one reply frame, into dst's storage
// when it is large enough. Any error leaves the connection unusable: Discard it.
func (c *Conn) RoundTrip(ctx context.Context, msg, dst []byte) ([]byte, error) {
	var reply []byte
	err := c.guard(ctx, func() error {
		if _, err := c.nc.Write(msg); err != nil {
			return err
		}
		var err error
		reply, err = wire.ReadFrame(c.br, dst[:0])
		return err
	})
	return reply, err
}

// Send writes a request that gets no reply (moreToCome).
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	return c.guard(ctx, func() error {
		_, err := c.nc.Write(msg)
		return err
	})
}

// guard runs io under ctx: its deadline becomes the socket's, and a context that can end early
// (cancelled) interrupts the I/O. A context that only has a deadline costs nothing more.
func (c *Conn) guard(ctx context.Context, io func() error) error {
	at, _ := ctx.Deadline() // zero: no deadline
	if err := c.nc.SetDeadline(at); err != nil {
		return err
	}
	if deadline.Only(ctx) || ctx.Done() == nil {
		return io()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, c.interrupt)
	err := io()
	if !stop() {
		<-c.interrupted // it may still be running: wait, so it cannot hit the next caller
		if err != nil {
			// The context ended mid-exchange: report why, not the deadline set to interrupt.
			return fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
	}
	return err
}

// Read implements mnet.ReadWriteCloser (the handshake's replies); the frame is the caller's.
func (c *Conn) Read(ctx context.Context) ([]byte, error) {
	var frame []byte
	err := c.guard(ctx, func() error {
		var err error
		frame, err = wire.ReadFrame(c.br, nil)
		return err
	})
	return frame, err
}

// Write implements mnet.ReadWriteCloser.
func (c *Conn) Write(ctx context.Context, msg []byte) error { return c.Send(ctx, msg) }

// Close implements mnet.ReadWriteCloser and does nothing: the driver "closes" the connection
// after each handshake command, as it returns its own to its pool. The pool closes its
// connections (Discard, Clear, Close).
func (c *Conn) Close() error { return nil }

// Description implements mnet.Describer: the member as its handshake described it.
func (c *Conn) Description() description.Server { return c.desc }

// ID implements mnet.Describer.
func (c *Conn) ID() string { return fmt.Sprintf("%s[-%d]", c.pool.cfg.Addr, c.id) }

// ServerConnectionID implements mnet.Describer.
func (c *Conn) ServerConnectionID() *int64 { return c.serverID }

// DriverConnectionID implements mnet.Describer.
func (c *Conn) DriverConnectionID() int64 { return c.id }

// Address implements mnet.Describer.
func (c *Conn) Address() address.Address { return c.pool.addr }

// Stale implements mnet.Describer: the pool was cleared after c was made.
func (c *Conn) Stale() bool { return c.gen != c.pool.gen.Load() }

// OIDCTokenGenID implements mnet.Describer.
func (c *Conn) OIDCTokenGenID() uint64 { return c.oidcGen }

// SetOIDCTokenGenID implements mnet.Describer.
func (c *Conn) SetOIDCTokenGenID(id uint64) { c.oidcGen = id }
