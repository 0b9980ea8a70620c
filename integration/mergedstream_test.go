package integration

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Change streams merged across shards through the router, with the official driver: a
// whole-cluster stream, a sharded collection's and a database's; events in cluster-time order,
// each once; resume tokens that resume through another router and after a restart; a shard that
// fails over or has no writes (docs/architecture.md, "Change streams across shards").

// dbPerShard places one database on each shard (writing a document in it through the router)
// and returns their names, the i-th on shard i.
func dbPerShard(t *testing.T, c *cluster, cl *mongo.Client, prefix string) []string {
	t.Helper()
	names := make([]string, len(c.sets))
	for i := range c.sets {
		name := fmt.Sprintf("%s%d", prefix, i)
		if _, err := cl.Database(name).Collection("c").InsertOne(ctxT(t), bson.D{{Key: "setup", Value: true}}); err != nil {
			t.Fatal(err)
		}
		names[shardOfColl(t, c, name, "c")] = name
	}
	for i, n := range names {
		if n == "" {
			t.Fatalf("no database was placed on shard %d: %v", i, names)
		}
	}
	return names
}

// streamOptions keep an idle getMore short: the stream keeps no event from a test by waiting.
func streamOptions() *options.ChangeStreamOptionsBuilder {
	return options.ChangeStream().SetMaxAwaitTime(200 * time.Millisecond)
}

// readEvents reads n events, failing on an error or when the test's deadline passes.
func readEvents(t *testing.T, cs *mongo.ChangeStream, n int) []bson.Raw {
	t.Helper()
	ctx := ctxT(t)
	var out []bson.Raw
	for len(out) < n {
		if !cs.Next(ctx) {
			t.Fatalf("after %d of %d events: %v", len(out), n, cs.Err())
		}
		out = append(out, bytes.Clone(cs.Current))
	}
	return out
}

// eventKeys are the events' "ns.db:x" of the documents they insert.
func eventKeys(evs []bson.Raw) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		x, _ := ev.Lookup("fullDocument", "x").AsInt64OK()
		out[i] = fmt.Sprintf("%s:%d", ev.Lookup("ns", "db").StringValue(), x)
	}
	return out
}

// checkOrder fails unless the events come in cluster-time order and their resume tokens
// increase.
func checkOrder(t *testing.T, evs []bson.Raw) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		at, ai := evs[i-1].Lookup("clusterTime").Timestamp()
		bt, bi := evs[i].Lookup("clusterTime").Timestamp()
		if (bson.Timestamp{T: bt, I: bi}).Before(bson.Timestamp{T: at, I: ai}) {
			t.Fatalf("event %d is at %d.%d, before event %d at %d.%d", i, bt, bi, i-1, at, ai)
		}
		if a, b := evs[i-1].Lookup("_id", "_data").StringValue(), evs[i].Lookup("_id", "_data").StringValue(); a >= b {
			t.Fatalf("resume tokens do not increase: %s then %s", a, b)
		}
	}
}

func TestMergedClusterStream(t *testing.T) {
	for _, shards := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d shards", shards), func(t *testing.T) {
			c := startCluster(t, clusterOptions{shards: shards, members: 1})
			cl := c.client(t)
			dbs := dbPerShard(t, c, cl, "cl")
			cs, err := cl.Watch(ctxT(t), mongo.Pipeline{bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"}, {Key: "fullDocument.setup", Value: bson.D{{Key: "$exists", Value: false}}}}}}}, streamOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close(ctxT(t))
			// One writer through the router: each write carries the cluster time of the one before
			// (the driver's and the router's gossip), so cluster-time order is the writes' order.
			var want []string
			for x := 0; x < 12; x++ {
				db := dbs[(x*7)%len(dbs)]
				if _, err := cl.Database(db).Collection("c").InsertOne(ctxT(t), bson.D{{Key: "x", Value: x}}); err != nil {
					t.Fatal(err)
				}
				want = append(want, fmt.Sprintf("%s:%d", db, x))
			}
			evs := readEvents(t, cs, len(want))
			if got := eventKeys(evs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("events\n got %v\nwant %v", got, want)
			}
			checkOrder(t, evs)
			if cs.TryNext(ctxT(t)) {
				t.Fatalf("an event beyond the writes: %v", cs.Current)
			}
		})
	}
}
