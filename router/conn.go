package router

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"github.com/rs/zerolog"

	"github.com/mongos-lite/mongos-lite/auth"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/deadline"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// Buffers above this size are dropped after use, so one large message does not pin memory on
// an idle connection for its whole life.
const keepBufferBytes = 1 << 20

// conn is one client connection, served by one goroutine; requests run one at a time, as on
// mongod, so its buffers need no locking.
type conn struct {
	s   *Server
	nc  net.Conn
	br  *bufio.Reader
	log zerolog.Logger
	id  int64
	in  []byte  // frame being read
	out []byte  // reply frame being built
	fwd []byte  // request frame forwarded to a shard
	rep []byte  // a shard's reply, valid until the next round trip of this connection
	req request // the command in progress

	shardTime time.Duration // shard round trips of the command in progress
	opTime    uint64        // the latest operationTime a shard reported for it (t<<32 | i)

	conv *auth.Conversation // the connection's authentication state; nil without --auth

	compressors []wiremessage.CompressorID // negotiated in hello
	sawMetadata bool                       // the client metadata document arrived
	clientMeta  []byte                     // the $client element the shards get (handshake.go)
	appName     string
	closeOnce   sync.Once

	op opState // the command in progress, as $currentOp and killOp see it (routerops.go)
}

func (s *Server) newConn(nc net.Conn) *conn {
	id := s.nextConn.Add(1)
	c := &conn{
		s:   s,
		nc:  nc,
		br:  bufio.NewReaderSize(nc, 4096),
		id:  id,
		log: s.cfg.Logger.With().Int64("conn", id).Str("remote", nc.RemoteAddr().String()).Logger().Sample(s.connLogSampler),
	}
	if s.cfg.Auth != nil {
		c.conv = s.cfg.Auth.NewConversation(nc.RemoteAddr().String())
	}
	return c
}

func (c *conn) close() { c.closeOnce.Do(func() { _ = c.nc.Close() }) }

func (c *conn) serve() {
	c.s.cfg.Observer.ConnOpened()
	defer c.s.cfg.Observer.ConnClosed()
	defer c.close()
	c.log.Debug().Msg("connection accepted")
	for {
		if idle := c.s.cfg.IdleTimeout; idle > 0 {
			_ = c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		frame, err := wire.ReadFrame(c.br, c.in)
		if err != nil {
			c.logReadError(err)
			return
		}
		if cap(frame) <= keepBufferBytes {
			c.in = frame[:0]
		} else {
			c.in = nil
		}
		reply, err := c.handle(frame)
		if err != nil {
			c.log.Warn().Err(err).Msg("closing connection")
			return
		}
		if reply == nil {
			continue
		}
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		if _, err := c.nc.Write(reply); err != nil {
			c.log.Debug().Err(err).Msg("write failed")
			return
		}
		if cap(c.out) > keepBufferBytes {
			c.out = nil
		}
		if cap(c.rep) > keepBufferBytes {
			c.rep = nil
		}
	}
}

func (c *conn) logReadError(err error) {
	switch {
	case errors.Is(err, wire.ErrBadFrame):
		c.log.Warn().Err(err).Msg("closing connection: malformed frame")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Debug().Msg("connection closed by peer")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Debug().Dur("idleTimeout", c.s.cfg.IdleTimeout).Msg("closing idle connection")
	default:
		c.log.Debug().Err(err).Msg("connection read failed")
	}
}

// handle answers one frame. It returns the reply frame (nil when none is due) or an error that
// closes the connection.
func (c *conn) handle(frame []byte) ([]byte, error) {
	h, err := wire.ParseHeader(frame)
	if err != nil {
		return nil, err
	}
	physical := len(frame)
	compressor := wire.CompressorNoop
	if h.OpCode == wire.OpCompressed {
		if frame, compressor, err = wire.Decompress(frame); err != nil {
			return nil, err
		}
		if h, err = wire.ParseHeader(frame); err != nil {
			return nil, err
		}
	}
	c.s.counters.received(physical, len(frame))
	var reply []byte
	switch h.OpCode {
	case wire.OpMsg:
		reply, err = c.handleMsg(frame)
	case wire.OpQuery:
		reply, err = c.handleQuery(frame)
	default:
		return nil, errors.New("unsupported opcode " + opName(h.OpCode))
	}
	if err != nil || reply == nil || compressor == wire.CompressorNoop {
		c.s.counters.sent(len(reply), len(reply))
		return reply, err
	}
	logical := len(reply)
	if reply, err = wire.Compress(reply, compressor); err == nil {
		c.s.counters.sent(len(reply), logical)
	}
	return reply, err
}

func opName(op wiremessage.OpCode) string { return op.String() }

// handleMsg runs one OP_MSG command.
func (c *conn) handleMsg(frame []byte) ([]byte, error) {
	m, err := wire.ParseMsg(frame)
	if err != nil {
		return c.parseErrorReply(frame, err)
	}
	start := time.Now()
	c.shardTime, c.opTime = 0, 0
	c.req = request{flags: m.Flags, start: start}
	r := &c.req
	var body bsoncore.Document
	var cmdErr error
	if c.s.beginOp() {
		body, cmdErr = c.run(m, r)
		c.s.endOp()
	} else {
		cmdErr = c.s.quiesceError()
	}
	if errors.Is(cmdErr, errCloseConnection) {
		return nil, cmdErr
	}
	defer c.observe(m.Body, start, body, cmdErr)
	if m.Flags&wire.MoreToCome != 0 {
		return nil, nil // the client asked for no reply (w:0)
	}
	c.out = c.appendReplyMsg(c.out[:0], m.Header.RequestID, body, cmdErr)
	return c.out, nil
}

// parseErrorReply answers an OP_MSG that does not parse as mongod and mongos do: with an error
// reply when the framing is sound and the fault is the content's (wire.ClosesConnection), else by
// closing the connection.
func (c *conn) parseErrorReply(frame []byte, err error) ([]byte, error) {
	h, herr := wire.ParseHeader(frame)
	if herr != nil || wire.ClosesConnection(err) || len(frame) < wire.HeaderLen+4 {
		return nil, err
	}
	if wiremessage.MsgFlag(binary.LittleEndian.Uint32(frame[wire.HeaderLen:]))&wire.MoreToCome != 0 {
		return nil, nil // the client wants no reply
	}
	c.log.Debug().Err(err).Msg("answering a request that does not parse")
	c.out = c.appendReplyMsg(c.out[:0], h.RequestID, nil, mongoerr.As(err))
	return c.out, nil
}

// observe reports the command to the observer once its reply is built.
func (c *conn) observe(body bsoncore.Document, start time.Time, reply bsoncore.Document, err error) {
	var code int32
	switch {
	case err != nil:
		code = int32(mongoerr.As(err).Code)
	case reply != nil:
		code = int32(outcome.Read(reply).Code)
	}
	c.s.cfg.Observer.CommandDone(commandName(body), time.Since(start), c.shardTime, code)
}

// run parses the command once, validates it and routes it; it returns a reply body or a command
// error.
func (c *conn) run(m wire.Msg, r *request) (bsoncore.Document, error) {
	var err error
	if r.Command, err = command.Parse(m); err != nil {
		return nil, err
	}
	c.s.counters.count(&r.Command)
	ctx := deadline.After(c.commandTimeout(r.Body))
	defer ctx.Release()
	return c.dispatch(ctx, r)
}

// commandTimeout bounds the command: its maxTimeMS when given, else the shard timeout. Nothing
// but the deadline ends a command, so its context is a deadline.Context: no timer unless a
// handler waits on it.
func (c *conn) commandTimeout(body bsoncore.Document) time.Duration {
	if v, ok := bsonview.Lookup(body, "maxTimeMS"); ok {
		if ms, ok := v.AsInt64OK(); ok && ms > 0 {
			// The shard enforces maxTimeMS itself; the margin lets its own error come back.
			return time.Duration(ms)*time.Millisecond + time.Second
		}
	}
	return c.s.cfg.ShardTimeout
}
