package memshard

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// BenchmarkChangeEvent is what change streams add to every committed update: the event, its
// updateDescription and resume token, appended to the capped history (which wakes waiters).
func BenchmarkChangeEvent(b *testing.B) {
	var clock logicalClock
	s := newStore(&clock, time.Now)
	s.changes.limit = 1 << 20 // the history stays full: trimming is part of the cost
	c := &collection{db: "bench", name: "c", byID: map[string]*doc{}, cs: newCollStream()}
	doc := func(n int) bson.Raw {
		return bson.Raw(marshal(b, bson.D{{Key: "_id", Value: 1}, {Key: "name", Value: "somebody"}, {Key: "n", Value: n},
			{Key: "tags", Value: bson.A{"a", "b", "c"}}, {Key: "addr", Value: bson.D{{Key: "city", Value: "x"}, {Key: "zip", Value: n}}}}))
	}
	before, after := doc(7), doc(8)
	b.ReportAllocs()
	for b.Loop() {
		s.stamp()
		s.logWrite(c, before, after, false, nil)
	}
	if len(s.changes.events) == 0 || s.changes.events[0].update.updated == nil {
		b.Fatal("no event recorded")
	}
}
