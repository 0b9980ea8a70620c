package router

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Positions for merge tests: a shard's high-water mark at a time sorts before its events at
// that time, events at one time by their index.
func hwmAt(sec, inc uint32, shard string) streamPos {
	return streamPos{data: timePos(bson.Timestamp{T: sec, I: inc}).data + "2B0429296E1404", shard: shard}
}

func eventAt(sec, inc uint32, idx int, shard string) streamPos {
	return streamPos{data: timePos(bson.Timestamp{T: sec, I: inc}).data + fmt.Sprintf("2B042C01%02X04", idx), shard: shard}
}

// event is a change event with the position's shard token as its _id.
func event(pos streamPos, op, label string) streamEvent {
	doc := bsoncore.NewDocumentBuilder().AppendDocument("_id", pos.shardToken()).
		AppendString("operationType", op).AppendString("label", label).Build()
	return streamEvent{doc: doc, pos: pos}
}

// labels are the returned events' labels, each checked to carry the router's token.
func labels(t *testing.T, docs []bsoncore.Document) string {
	t.Helper()
	var out []string
	for _, d := range docs {
		if !strings.HasSuffix(bson.Raw(d).Lookup("_id", "_data").StringValue(), "F1") {
			t.Fatalf("an event without the router's token: %v", bson.Raw(d))
		}
		out = append(out, bson.Raw(d).Lookup("label").StringValue())
	}
	return strings.Join(out, " ")
}

func part(name string, promise streamPos, events ...streamEvent) *streamPart {
	return &streamPart{name: name, id: 1, promise: promise, events: events}
}

// TestMergeNeverPastTheLeastAdvancedShard: an event is returned only once every shard has
// promised nothing before it; the high-water mark is then the smallest promise.
func TestMergeNeverPastTheLeastAdvancedShard(t *testing.T) {
	a := part("rs0", eventAt(10, 2, 0, "rs0"), event(eventAt(10, 1, 0, "rs0"), "insert", "a1"), event(eventAt(10, 2, 0, "rs0"), "insert", "a2"))
	b := part("rs1", hwmAt(10, 1, "rs1"))
	m := &mergedStream{parts: []*streamPart{a, b}, hwm: timePos(bson.Timestamp{T: 9})}
	if got := labels(t, m.take(0)); got != "" {
		t.Fatalf("returned %q past shard rs1, which promised only up to 10.1", got)
	}
	m.advance()
	if m.hwm.compare(b.promise) != 0 {
		t.Fatalf("high-water mark %+v, want rs1's promise", m.hwm)
	}
	// rs1 reports an event at 10.1 after rs0's (by token) and promises up to 10.2.
	b.events = append(b.events, event(eventAt(10, 1, 1, "rs1"), "insert", "b1"))
	b.promise = hwmAt(10, 2, "rs1")
	if got := labels(t, m.take(0)); got != "a1 b1" {
		t.Fatalf("returned %q, want a1 b1 (a2 waits for rs1 past 10.2)", got)
	}
	m.advance()
	if m.hwm.compare(b.promise) != 0 {
		t.Fatalf("high-water mark %+v, want rs1's promise %+v", m.hwm, b.promise)
	}
	b.promise = hwmAt(11, 1, "rs1")
	if got := labels(t, m.take(0)); got != "a2" {
		t.Fatalf("returned %q, want a2", got)
	}
	m.advance()
	if m.hwm.compare(a.promise) != 0 {
		t.Fatalf("high-water mark %+v, want the last event's (rs0's promise) %+v", m.hwm, a.promise)
	}
}

// TestMergeTiesAndBatches: equal shard tokens go by shard name; batchSize cuts a batch, and the
// high-water mark stays at the last event returned while more are ready.
func TestMergeTiesAndBatches(t *testing.T) {
	far := hwmAt(99, 1, "")
	a := part("rs1", far, event(eventAt(10, 1, 0, "rs1"), "insert", "a"))
	b := part("rs0", far, event(eventAt(10, 1, 0, "rs0"), "insert", "b"), event(eventAt(10, 3, 0, "rs0"), "insert", "c"))
	m := &mergedStream{parts: []*streamPart{a, b}}
	if got := labels(t, m.take(2)); got != "b a" {
		t.Fatalf("first batch %q, want b a", got)
	}
	m.advance()
	if m.hwm.compare(eventAt(10, 1, 0, "rs1")) != 0 {
		t.Fatalf("high-water mark %+v moved past an event still to return", m.hwm)
	}
	if got := labels(t, m.take(2)); got != "c" {
		t.Fatalf("second batch %q", got)
	}
}

// TestMergeDropsWhatPrecedesTheStart: events at or before the high-water mark (the resume
// point) are dropped, whichever shard sends them.
func TestMergeDropsWhatPrecedesTheStart(t *testing.T) {
	resumed := eventAt(10, 5, 0, "rs1")
	a := part("rs0", hwmAt(20, 1, "rs0"), event(eventAt(10, 4, 0, "rs0"), "insert", "before"),
		event(eventAt(10, 5, 0, "rs0"), "insert", "tie-before"), event(eventAt(10, 6, 0, "rs0"), "insert", "after"))
	b := part("rs1", hwmAt(20, 1, "rs1"), event(eventAt(10, 5, 1, "rs1"), "insert", "next"))
	m := &mergedStream{parts: []*streamPart{a, b}, hwm: resumed}
	if got := labels(t, m.take(0)); got != "next after" {
		t.Fatalf("returned %q, want next after", got)
	}
}

// TestMergeInvalidateEndsTheStream: an invalidate is returned, then nothing: the stream is
// finished; a shard whose stream ended no longer holds the others back.
func TestMergeInvalidateEndsTheStream(t *testing.T) {
	a := part("rs0", eventAt(10, 2, 0, "rs0"), event(eventAt(10, 1, 0, "rs0"), "drop", "drop"), event(eventAt(10, 2, 0, "rs0"), "invalidate", "invalidate"))
	a.id = 0 // the shard closed its cursor after the invalidate
	b := part("rs1", hwmAt(11, 1, "rs1"), event(eventAt(10, 5, 0, "rs1"), "insert", "later"))
	m := &mergedStream{parts: []*streamPart{a, b}}
	if got := labels(t, m.take(0)); got != "drop invalidate" || !m.finished() {
		t.Fatalf("returned %q (finished %v), want drop invalidate and the end", got, m.finished())
	}
	// A stream whose only other shard ended returns everything the rest holds.
	c := part("rs2", hwmAt(1, 1, "rs2"))
	c.id = 0
	m = &mergedStream{parts: []*streamPart{c, part("rs3", hwmAt(12, 1, "rs3"), event(eventAt(11, 1, 0, "rs3"), "insert", "x"))}}
	if got := labels(t, m.take(0)); got != "x" {
		t.Fatalf("returned %q behind a shard whose stream ended", got)
	}
}

// TestLostShardHoldsTheStream: a shard whose cursor was lost keeps its promise, so nothing
// passes it; after shardDownLimit the stream fails with an error naming the shard.
func TestLostShardHoldsTheStream(t *testing.T) {
	lost := part("rs1", hwmAt(10, 1, "rs1"))
	lost.lose(mongoerr.New(mongoerr.HostUnreachable, "connection refused"))
	m := &mergedStream{parts: []*streamPart{part("rs0", hwmAt(20, 1, "rs0"), event(eventAt(15, 1, 0, "rs0"), "insert", "x")), lost}}
	if got := labels(t, m.take(0)); got != "" || m.finished() {
		t.Fatalf("returned %q past a lost shard", got)
	}
	lost.lostSince = time.Now().Add(-shardDownLimit - time.Second)
	err := (&conn{}).reopenLost(context.Background(), nil, m, time.Now())
	if e := mongoerr.As(err); err == nil || e.Code != mongoerr.HostUnreachable || !strings.Contains(e.Msg, "shard rs1") ||
		!mongoerr.ResumableChangeStream(e.Code) {
		t.Fatalf("a shard down past the limit: %v", err)
	}
}

// BenchmarkStreamMerge: returning events merged from 4 shards, 256 held on each (the router's
// own cost per event: ordering, the readiness check and the token rewrite).
func BenchmarkStreamMerge(b *testing.B) {
	const shards, perShard = 4, 256
	fill := func() *mergedStream {
		m := &mergedStream{}
		for s := range shards {
			name := fmt.Sprintf("rs%d", s)
			p := part(name, hwmAt(1000, 0, name))
			for i := range perShard {
				p.events = append(p.events, event(eventAt(100, uint32(i*shards+s), 0, name), "insert", "x"))
			}
			m.parts = append(m.parts, p)
		}
		return m
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		m := fill()
		b.StartTimer()
		if n := len(m.take(0)); n != shards*perShard {
			b.Fatalf("merged %d events", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*shards*perShard), "ns/event")
}
