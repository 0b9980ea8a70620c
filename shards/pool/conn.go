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
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

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
	wbuf        []byte // requests are framed here (writeMsg)
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

// Msg is an OP_MSG request for the connection to frame and write. Its body and sequences are
// written as they are and never modified, so the same ones may go to many members at once (one
// encoding of a kill command for every member of every shard).
type Msg struct {
	RequestID int32
	Flags     wiremessage.MsgFlag
	Body      []byte
	Sequences []wire.Sequence
}

// RoundTrip writes m and reads the one reply frame, into dst's storage when it is large enough.
// Any error leaves the connection unusable: Discard it.
func (c *Conn) RoundTrip(ctx context.Context, m Msg, dst []byte) ([]byte, error) {
	var reply []byte
	err := c.guard(ctx, func() error {
		if err := c.writeMsg(m); err != nil {
			return err
		}
		var err error
		reply, err = wire.ReadFrame(c.br, dst[:0])
		return err
	})
	return reply, err
}

// Send writes a request that gets no reply (moreToCome).
func (c *Conn) Send(ctx context.Context, m Msg) error {
	return c.guard(ctx, func() error { return c.writeMsg(m) })
}

// smallMsg is the size up to which a request is framed in the connection's buffer and written
// with one system call; a larger one is written from where its parts lie (writev), never copied.
const smallMsg = 64 << 10

func (c *Conn) writeMsg(m Msg) error {
	n := wire.MsgLength(m.Body, m.Sequences)
	b := wire.AppendMsgHead(c.wbuf[:0], n, m.RequestID, m.Flags)
	if n <= smallMsg {
		b = append(b, m.Body...)
		for _, s := range m.Sequences {
			b = wire.AppendSequence(b, s)
		}
		c.wbuf = b
		_, err := c.nc.Write(b)
		return err
	}
	head := len(b)
	for _, s := range m.Sequences {
		b = wire.AppendSequenceHead(b, s)
	}
	c.wbuf = b
	parts := make(net.Buffers, 0, 2+2*len(m.Sequences))
	parts = append(parts, b[:head], m.Body)
	for _, s := range m.Sequences {
		end := head + 1 + 4 + len(s.Identifier) + 1
		parts = append(parts, b[head:end], s.Raw)
		head = end
	}
	_, err := parts.WriteTo(c.nc)
	return err
}

// write writes a whole frame (the handshake's requests).
func (c *Conn) write(ctx context.Context, frame []byte) error {
	return c.guard(ctx, func() error {
		_, err := c.nc.Write(frame)
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
func (c *Conn) Write(ctx context.Context, msg []byte) error { return c.write(ctx, msg) }

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
