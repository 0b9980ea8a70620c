package router

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

const scatterDocs = 4000

// shardByHand describes bench.h as sharded on {x: "hashed"} with one chunk per shard and puts
// scatterDocs documents on the shards their chunks name.
func shardByHand(b *testing.B, c *benchCluster) {
	b.Helper()
	n := len(c.shards)
	splits := hashkey.SplitPoints(n)
	bound := func(i int) any {
		switch {
		case i == 0:
			return bson.MinKey{}
		case i == n:
			return bson.MaxKey{}
		}
		return splits[i-1]
	}
	config := dialDirect(b, c, 0)
	config.run(b, marshalBench(b, bson.D{{Key: "insert", Value: "collections"}, {Key: "documents", Value: bson.A{
		bson.D{{Key: "_id", Value: "bench.h"}, {Key: "key", Value: bson.D{{Key: "x", Value: "hashed"}}}}}}, {Key: "$db", Value: "config"}}))
	chunks := bson.A{}
	for i := range n {
		chunks = append(chunks, bson.D{{Key: "ns", Value: "bench.h"}, {Key: "min", Value: bson.D{{Key: "x", Value: bound(i)}}},
			{Key: "max", Value: bson.D{{Key: "x", Value: bound(i + 1)}}}, {Key: "shard", Value: fmt.Sprintf("rs%d", i)}})
	}
	config.run(b, marshalBench(b, bson.D{{Key: "insert", Value: "chunks"}, {Key: "documents", Value: chunks}, {Key: "$db", Value: "config"}}))
	perShard := make([]bson.A, n)
	for i := range scatterDocs {
		raw := bsoncore.AppendInt32(nil, int32(i))
		h, err := hashkey.Hash(bsoncore.Value{Type: bsoncore.TypeInt32, Data: raw})
		if err != nil {
			b.Fatal(err)
		}
		s, _ := slices.BinarySearch(splits, h+1)
		perShard[s] = append(perShard[s], bson.D{{Key: "_id", Value: i}, {Key: "x", Value: i}, {Key: "v", Value: (i * 7919) % scatterDocs},
			{Key: "name", Value: "somebody"}})
	}
	for i, docs := range perShard {
		shard := dialDirect(b, c, i)
		shard.run(b, marshalBench(b, bson.D{{Key: "insert", Value: "h"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "bench"}}))
		// An index on the sorted field, so that what the shards do costs little beside the router.
		shard.run(b, marshalBench(b, bson.D{{Key: "createIndexes", Value: "h"}, {Key: "indexes", Value: bson.A{
			bson.D{{Key: "key", Value: bson.D{{Key: "v", Value: 1}}}, {Key: "name", Value: "v_1"}}}}, {Key: "$db", Value: "bench"}}))
	}
}

// dialDirect is a raw client straight to shard i's primary.
func dialDirect(b *testing.B, c *benchCluster, i int) *benchClient {
	return dialBench(b, c.sets[i].Hosts()[0])
}

// BenchmarkScatterSortedFind is a find sorted on a field other than the shard key, limit 100,
// over 2, 4 and 8 in-process shards: the router sends it to every shard and merges the sorted
// streams. It reports the router's own CPU per returned document: the process's CPU through the
// router, less the CPU of the same shard finds sent straight to each shard, over the documents
// returned.
func BenchmarkScatterSortedFind(b *testing.B) {
	for _, n := range []int{2, 4, 8} {
		b.Run(fmt.Sprintf("shards=%d", n), func(b *testing.B) {
			c := startBenchCluster(b, n, 1, nil)
			shardByHand(b, c)
			const limit = 100
			find := func(extra ...bson.E) []byte {
				return wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, append(bson.D{{Key: "find", Value: "h"},
					{Key: "filter", Value: bson.D{{Key: "v", Value: bson.D{{Key: "$gte", Value: scatterDocs / 2}}}}},
					{Key: "sort", Value: bson.D{{Key: "v", Value: 1}}}, {Key: "limit", Value: limit}}, append(extra, bson.E{Key: "$db", Value: "bench"})...)))
			}
			router := dialBench(b, c.srv.Addr())
			viaRouter := find()
			direct := make([]*benchClient, n)
			for i := range direct {
				direct[i] = dialDirect(b, c, i)
			}
			// What each shard runs for the router: the same find, with the sort key.
			perShard := find(bson.E{Key: "projection", Value: bson.D{{Key: "$sortKey", Value: bson.D{{Key: "$meta", Value: "sortKey"}}}}})
			if got := countBatch(checkOK(b, mustRoundTrip(b, router, viaRouter)), "firstBatch"); got != limit {
				b.Fatalf("the router returned %d documents, want %d", got, limit)
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mallocs := ms.Mallocs
			cpu := cpuTime(b)
			start := time.Now()
			ops := 0
			for b.Loop() {
				mustRoundTrip(b, router, viaRouter)
				ops++
			}
			routerCPU, wall := cpuTime(b)-cpu, time.Since(start)
			runtime.ReadMemStats(&ms)
			routerAllocs := ms.Mallocs - mallocs
			cpu = cpuTime(b)
			for range ops {
				for _, d := range direct {
					mustRoundTrip(b, d, perShard)
				}
			}
			directCPU := cpuTime(b) - cpu
			docs := float64(ops * limit)
			b.ReportMetric(float64((routerCPU-directCPU).Nanoseconds())/docs, "router-cpu-ns/doc")
			b.ReportMetric(float64(wall.Nanoseconds())/docs, "wall-ns/doc")
			b.ReportMetric(float64(routerAllocs)/docs, "process-allocs/doc")
		})
	}
}

func mustRoundTrip(b *testing.B, c *benchClient, frame []byte) []byte {
	reply, err := c.roundTrip(frame)
	if err != nil {
		b.Fatal(err)
	}
	return reply
}

// BenchmarkMergedCursorMemory is the memory an open merged cursor of 4 shards holds in the
// router: the heap growth of opening many of them through the router (first batch 1, so each
// holds the rest of its shards' first batches), less that of opening the same shard cursors
// straight on the shards (memshard runs in this process and keeps its own cursors), per cursor.
func BenchmarkMergedCursorMemory(b *testing.B) {
	c := startBenchCluster(b, 4, 1, nil)
	shardByHand(b, c)
	router := dialBench(b, c.srv.Addr())
	find := func(extra ...bson.E) []byte {
		return wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, append(bson.D{{Key: "find", Value: "h"},
			{Key: "sort", Value: bson.D{{Key: "v", Value: 1}}}, {Key: "batchSize", Value: 1}}, append(extra, bson.E{Key: "$db", Value: "bench"})...)))
	}
	viaRouter := find()
	direct := find(bson.E{Key: "projection", Value: bson.D{{Key: "$sortKey", Value: bson.D{{Key: "$meta", Value: "sortKey"}}}}})
	shards := make([]*benchClient, len(c.shards))
	for i := range shards {
		shards[i] = dialDirect(b, c, i)
	}
	const cursors = 200
	heapGrowth := func(open func()) float64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range cursors {
			open()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / cursors
	}
	var perCursor, shardsPart float64
	for b.Loop() {
		var ids []int64
		total := heapGrowth(func() {
			id, _ := checkOK(b, mustRoundTrip(b, router, viaRouter)).Lookup("cursor", "id").Int64OK()
			ids = append(ids, id)
		})
		c.srv.cursors.Kill(ids, true)
		shardsPart = heapGrowth(func() {
			for _, sh := range shards {
				checkOK(b, mustRoundTrip(b, sh, direct))
			}
		})
		perCursor = total - shardsPart
	}
	b.ReportMetric(perCursor, "router-heap-B/cursor")
	b.ReportMetric(shardsPart, "shards-heap-B/cursor")
}
