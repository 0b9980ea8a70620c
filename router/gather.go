package router

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/sessionfanout"
	"github.com/mongos-lite/mongos-lite/shards"
)

// fanoutBody is the client's command as the router sends it to every shard on the client's
// behalf: built as any forwarded command (appendForward), but outside the client's session, since
// the router reads the shards' cursors to their end itself.
func (c *conn) fanoutBody(r *request) bsoncore.Document {
	sub := *r
	sub.op = sessionid.OpInfo{}
	return c.appendForward(nil, &sub, shards.Primary())
}

// gatherTarget is a member of a shard (its primary when host is empty) that a gather reads;
// raw names it by the shard's name and the host.
type gatherTarget struct {
	i     int // its place in the gather's target list
	shard *shards.Shard
	host  string
}

func (t gatherTarget) String() string {
	if t.host == "" {
		return t.shard.Name()
	}
	return t.shard.Name() + "/" + t.host
}

// primaryTargets are the shards' primaries.
func (s *Server) primaryTargets() []gatherTarget {
	var targets []gatherTarget
	for _, sh := range s.cluster.Shards() {
		targets = append(targets, gatherTarget{i: len(targets), shard: sh})
	}
	return targets
}

// memberTargets are every member of every shard.
func (s *Server) memberTargets() []gatherTarget {
	var targets []gatherTarget
	for _, sh := range s.cluster.Shards() {
		for _, host := range sh.Members() {
			targets = append(targets, gatherTarget{i: len(targets), shard: sh, host: host})
		}
	}
	return targets
}

// gather runs body, a cursor command, on every target at once and reads each target's cursor to
// its end on the member that opened it. It serves the commands that answer for the whole
// cluster with results the router holds in memory ($currentOp, $listSessions,
// checkMetadataConsistency). docs[i] are targets[i]'s documents; failed is the folded error
// reply (sessionfanout.Aggregate) when a target failed, nil otherwise.
func (s *Server) gather(ctx context.Context, body bsoncore.Document, targets []gatherTarget) (docs [][]bsoncore.Document, failed bsoncore.Document) {
	docs = make([][]bsoncore.Document, len(targets))
	defer s.observeFanout(body, len(targets), time.Now())
	results := sessionfanout.Broadcast(ctx, targets, s.fanoutOptions(),
		func(ctx context.Context, t gatherTarget) (outcome.Reply, error) {
			var reply outcome.Reply
			var err error
			docs[t.i], reply, err = drainCursor(ctx, t.shard, t.host, body)
			return reply, err
		})
	for _, res := range results {
		if sessionfanout.Failure(res) != nil {
			return nil, sessionfanout.Aggregate(results, nil)
		}
	}
	return docs, nil
}

// drainCursor runs a cursor command on a member of sh (its primary when host is empty) and
// getMores the cursor to its end. reply is the last reply: a failed one when the cursor could not
// be read to its end.
func drainCursor(ctx context.Context, sh *shards.Shard, host string, body bsoncore.Document) (docs []bsoncore.Document, reply outcome.Reply, err error) {
	var first shards.Reply
	if host == "" {
		first, host, err = sh.RoundTrip(ctx, shards.Primary(), shards.Request{Body: body}, nil)
	} else {
		first, err = sh.CommandHost(ctx, host, body)
	}
	if err != nil || !first.Status.OK {
		return nil, first.Reply, err
	}
	docs = appendBatch(docs, first.Body, "firstBatch")
	reply = first.Reply
	cur := first.Status.Cursor
	db, coll, _ := splitNS(string(cur.NS))
	for id := cur.ID; id != 0; id = reply.Status.Cursor.ID {
		more, err := sh.CommandHost(ctx, host, getMoreCommand(db, coll, id))
		if err != nil || !more.Status.OK {
			// The caller's deadline may have passed: the kill gets one of its own.
			kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			_, _ = sh.CommandHost(kctx, host, killCursorsCommand(db, coll, id))
			cancel()
			return nil, more.Reply, err
		}
		reply = more.Reply
		docs = appendBatch(docs, more.Body, "nextBatch")
	}
	return docs, reply, nil
}

func getMoreCommand(db, coll string, id int64) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendInt64("getMore", id).
		AppendString("collection", coll).
		AppendString("$db", db).Build()
}

// appendBatch appends the documents of a cursor reply's batch.
func appendBatch(docs []bsoncore.Document, reply bsoncore.Document, batch string) []bsoncore.Document {
	eachInBatch(reply, batch, func(d bsoncore.Document) { docs = append(docs, d) })
	return docs
}

// eachInBatch calls fn with each document of cursor.<batch> of a cursor reply.
func eachInBatch(reply bsoncore.Document, batch string, fn func(bsoncore.Document)) {
	eachDoc(batchArray(reply, batch), fn)
}

// batchArray is cursor.<batch> of a cursor reply.
func batchArray(reply bsoncore.Document, batch string) bsoncore.Document {
	cur, _ := bsonview.Lookup(reply, "cursor")
	doc, _ := cur.DocumentOK()
	v, _ := bsonview.Lookup(doc, batch)
	arr, _ := v.ArrayOK()
	return bsoncore.Document(arr)
}

// eachDoc calls fn with each document of an array.
func eachDoc(arr bsoncore.Document, fn func(bsoncore.Document)) {
	bsonview.Each(arr, func(el bsoncore.Element) bool {
		if d, ok := el.Value().DocumentOK(); ok {
			fn(d)
		}
		return true
	})
}
