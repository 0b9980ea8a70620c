package router

import (
	"context"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards"
)

// forwardToPrimary sends the command to its database's primary shard, to the member its read
// preference selects, through the routers' agreement (topology.Acquire): a command on a
// collection whose metadata changes waits for the change. A command on a sharded collection
// that the router does not route itself is refused: one shard would answer for the whole.
func (c *conn) forwardToPrimary(ctx context.Context, r *request, create bool) (bsoncore.Document, error) {
	var coll []byte
	if collectionCommands[string(r.Name)] {
		coll = collectionOf(r)
	}
	if name := string(r.Name); name == "create" || name == "collMod" {
		if err := c.checkView(ctx, r); err != nil {
			return nil, err
		}
	}
	rt, hold, err := c.s.cluster.Acquire(ctx, string(r.DB), string(coll), create)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	defer hold.Release()
	if rt.Sharded && string(r.Name) != "create" { // create answers for a collection every shard has
		return nil, mongoerr.New(mongoerr.IllegalOperation,
			"%s is not supported on the sharded collection %s by mongos-lite: one shard would answer for all of them", r.Name, rt.NS)
	}
	return c.forwardTo(ctx, r, rt.Primary)
}

// collectionCommands are the forwarded commands that name a collection of their database as
// their first value; the others name none, or something else (a user, a role).
var collectionCommands = map[string]bool{
	"count": true, "distinct": true, "create": true, "collMod": true, "validate": true, "compact": true,
	"convertToCapped": true, "cloneCollectionAsCapped": true, "mapReduce": true, "reIndex": true,
	"insert": true, "update": true, "delete": true, "findAndModify": true, "findandmodify": true,
	"drop": true, "createIndexes": true, "dropIndexes": true, "deleteIndexes": true, "listIndexes": true,
	"find": true, "aggregate": true, "collStats": true,
}

// forwardTo sends the command to shard idx: in its transaction, else retried as mongos retries
// it (see statechange.go), and with any cursor it opens registered.
func (c *conn) forwardTo(ctx context.Context, r *request, idx int) (bsoncore.Document, error) {
	if r.op.Autocommit {
		return c.transactionStatement(ctx, r, idx)
	}
	rp, err := readPrefOf(r)
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
	return c.storeCursor(reply, idx, host, r)
}

// readsBySecondary are the commands whose read preference may send them to a secondary. Every
// other command (writes, DDL, anything the router does not classify) goes to the primary
// whatever the client asks, as mongos sends writes (batch_write_exec.cpp) and passthrough
// commands (ReadPreferenceSetting PrimaryOnly).
var readsBySecondary = map[string]bool{
	"find": true, "count": true, "distinct": true, "aggregate": true, "listCollections": true,
	"listIndexes": true, "dbStats": true, "collStats": true, "dataSize": true, "dbHash": true,
	"explain": true,
}

// readPrefOf is the read preference the command is routed by: the client's, parsed and checked
// as mongod checks it, for a read that may run on a secondary; the primary otherwise. An
// aggregate that writes ($out, $merge) and an explained write go to the primary.
func readPrefOf(r *request) (shards.ReadPref, error) {
	rp, err := shards.ReadPrefFrom(r.Body)
	if err != nil || !readsBySecondary[string(r.Name)] {
		return shards.Primary(), err
	}
	switch string(r.Name) {
	case "aggregate":
		if aggregateWrites(r.Body) {
			return shards.Primary(), nil
		}
	case "explain":
		inner, _ := bsonview.Lookup(r.Body, "explain")
		doc, _ := inner.DocumentOK()
		if !readsBySecondary[string(bsonview.FirstKey(doc))] {
			return shards.Primary(), nil
		}
	}
	return rp, nil
}

// aggregateWrites reports whether an aggregate ends with $out or $merge.
func aggregateWrites(body bsoncore.Document) bool {
	pv, _ := bsonview.Lookup(body, "pipeline")
	stages, _ := pv.ArrayOK()
	vals, _ := stages.Values()
	if len(vals) == 0 {
		return false
	}
	last, _ := vals[len(vals)-1].DocumentOK()
	name := string(bsonview.FirstKey(last))
	return name == "$out" || name == "$merge"
}

// exchange forwards r to shard idx (to host when given, else by rp) and returns the shard's
// reply with its status (the zero Reply for a moreToCome request). The reply stays valid until
// the connection's next round trip. The status's cluster time and operation time are taken
// here, once, for every path that reaches a shard.
func (c *conn) exchange(ctx context.Context, idx int, rp shards.ReadPref, host string, r *request) (shards.Reply, string, error) {
	if err := c.interrupted(); err != nil {
		return shards.Reply{}, host, err
	}
	c.fwd = c.appendForward(c.fwd[:0], r, rp)
	req := shards.Request{Body: c.fwd, Sequences: r.Sequences, MoreToCome: r.flags&wire.MoreToCome != 0}
	shard := c.s.cluster.Shard(idx)
	var reply shards.Reply
	var err error
	start := time.Now()
	defer func() { c.shardTime += time.Since(start) }()
	if host != "" {
		reply, err = shard.RoundTripHost(ctx, host, req, c.rep)
	} else {
		reply, host, err = shard.RoundTrip(ctx, rp, req, c.rep)
	}
	if reply.Body != nil {
		c.rep = reply.Buffer() // its storage serves the next round trip
	}
	if cap(c.fwd) > keepBufferBytes {
		c.fwd = nil
	}
	if err != nil {
		return shards.Reply{}, host, mongoerr.As(err)
	}
	if err := c.noteShardReply(reply, idx, r); err != nil {
		return shards.Reply{}, host, err
	}
	return reply, host, nil
}

// noteShardReply takes what every shard reply of a client's command tells the router: its
// cluster time and operation time, and that shard idx saw the command's session.
func (c *conn) noteShardReply(reply shards.Reply, idx int, r *request) error {
	if reply.Body == nil {
		return nil
	}
	if err := c.s.clock.observe(reply.Status.ClusterTime); err != nil {
		return err
	}
	c.opTime = max(c.opTime, reply.Status.OperationTime)
	if r.op.HasLSID {
		// The refresh job refreshes and ends the session on the shards that saw it.
		_ = c.s.sessions.MarkSeen(r.op.LSID, idx)
	}
	return nil
}

// appendForward builds the command body sent to a shard: the client's command as authorized,
// with every generic argument handled as internal/command decides (docs/generic-arguments.md):
// the command's own fields and the forwarded generic arguments pass as sent; internal arguments
// are dropped; the router appends its own lsid, cluster time, read preference, client metadata,
// audit identity and write-blocking bypass. The document sequences go to the shard as the client
// sent them, beside this body.
func (c *conn) appendForward(dst []byte, r *request, rp shards.ReadPref) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	var sent clientArgs
	bsonview.Each(r.Body, func(el bsoncore.Element) bool {
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
	v, ok := bsonview.Lookup(reply, "errorLabels")
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
