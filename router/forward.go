package router

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards"
)

// forwardToPrimary sends the command to its database's primary shard, to the member its read
// preference selects.
func (c *conn) forwardToPrimary(ctx context.Context, r *request, create bool) (bsoncore.Document, error) {
	idx, err := c.s.cluster.PrimaryShard(ctx, r.DB, create)
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
	rp, err := shards.ReadPrefFrom(r.Body)
	if err != nil {
		return nil, err
	}
	labels := labelContext(r.Name, r)
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
	c.fwd = c.appendForward(c.fwd[:0], r, rp)
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
	c.trackOperationTime(m.Body)
	if r.op.HasLSID {
		// The refresh job refreshes and ends the session on the shards that saw it.
		_ = c.s.sessions.MarkSeen(r.op.LSID, idx)
	}
	return m.Body, host, nil
}

// appendForward builds the frame sent to a shard: the client's command as authorized, with
// every generic argument handled as internal/command decides (docs/generic-arguments.md): the
// command's own fields and the forwarded generic arguments pass as sent, document sequences
// included; internal arguments are dropped; the router appends its own lsid, cluster time, read
// preference, client metadata, audit identity and write-blocking bypass.
func (c *conn) appendForward(dst []byte, r *request, rp shards.ReadPref) []byte {
	start := len(dst)
	dst = wiremessage.AppendHeader(dst, 0, 0, 0, wire.OpMsg)
	dst = wiremessage.AppendMsgFlags(dst, r.flags&wire.MoreToCome)
	dst = wiremessage.AppendMsgSectionType(dst, wiremessage.SingleDocument)
	idx, dst := bsoncore.AppendDocumentStart(dst)
	var sent clientArgs
	eachElement(r.Body, func(el bsoncore.Element) bool {
		key := el.KeyBytes()
		switch command.DispositionOf(key) {
		case command.Own, command.Forward:
			dst = append(dst, el...)
		case command.Replace:
			// Sent only by a client allowed to (CheckGeneric): its own value is the router's.
			switch string(key) {
			case "$audit":
				if r.who.auth {
					dst, sent.audit = append(dst, el...), true
				}
			case "mayBypassWriteBlocking":
				dst, sent.bypass = append(dst, el...), true
			}
		}
		return true
	})
	dst = c.appendRouterArgs(dst, r, rp, sent)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	for _, s := range r.Sequences {
		dst = wire.AppendSequence(dst, s)
	}
	wire.SetLength(dst[start:])
	return dst
}

// clientArgs records the replaceable arguments a client was allowed to send itself.
type clientArgs struct{ audit, bypass bool }

// appendRouterArgs appends the generic arguments the router sends of its own, as mongos's
// egress hooks do (client_metadata_propagation_egress_hook.cpp): the full lsid {id, uid}, its
// cluster time, the read preference it selected the member with (none for the primary), the
// client's metadata with the router's part, the authenticated user as $audit (with --auth only)
// and whether the command may bypass user write blocking.
func (c *conn) appendRouterArgs(dst []byte, r *request, rp shards.ReadPref, sent clientArgs) []byte {
	if r.op.HasLSID {
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "lsid")
		dst = r.op.LSID.AppendDoc(dst)
	}
	if ct := c.s.clock.load(); ct != nil {
		dst = bsoncore.AppendDocumentElement(dst, "$clusterTime", ct.doc)
	}
	if rp.Mode != shards.ModePrimary {
		dst = appendReadPrefMode(dst, rp.Mode)
	}
	if c.clientMeta != nil {
		dst = append(dst, c.clientMeta...)
	}
	if !sent.audit && r.who.user != nil {
		dst = bsoncore.AppendDocumentElement(dst, "$audit", r.who.user.AuditMetadata())
	}
	if !sent.bypass {
		dst = bsoncore.AppendBooleanElement(dst, "mayBypassWriteBlocking", r.who.mayBypassWriteBlocking())
	}
	return dst
}

// appendReadPrefMode appends $readPreference: {mode}, which is what lets a secondary serve the
// command; the member needs nothing else of it.
func appendReadPrefMode(dst []byte, m shards.Mode) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "$readPreference")
	dst = bsoncore.AppendStringElement(dst, "mode", m.String())
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
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
