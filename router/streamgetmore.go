package router

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
	"github.com/mongos-lite/mongos-lite/shards"
)

// A getMore of a merged change stream returns the events that are ready, and when none is,
// asks the shards that hold the stream back for more, for as long as the client's maxTimeMS
// (its await time) allows (docs/architecture.md, "Change streams across shards").

const (
	// defaultStreamAwait is how long a getMore without maxTimeMS waits for an event: mongos's
	// awaitData default (cluster_find.cpp).
	defaultStreamAwait = time.Second
	// maxShardAwait caps a shard getMore's wait, as mongos caps it for a sorted merge of several
	// shards (async_results_merger.cpp setAwaitDataTimeout): each shard reports its progress at
	// least this often.
	maxShardAwait = time.Second
	// shardRoundSlack is what a shard round trip may take beyond the wait it was given.
	shardRoundSlack = 5 * time.Second
	// shardDownLimit is how long a stream waits for a shard whose cursor it lost (its member
	// stepped down, shut down or cannot be reached) to have a primary again before it fails: as
	// long as a driver's server selection waits (serverSelectionTimeoutMS), more than an election
	// takes.
	shardDownLimit = 30 * time.Second
	// minReopenWait is the least time a shard's new primary is waited for when its cursor is
	// reopened, however short the client's await.
	minReopenWait = 250 * time.Millisecond
	// replyMargin is the most of a getMore's await kept for its reply to reach the client.
	replyMargin = 50 * time.Millisecond
)

// nextStream is a getMore of a merged change stream.
func (c *conn) nextStream(ctx context.Context, r *request, cur *clustercursor.Cursor, m *mergedStream, g getMoreRequest) (bsoncore.Document, error) {
	m.cur = cur
	await := defaultStreamAwait
	if v, ok := bsonview.Lookup(r.Body, "maxTimeMS"); ok {
		if ms, ok := v.AsInt64OK(); ok && ms > 0 {
			await = time.Duration(ms) * time.Millisecond
		}
	}
	docs, err := c.streamNext(ctx, r, m, g.batchSize, time.Now().Add(await))
	state, id := clustercursor.Open, g.id
	switch {
	case err != nil:
		state = clustercursor.Abandoned
	case m.finished():
		state, id = clustercursor.Abandoned, 0 // the shard cursors still open go with it
	}
	if c.s.cursors.Return(cur, state, len(docs)) {
		return nil, clustercursor.Killed()
	}
	if err != nil {
		return nil, cursorError(cur, err)
	}
	return streamBatchReply(cur.NS, "nextBatch", id, docs, m.hwm), nil
}

// streamNext returns the events that are ready, fetching from the shards until there are some,
// the stream is over, or deadline passes; the high-water mark then moves as far as it can.
func (c *conn) streamNext(ctx context.Context, r *request, m *mergedStream, batchSize int64, deadline time.Time) ([]bsoncore.Document, error) {
	// The shards' waits end early enough for the reply to reach the client by its deadline
	// (drivers time a getMore out at its maxTimeMS and a round trip); every getMore asks the
	// shards at least once, however short its await.
	margin := min(time.Until(deadline)/5, replyMargin)
	for round := 0; ; round++ {
		docs := m.take(batchSize)
		left := time.Until(deadline) - margin
		if len(docs) > 0 || m.finished() || round > 0 && left <= 0 {
			m.advance()
			return docs, nil
		}
		if err := c.streamRound(ctx, r, m, max(left, time.Millisecond)); err != nil {
			return nil, err
		}
	}
}

// streamRound reopens the parts whose cursors were lost, then asks the shards that hold the
// stream back for their next batch: the parts with no event whose promise is behind the
// smallest event held, or every part when none is held. A shard behind an event gets a no-op
// note first (streamnotes.go), and a short wait: it has nothing to send but its progress.
func (c *conn) streamRound(ctx context.Context, r *request, m *mergedStream, left time.Duration) error {
	deadline := time.Now().Add(left)
	if err := c.reopenLost(ctx, r, m, deadline); err != nil {
		return err
	}
	var head *streamPos
	if h := m.head(); h != nil {
		head = &h.events[0].pos
	}
	var fetch, behind []*streamPart
	for _, p := range m.parts {
		if len(p.events) > 0 || p.ended() || !p.lostSince.IsZero() || head != nil && p.promise.compare(*head) >= 0 {
			continue
		}
		fetch = append(fetch, p)
		if head != nil && !p.notesRefused && p.nudged.compare(*head) < 0 {
			behind = append(behind, p)
		}
	}
	wait := max(min(time.Until(deadline), maxShardAwait), time.Millisecond)
	if len(fetch) == 0 {
		// Only lost shards hold the stream back: wait a little before trying them again.
		return pause(ctx, min(wait, 100*time.Millisecond))
	}
	if len(behind) > 0 {
		c.writeNotes(ctx, behind, *head, deadline)
		wait = time.Millisecond
	}
	return c.fetchStream(ctx, r, m, fetch, wait)
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return mongoerr.As(ctx.Err())
	}
}

// fetchStream sends a getMore to every part at once, each waiting at most wait for an event.
func (c *conn) fetchStream(ctx context.Context, r *request, m *mergedStream, parts []*streamPart, wait time.Duration) error {
	calls := make([]*shardCall, len(parts))
	for i, p := range parts {
		b := bsoncore.NewDocumentBuilder().AppendInt64("getMore", p.id).AppendString("collection", m.coll)
		if v, ok := bsonview.Lookup(r.Body, "batchSize"); ok {
			b.AppendValue("batchSize", v)
		}
		calls[i] = &shardCall{shard: p.shard, name: p.name, host: p.host, body: b.Build()}
	}
	rctx, cancel := context.WithTimeout(ctx, wait+shardRoundSlack)
	defer cancel()
	c.callShards(rctx, withMaxTime(r, wait), shards.Primary(), calls)
	for i, call := range calls {
		p := parts[i]
		if err := call.failure(); err != nil {
			if !resumableShardError(err) {
				return err
			}
			p.lose(err)
			continue
		}
		if err := p.accept(call.reply.Body, "nextBatch"); err != nil {
			return err
		}
	}
	return nil
}

// lose marks the part's cursor lost: it is reopened from its promise.
func (p *streamPart) lose(err error) {
	if p.lostSince.IsZero() {
		p.lostSince = time.Now()
	}
	p.lostErr = err
}

// resumableShardError reports a shard cursor's failure that the stream survives by reopening
// it: the errors after which a change stream resumes (error_labels.cpp), and a cursor the shard
// no longer has.
func resumableShardError(err error) bool {
	e := mongoerr.As(err)
	return mongoerr.ResumableChangeStream(e.Code) || e.HasLabel("ResumableChangeStreamError") || e.Code == mongoerr.CursorNotFound
}

// reopenLost opens the lost parts again on their shards' primaries, each after its promise, so
// that nothing is skipped or returned twice; the old cursors are killed. A shard with no
// primary for longer than shardDownLimit fails the stream.
func (c *conn) reopenLost(ctx context.Context, r *request, m *mergedStream, deadline time.Time) error {
	var lost []*streamPart
	for _, p := range m.parts {
		if p.lostSince.IsZero() {
			continue
		}
		if time.Since(p.lostSince) > shardDownLimit {
			e := mongoerr.As(p.lostErr)
			return mongoerr.New(e.Code, "change stream: shard %s has had no primary to resume on for %s (%s); "+
				"no event past the stream's last resume token was returned: resume from it once the shard is back",
				p.name, shardDownLimit, e.Msg)
		}
		lost = append(lost, p)
	}
	if len(lost) == 0 {
		return nil
	}
	calls := make([]*shardCall, len(lost))
	for i, p := range lost {
		calls[i] = &shardCall{shard: p.shard, name: p.name, body: m.open.command("resumeAfter",
			bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: p.promise.shardToken()})}
	}
	rctx, cancel := context.WithDeadline(ctx, later(deadline, time.Now().Add(minReopenWait)))
	defer cancel()
	sub := *r
	sub.Body = withoutKeys(r.Body, "maxTimeMS") // the getMore's await is no limit for the aggregate
	c.callShards(rctx, &sub, m.open.rp, calls)
	var old []clustercursor.Remote
	for i, call := range calls {
		p := lost[i]
		if err := call.failure(); err != nil {
			if !resumableShardError(err) {
				return err
			}
			p.lostErr = err
			continue
		}
		old = append(old, clustercursor.Remote{Shard: p.shard, Host: p.host, ID: p.id})
		p.host, p.lostSince, p.lostErr = call.host, time.Time{}, nil
		if err := p.accept(call.reply.Body, "firstBatch"); err != nil {
			return err
		}
	}
	if len(old) == 0 {
		return nil
	}
	if c.s.cursors.Rebind(m.cur, m.remotes()) {
		c.s.killRemotes(m.ns(), m.remotes())
		return clustercursor.Killed()
	}
	kctx, kcancel := context.WithTimeout(ctx, time.Second)
	defer kcancel()
	c.s.killRemotesBy(kctx, m.ns(), old) // best effort: their members failed
	return nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// withMaxTime is r with maxTimeMS d: a shard getMore's await.
func withMaxTime(r *request, d time.Duration) *request {
	body := withoutKeys(r.Body, "maxTimeMS")
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(body)+16))
	dst = append(dst, body[4:len(body)-1]...)
	dst = bsoncore.AppendInt64Element(dst, "maxTimeMS", max(d.Milliseconds(), 1))
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	sub := *r
	sub.Body = dst
	return &sub
}
