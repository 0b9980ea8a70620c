package router

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// TestShardedInsertSendsWhatWasAuthorized: an insert split over three shards, its documents in
// a document sequence, its body carrying internal fields and a non-boolean ordered (0.0): each
// shard receives its own documents once, as a sequence, and none of the internal fields.
func TestShardedInsertSendsWhatWasAuthorized(t *testing.T) {
	log := &commandLog{}
	c := startBenchCluster(t, 3, 1, nil, memshard.WithCommandLog(log.add))
	shardThroughRouter(t, c)
	cl := dialBench(t, c.srv.Addr())
	const n = 60
	var raw []byte
	for i := range n {
		raw = append(raw, marshalBench(t, bson.D{{Key: "x", Value: 100_000 + i}, {Key: "marker", Value: "seq"}})...)
	}
	body := marshalBench(t, bson.D{{Key: "insert", Value: "h"}, {Key: "ordered", Value: 0.0},
		{Key: "shardVersion", Value: bson.A{bson.Timestamp{T: 1}}}, {Key: "$configTime", Value: bson.Timestamp{T: 1}},
		{Key: "$audit", Value: bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "root"}, {Key: "db", Value: "admin"}}}}},
		{Key: "$db", Value: "bench"}})
	sent := log.count()
	reply := checkOK(t, mustRoundTrip(t, cl, wire.AppendMsg(nil, 1, 0, 0, body, wire.Sequence{Identifier: "documents", Raw: raw})))
	if got, _ := reply.Lookup("n").AsInt64OK(); got != n {
		t.Fatalf("inserted %d, want %d: %v", got, n, reply)
	}
	log.checkNoInternalFields(t, sent)
	perShard := map[string]int{}
	log.mu.Lock()
	for _, r := range log.got[sent:] {
		if name, _ := r.Body.Lookup("insert").StringValueOK(); name != "h" {
			continue
		}
		if _, err := r.Body.LookupErr("documents"); err == nil {
			t.Errorf("a shard's part came in the body, not as a sequence: %v", r.Body)
		}
		perShard[r.Member] += len(r.Sequences["documents"])
	}
	log.mu.Unlock()
	total := 0
	for _, k := range perShard {
		total += k
	}
	if len(perShard) != 3 || total != n {
		t.Fatalf("the shards received %v documents, want %d over 3 shards", perShard, n)
	}
	count := checkOK(t, mustRoundTrip(t, cl, wire.AppendMsg(nil, 2, 0, 0, marshalBench(t, bson.D{{Key: "count", Value: "h"},
		{Key: "query", Value: bson.D{{Key: "marker", Value: "seq"}}}, {Key: "$db", Value: "bench"}}))))
	if got, _ := count.Lookup("n").AsInt64OK(); got != n {
		t.Fatalf("count %d after the insert, want %d", got, n)
	}
}
