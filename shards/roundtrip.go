package shards

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/mnet"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// Request is one command for a member: its body and document sequences, which this package
// frames as an OP_MSG. They are only read, never modified, so one Request may go to many members
// at once.
type Request struct {
	Body       bsoncore.Document
	Sequences  []wire.Sequence
	MoreToCome bool // w:0: the member sends no reply
}

// RoundTrip sends req to a member chosen by rp and returns its reply and the member's address.
// The reply is read into dst's storage when it is large enough (nil allocates). A moreToCome
// request gets no reply: the zero Reply. Errors are *HostError, or for a request without a body
// *mongoerr.Error; mongoerr.As gives the code a router answers with.
func (s *Shard) RoundTrip(ctx context.Context, rp ReadPref, req Request, dst []byte) (reply Reply, host string, err error) {
	if err := checkRequest(req); err != nil {
		return Reply{}, "", err
	}
	ctx, release := s.withDeadline(ctx)
	defer release()
	if host, err = s.selectHost(ctx, rp); err != nil {
		return Reply{}, "", err
	}
	reply, err = s.exchange(ctx, host, req, dst)
	return reply, host, err
}

// RoundTripHost is RoundTrip to one exact member (the owner of a cursor, or every member in a
// kill fan-out), whatever its current state. A host that is not a known member of the set is a
// HostNotFound error.
func (s *Shard) RoundTripHost(ctx context.Context, host string, req Request, dst []byte) (Reply, error) {
	if err := checkRequest(req); err != nil {
		return Reply{}, err
	}
	host, known := s.member(host)
	if !known {
		return Reply{}, &HostError{Shard: s.name, Set: s.setName, Host: host, Code: mongoerr.HostNotFound,
			What: "finding", Err: errors.New("not a known member of the replica set")}
	}
	ctx, release := s.withDeadline(ctx)
	defer release()
	return s.exchange(ctx, host, req, dst)
}

// withDeadline gives ctx the default deadline when it has none: every network call is bounded.
func (s *Shard) withDeadline(ctx context.Context) (context.Context, func()) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, s.sockTimeout)
	return ctx, cancel
}

// expired is an already-cancelled context. Topology.SelectServer's first pass over the current
// description does not look at its context, so with expired it picks a member without waiting
// and without the cost of a timer; only when none matches now does selection wait.
var expired = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// exchange writes msg on a pooled connection to host and reads the reply that answers it. A
// connection goes back to the pool only after a complete, matching, final reply; on any other
// outcome it is closed, so no stray reply can reach a later caller.
func (s *Shard) exchange(ctx context.Context, host string, req Request, dst []byte) (Reply, error) {
	p := s.poolFor(host)
	if p == nil {
		return Reply{}, s.newHostError(host, "connecting to", pool.ErrClosed)
	}
	conn, err := p.Get(ctx)
	if err != nil {
		s.reportIOError(host, p.Describer(), err)
		return Reply{}, s.newHostError(host, "connecting to", err)
	}
	reqID := wiremessage.NextRequestID()
	msg := pool.Msg{RequestID: reqID, Body: req.Body, Sequences: req.Sequences}
	if req.MoreToCome {
		// w:0: no reply comes, and the connection is reused, as mongos reuses it. A member that
		// answered anyway would be caught by the next round trip's responseTo check.
		msg.Flags = wire.MoreToCome
		if err := conn.Send(ctx, msg); err != nil {
			p.Discard(conn)
			s.reportIOError(host, conn, err)
			return Reply{}, s.newHostError(host, "writing to", err)
		}
		p.Put(conn)
		return Reply{}, nil
	}
	frame, err := conn.RoundTrip(ctx, msg, dst)
	if err != nil {
		p.Discard(conn)
		s.reportIOError(host, conn, err)
		return Reply{}, s.newHostError(host, "talking to", err)
	}
	reply, final, err := s.checkReply(host, frame, reqID)
	if err != nil || !final {
		p.Discard(conn) // !final: an exhaust stream, more replies would follow on this connection
		return reply, err
	}
	p.Put(conn)
	if err := sdamError(reply.Reply); err != nil {
		// A state change (not primary, shutting down, ...) marks the member unknown and asks
		// for an immediate heartbeat, so the next selection is honest.
		if srv := s.server(host); srv != nil {
			srv.ProcessError(err, conn)
		}
	}
	return reply, nil
}

// sdamError is the driver's view of a failed reply, for SDAM: nil for a success (decided by the
// status, without allocating); the driver reads its own error out of a failure, the rare path.
func sdamError(r outcome.Reply) error {
	if r.Status.Failure() == 0 {
		return nil
	}
	return driver.ExtractErrorFromServerResponse(r.Body)
}

// reportIOError tells SDAM about a failed dial or I/O on host: a network error marks the member
// unknown and clears its pools; timeouts and cancellations change nothing.
func (s *Shard) reportIOError(host string, d mnet.Describer, err error) {
	if errors.Is(err, pool.ErrClosed) {
		return
	}
	if srv := s.server(host); srv != nil {
		srv.ProcessError(topology.ConnectionError{ConnectionID: d.ID(), Wrapped: err}, d)
	}
}

// checkRequest refuses a request without a body: a caller's mistake, not the member's.
func checkRequest(req Request) error {
	if len(req.Body) < 5 {
		return mongoerr.New(mongoerr.InternalError, "shards: request without a command body (%d bytes)", len(req.Body))
	}
	return nil
}

// checkReply verifies that frame answers request reqID and is a well-formed OP_MSG
// (decompressing OP_COMPRESSED), and reads its status. final is false when the member set
// moreToCome (exhaust): more replies would follow.
func (s *Shard) checkReply(host string, frame []byte, reqID int32) (reply Reply, final bool, err error) {
	h, err := wire.ParseHeader(frame)
	if err != nil {
		return Reply{}, false, s.protocolError(host, "%v", err)
	}
	if h.ResponseTo != reqID {
		return Reply{}, false, s.protocolError(host, "reply has responseTo %d, the request was %d", h.ResponseTo, reqID)
	}
	if h.OpCode == wire.OpCompressed {
		if frame, _, err = wire.Decompress(frame); err != nil {
			return Reply{}, false, s.protocolError(host, "%v", err)
		}
	}
	m, err := wire.ParseMsg(frame)
	if err != nil {
		return Reply{}, false, s.protocolError(host, "%v", err)
	}
	return Reply{Reply: outcome.NewReply(m.Body), frame: frame}, m.Flags&wire.MoreToCome == 0, nil
}

// Command runs one command document (with its $db) on the shard's primary; the router's own
// metadata reads and writes use it. A reply that is not ok is returned as is, for the caller to
// judge (Reply.Err).
func (s *Shard) Command(ctx context.Context, body bsoncore.Document) (Reply, error) {
	reply, _, err := s.RoundTrip(ctx, Primary(), Request{Body: body}, nil)
	return reply, err
}

// CommandHost runs one command document on the given member. body is only read: the same one
// may go to every member at once.
func (s *Shard) CommandHost(ctx context.Context, host string, body bsoncore.Document) (Reply, error) {
	return s.RoundTripHost(ctx, host, Request{Body: body}, nil)
}
