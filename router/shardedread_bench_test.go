package router

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/wire"
)

const scatterDocs = 4000

// shardThroughRouter shards bench.h on {x: "hashed"} through the router, one chunk per shard, and
// inserts scatterDocs documents through it.
func shardThroughRouter(b testing.TB, c *benchCluster) {
	b.Helper()
	router := dialBench(b, c.srv.Addr())
	router.run(b, marshalBench(b, bson.D{{Key: "shardCollection", Value: "bench.h"}, {Key: "key", Value: bson.D{{Key: "x", Value: "hashed"}}},
		{Key: "numInitialChunks", Value: len(c.shards)}, {Key: "$db", Value: "admin"}}))
	docs := make(bson.A, scatterDocs)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "x", Value: i}, {Key: "v", Value: (i * 7919) % scatterDocs}, {Key: "name", Value: "somebody"}}
	}
	router.run(b, marshalBench(b, bson.D{{Key: "insert", Value: "h"}, {Key: "documents", Value: docs}, {Key: "ordered", Value: false}, {Key: "$db", Value: "bench"}}))
	// An index on the sorted field, so that what the shards do costs little beside the router.
	router.run(b, marshalBench(b, bson.D{{Key: "createIndexes", Value: "h"}, {Key: "indexes", Value: bson.A{
		bson.D{{Key: "key", Value: bson.D{{Key: "v", Value: 1}}}, {Key: "name", Value: "v_1"}}}}, {Key: "$db", Value: "bench"}}))
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
			shardThroughRouter(b, c)
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

func mustRoundTrip(b testing.TB, c *benchClient, frame []byte) []byte {
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
	shardThroughRouter(b, c)
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
		opened := make([]bson.A, len(shards))
		shardsPart = heapGrowth(func() {
			for i, sh := range shards {
				id, _ := checkOK(b, mustRoundTrip(b, sh, direct)).Lookup("cursor", "id").Int64OK()
				opened[i] = append(opened[i], id)
			}
		})
		for i, sh := range shards { // memshard keeps a cursor until it is killed
			sh.run(b, marshalBench(b, bson.D{{Key: "killCursors", Value: "h"}, {Key: "cursors", Value: opened[i]}, {Key: "$db", Value: "bench"}}))
		}
		perCursor = total - shardsPart
	}
	b.ReportMetric(perCursor, "router-heap-B/cursor")
	b.ReportMetric(shardsPart, "shards-heap-B/cursor")
}

// BenchmarkTargetedFind is a find by shard key on a collection sharded over 4 in-process shards
// against the same find on an unsharded collection holding the same documents (indexed on the
// same field), alternating one of each so that both see the same machine. It reports the time
// of each and the throughput ratio, sharded over unsharded.
func BenchmarkTargetedFind(b *testing.B) {
	c := startBenchCluster(b, 4, 1, nil)
	shardThroughRouter(b, c)
	router := dialBench(b, c.srv.Addr())
	docs := make(bson.A, scatterDocs)
	for i := range docs {
		docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "x", Value: i}, {Key: "v", Value: (i * 7919) % scatterDocs}, {Key: "name", Value: "somebody"}}
	}
	router.run(b, marshalBench(b, bson.D{{Key: "insert", Value: "u"}, {Key: "documents", Value: docs}, {Key: "$db", Value: "bench"}}))
	router.run(b, marshalBench(b, bson.D{{Key: "createIndexes", Value: "u"}, {Key: "indexes", Value: bson.A{
		bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "name", Value: "x_1"}}}}, {Key: "$db", Value: "bench"}}))
	finds := func(coll string) [][]byte {
		out := make([][]byte, 64)
		for i := range out {
			out[i] = wire.AppendMsg(nil, 1, 0, 0, marshalBench(b, bson.D{{Key: "find", Value: coll},
				{Key: "filter", Value: bson.D{{Key: "x", Value: i * 61}}}, {Key: "$db", Value: "bench"}}))
		}
		return out
	}
	sharded, unsharded := finds("h"), finds("u")
	for i := range sharded {
		for _, f := range [][]byte{sharded[i], unsharded[i]} {
			if got := countBatch(checkOK(b, mustRoundTrip(b, router, f)), "firstBatch"); got != 1 {
				b.Fatalf("find %d returned %d documents, want 1", i, got)
			}
		}
	}
	var onSharded, onUnsharded time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		mustRoundTrip(b, router, sharded[i%len(sharded)])
		mid := time.Now()
		mustRoundTrip(b, router, unsharded[i%len(unsharded)])
		onSharded, onUnsharded = onSharded+mid.Sub(start), onUnsharded+time.Since(mid)
		i++
	}
	b.ReportMetric(float64(onSharded.Nanoseconds())/float64(i), "sharded-ns/find")
	b.ReportMetric(float64(onUnsharded.Nanoseconds())/float64(i), "unsharded-ns/find")
	b.ReportMetric(float64(onUnsharded)/float64(onSharded), "throughput-ratio")
}
