package router

import (
	"sync/atomic"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

var replyRequestID atomic.Int32

// appendReplyMsg appends the OP_MSG reply frame answering requestID. The body is a shard's or a
// local reply (nil means {ok: 1}); a non-nil err replaces it with an error reply. Either way the
// router's $clusterTime, signed by the router (clock.go), replaces any other, and operationTime is
// added when the body has none.
func (c *conn) appendReplyMsg(dst []byte, requestID int32, body bsoncore.Document, err error) []byte {
	start := len(dst)
	dst = wiremessage.AppendHeader(dst, 0, replyRequestID.Add(1), requestID, wire.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, 0)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	dst = c.appendReplyBody(dst, body, err)
	wire.SetLength(dst[start:])
	return dst
}

// appendReplyBody appends the reply document itself (shared by OP_MSG and OP_REPLY). The generic
// reply fields mongos does not pass on from shards are left out (internal/command.FromShard);
// the router's $clusterTime, signed by the router (clock.go), replaces a shard's, and
// operationTime is the latest a shard reported for this command (mongos's OperationTimeTracker),
// else the router's cluster time.
func (c *conn) appendReplyBody(dst []byte, body bsoncore.Document, err error) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	switch {
	case err != nil:
		dst = mongoerr.As(err).AppendFields(dst)
	case body == nil:
		dst = bsoncore.AppendDoubleElement(dst, "ok", 1)
	default:
		bsonview.Each(body, func(el bsoncore.Element) bool {
			if command.FromShard(el.KeyBytes()) {
				dst = append(dst, el...)
			}
			return true
		})
	}
	ct := c.s.clock.load()
	if ct != nil {
		dst = c.s.clock.appendOut(dst, ct.ts, c.clockSender())
	}
	switch {
	case c.opTime != 0:
		dst = bsoncore.AppendTimestampElement(dst, "operationTime", uint32(c.opTime>>32), uint32(c.opTime))
	case ct != nil:
		dst = bsoncore.AppendTimestampElement(dst, "operationTime", ct.ts.T, ct.ts.I)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func tsKey(t, i uint32) uint64 { return uint64(t)<<32 | uint64(i) }
