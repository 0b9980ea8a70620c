package router

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards"
)

// forwardToPrimary sends the command to its database's primary shard, to the member its read
// preference selects.
func (c *conn) forwardToPrimary(ctx context.Context, r *request, create bool) (bsoncore.Document, error) {
	idx, err := c.s.cluster.PrimaryShard(ctx, r.db, create)
	if err != nil {
		return nil, shards.ErrorReply(err)
	}
	return c.forwardTo(ctx, r, idx)
}

// forwardTo sends the command to shard idx: in its transaction, else retried as mongos retries
// it (see statechange.go), and with any cursor it opens registered.
func (c *conn) forwardTo(ctx context.Context, r *request, idx int) (bsoncore.Document, error) {
	if r.op.Autocommit {
		return c.transactionStatement(ctx, r, idx)
	}
	rp, err := shards.ReadPrefFrom(r.body)
	if err != nil {
		return nil, err
	}
	labels := labelContext(r.name, r)
	policy := retryPolicyOf(r, labels)
	reply, host, err := c.exchange(ctx, idx, rp, "", r)
	for i := 0; i < maxShardRetries && policy.retry(ctx, labels.RetryableWrite, reply, err); i++ {
		// The member stepped down, is shutting down or could not be reached: the shards package
		// has told SDAM, so selection waits for the member the set now has.
		c.logRetry(idx, reply, err)
		reply, host, err = c.exchange(ctx, idx, rp, "", r)
	}
	if err != nil {
		if labels.RetryableWrite {
			err = mongoerr.As(err).AddServerLabels(labels)
		}
		return nil, err
	}
	if reply == nil {
		return nil, nil
	}
	c.trackCursor(reply, idx, host, r)
	return reply, nil
}

// exchange forwards r to shard idx (to host when given, else by rp) and returns the shard's
// reply body as the member sent it, or nil for a moreToCome request.
func (c *conn) exchange(ctx context.Context, idx int, rp shards.ReadPref, host string, r *request) (bsoncore.Document, string, error) {
	c.fwd = c.appendForward(c.fwd[:0], r)
	shard := c.s.shards[idx]
	var frame []byte
	var err error
	start := time.Now()
	defer func() { c.shardTime += time.Since(start) }()
	if host != "" {
		frame, err = shard.RoundTripHost(ctx, host, c.fwd, c.rep)
	} else {
		frame, host, err = shard.RoundTrip(ctx, rp, c.fwd, c.rep)
	}
	if frame != nil {
		c.rep = frame[:0] // the reply stays valid until the next round trip
	}
	if cap(c.fwd) > keepBufferBytes {
		c.fwd = nil
	}
	if err != nil {
		return nil, host, shards.ErrorReply(err)
	}
	if frame == nil {
		return nil, host, nil
	}
	m, err := wire.ParseMsg(frame)
	if err != nil {
		return nil, host, mongoerr.New(mongoerr.ProtocolError, "shard %s (%s) sent a malformed reply: %v", shard.Name(), host, err)
	}
	if err := c.s.clock.observe(m.Body); err != nil {
		return nil, host, err
	}
	if r.op.HasLSID {
		// The refresh job refreshes and ends the session on the shards that saw it.
		_ = c.s.sessions.MarkSeen(r.op.LSID, idx)
	}
	return m.Body, host, nil
}

// appendForward builds the frame sent to a shard: the client's command with the full lsid
// {id, uid} and the router's $clusterTime in place of the client's; every other byte, document
// sequences included, passes through.
func (c *conn) appendForward(dst []byte, r *request) []byte {
	start := len(dst)
	dst = wiremessage.AppendHeader(dst, 0, 0, 0, wire.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, r.msg.Flags&wire.MoreToCome)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	eachElement(r.body, func(el bsoncore.Element) bool {
		switch string(el.KeyBytes()) {
		case "$clusterTime":
			return true
		case "lsid":
			if r.op.HasLSID {
				dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "lsid")
				dst = r.op.LSID.AppendDoc(dst)
				return true
			}
		}
		dst = append(dst, el...)
		return true
	})
	if ct := c.s.clock.load(); ct != nil {
		dst = bsoncore.AppendDocumentElement(dst, "$clusterTime", ct.doc)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	for _, s := range r.msg.Sequences {
		dst = wire.AppendSequence(dst, s)
	}
	wire.SetLength(dst[start:])
	return dst
}

func hasLabel(reply bsoncore.Document, label string) bool {
	v, ok := lookup(reply, "errorLabels")
	if !ok {
		return false
	}
	arr, _ := v.ArrayOK()
	vals, _ := arr.Values()
	for _, l := range vals {
		if s, _ := l.StringValueOK(); s == label {
			return true
		}
	}
	return false
}
