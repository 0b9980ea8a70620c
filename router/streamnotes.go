package router

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/sessionfanout"
)

// A shard with no writes has no events and its postBatchResumeToken stands still, so it would
// hold a merged stream back forever: no event of another shard may be returned past it. mongos
// relies on its shards' periodic no-op oplog writes (every 10 s) for this. The router does not
// wait for them: when a shard's promise is behind the smallest event the stream holds, the
// router writes a no-op note on that shard (appendOplogNote, oplog_note.cpp, as mongod's own
// periodic no-op writer and its makeNoopWriteIfNeeded do), past that event's time. The note
// carries the router's cluster time, so the shard's clock, and the note's time, passes the
// event's; the shard's next batch then promises past it. The note is written only when the
// shard has nothing later (maxClusterTime), once per event, within the getMore's await, and by
// the getMore that needs it: no goroutine of its own (docs/architecture.md, "Change streams
// across shards").

// noteData is the note's content, for whoever reads a shard's oplog.
var noteData = bsoncore.NewDocumentBuilder().
	AppendString("msg", "mongos-lite: moving a merged change stream past an idle shard").Build()

// noteWriteTimeout bounds the wait for a note's majority write concern.
const noteWriteTimeout = 5 * time.Second

// writeNotes writes a note past event on each part's shard, at once.
func (c *conn) writeNotes(ctx context.Context, parts []*streamPart, event streamPos, deadline time.Time) {
	body := c.noteCommand(event.clusterTime())
	nctx, cancel := context.WithDeadline(ctx, later(deadline, time.Now().Add(minReopenWait)))
	defer cancel()
	results := sessionfanout.Broadcast(nctx, parts, c.s.fanoutOptions(), func(ctx context.Context, p *streamPart) (struct{}, error) {
		reply, err := c.s.cluster.Shard(p.shard).Command(ctx, body)
		if err != nil {
			return struct{}{}, err
		}
		_ = c.s.clock.observe(reply.Status.ClusterTime)
		return struct{}{}, reply.Err()
	})
	for i, res := range results {
		p := parts[i]
		p.nudged = event // once per event: a failed note leaves the shard to its own writes
		switch e := mongoerr.As(res.Err); {
		case res.Err == nil || e.Code == mongoerr.StaleClusterTime: // written, or the shard has later writes
		case e.Code == mongoerr.Unauthorized:
			p.notesRefused = true
			c.log.Warn().Str("shard", p.name).Msg("a shard refused appendOplogNote: an idle shard holds merged change streams " +
				"back until it writes (give the router's shard user appendOplogNote, or use --keyfile)")
		default:
			c.log.Debug().Str("shard", p.name).Err(res.Err).Msg("no-op note for a merged change stream failed")
		}
	}
}

// noteCommand is appendOplogNote past ts, with majority write concern (a change stream sees only
// majority-committed entries) and the router's cluster time.
func (c *conn) noteCommand(ts bson.Timestamp) bsoncore.Document {
	ts = nextTick(ts)
	b := bsoncore.NewDocumentBuilder().
		AppendInt32("appendOplogNote", 1).
		AppendDocument("data", noteData).
		AppendTimestamp("maxClusterTime", ts.T, ts.I).
		AppendDocument("writeConcern", bsoncore.NewDocumentBuilder().AppendString("w", "majority").
			AppendInt64("wtimeout", noteWriteTimeout.Milliseconds()).Build())
	if ct := c.s.clock.load(); ct != nil {
		b.AppendDocument("$clusterTime", ct.doc)
	}
	return b.AppendString("$db", "admin").Build()
}
