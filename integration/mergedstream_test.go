package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
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

// insertsOnly keeps the events of the test's own inserts (not the documents that placed the
// databases).
var insertsOnly = mongo.Pipeline{bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "insert"},
	{Key: "fullDocument.setup", Value: bson.D{{Key: "$exists", Value: false}}}}}}}

// insertX writes {x} in db.c through cl.
func insertX(t *testing.T, cl *mongo.Client, db string, x int) string {
	t.Helper()
	if _, err := cl.Database(db).Collection("c").InsertOne(ctxT(t), bson.D{{Key: "x", Value: x}}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s:%d", db, x)
}

func wantKeys(t *testing.T, evs []bson.Raw, want []string) {
	t.Helper()
	if got := eventKeys(evs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
}

// wantNoMore fails when the stream returns another event.
func wantNoMore(t *testing.T, cs *mongo.ChangeStream) {
	t.Helper()
	if cs.TryNext(ctxT(t)) {
		t.Fatalf("an unexpected event: %v", cs.Current)
	}
	if cs.Err() != nil {
		t.Fatal(cs.Err())
	}
}

// TestMergedStreamResume: a router's resume token resumes every shard, exactly after the event
// it names, through another router and through a router started after the first stopped; the
// postBatchResumeToken resumes as exactly.
func TestMergedStreamResume(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	dbs := dbPerShard(t, c, cl, "rs")
	// The stream starts on a router that stops later; its client gives up selecting it quickly
	// when it disconnects at the end.
	first, firstURI := c.serveRouter(t, nil)
	firstClient := connect(t, firstURI, options.Client().SetServerSelectionTimeout(200*time.Millisecond))
	cs, err := firstClient.Watch(ctxT(t), insertsOnly, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for x := range 6 {
		want = append(want, insertX(t, cl, dbs[x%3], x))
	}
	evs := readEvents(t, cs, 4)
	wantKeys(t, evs, want[:4])
	token := evs[3].Lookup("_id").Document()
	_ = cs.Close(ctxT(t))
	if err := first.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for x := 6; x < 9; x++ {
		want = append(want, insertX(t, cl, dbs[x%3], x))
	}
	// A router started now, and another that was running, resume after the token: the events
	// after it, each once.
	_, restartedURI := c.serveRouter(t, nil)
	after := want[4:]
	for _, client := range []*mongo.Client{connect(t, restartedURI), cl} {
		resumed, err := client.Watch(ctxT(t), insertsOnly, streamOptions().SetResumeAfter(token))
		if err != nil {
			t.Fatal(err)
		}
		wantKeys(t, readEvents(t, resumed, len(after)), after)
		wantNoMore(t, resumed)
		// The postBatchResumeToken of an exhausted batch resumes after everything read.
		pbrt := resumed.ResumeToken()
		_ = resumed.Close(ctxT(t))
		more := insertX(t, cl, dbs[len(after)%3], 100+len(after))
		again, err := client.Watch(ctxT(t), insertsOnly, streamOptions().SetStartAfter(pbrt))
		if err != nil {
			t.Fatal(err)
		}
		wantKeys(t, readEvents(t, again, 1), []string{more})
		wantNoMore(t, again)
		_ = again.Close(ctxT(t))
		after = append(after, more)
	}
}

// TestMergedStreamIdleShard: a shard with no writes does not hold the others' events back: the
// router writes a no-op note on it past the event it holds, and only then.
func TestMergedStreamIdleShard(t *testing.T) {
	requireMemshard(t, "it counts the commands each shard receives")
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	dbs := dbPerShard(t, c, cl, "idle")
	notes := func(i int) int64 { return c.sets[i].Memshard().Member(0).CommandCount("appendOplogNote") }
	cs, err := cl.Watch(ctxT(t), insertsOnly, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctxT(t))
	wantNoMore(t, cs)
	for i := range c.sets {
		if n := notes(i); n != 0 {
			t.Fatalf("shard %d got %d notes while the stream held no event", i, n)
		}
	}
	// Only shard 0 writes; shards 1 and 2 never do.
	want := []string{insertX(t, cl, dbs[0], 1), insertX(t, cl, dbs[0], 2)}
	wantKeys(t, readEvents(t, cs, 2), want)
	if notes(1) == 0 || notes(2) == 0 {
		t.Fatalf("idle shards got %d and %d notes, want at least one each", notes(1), notes(2))
	}
}

// TestMergedShardedCollectionStream: a stream on a sharded collection is merged across the
// shards of its chunks, in cluster-time order, each event once, whichever shard wrote it; a
// database's stream covers its sharded collection's shards and its primary shard; an unsharded
// database's stream stays on its shard, with the shard's own tokens.
func TestMergedShardedCollectionStream(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	for _, name := range []string{"mixed", "plain"} {
		if _, err := cl.Database(name).Collection("u").InsertOne(ctxT(t), bson.D{{Key: "setup", Value: true}}); err != nil {
			t.Fatal(err)
		}
	}
	c.hashedSharded(t, "mixed", "h", "x", 1, nil)
	coll, err := cl.Database("mixed").Collection("h").Watch(ctxT(t), mongo.Pipeline{}, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close(ctxT(t))
	db, err := cl.Database("mixed").Watch(ctxT(t), mongo.Pipeline{}, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctxT(t))
	plain, err := cl.Database("plain").Watch(ctxT(t), mongo.Pipeline{}, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close(ctxT(t))
	// Every shard writes its part of the collection straight to itself, as a router writing a
	// sharded collection would; the unsharded collection is written through the router.
	want := map[string]bool{}
	for x := range 9 {
		c.onShard(t, x%3, func(sh *mongo.Client) {
			if _, err := sh.Database("mixed").Collection("h").InsertOne(ctxT(t), bson.D{{Key: "_id", Value: x}, {Key: "x", Value: x}}); err != nil {
				t.Fatal(err)
			}
		})
		want[fmt.Sprintf("mixed:%d", x)] = true
	}
	insertX(t, cl, "mixed", 50)
	if _, err := cl.Database("mixed").Collection("u").InsertOne(ctxT(t), bson.D{{Key: "x", Value: 51}}); err != nil {
		t.Fatal(err)
	}
	insertX(t, cl, "plain", 60)
	// The shards' own writes are ordered by their clocks alone (no router passed their times
	// on): each event once, in cluster-time order, is what holds.
	evs := readEvents(t, coll, 9)
	checkOrder(t, evs)
	wantSet(t, evs, want)
	wantNoMore(t, coll)
	dbEvents := readEvents(t, db, 11) // the collection's 9, mixed.c's and mixed.u's
	checkOrder(t, dbEvents)
	want["mixed:50"], want["mixed:51"] = true, true
	wantSet(t, dbEvents, want)
	wantNoMore(t, db)
	for _, evs := range [][]bson.Raw{evs, dbEvents} {
		if tok := evs[0].Lookup("_id", "_data").StringValue(); !strings.HasSuffix(tok, "F1") {
			t.Fatalf("a merged stream's token %s is not the router's", tok)
		}
	}
	plainEvents := readEvents(t, plain, 1)
	if tok := plainEvents[0].Lookup("_id", "_data").StringValue(); !strings.HasSuffix(tok, "04") {
		t.Fatalf("an unsharded database's stream token %s is not its shard's", tok)
	}
}

// wantSet fails unless the events are those of want, each once.
func wantSet(t *testing.T, evs []bson.Raw, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, k := range eventKeys(evs) {
		if !want[k] || seen[k] {
			t.Fatalf("unexpected or repeated event %s in %v", k, eventKeys(evs))
		}
		seen[k] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("events %v, want %v", eventKeys(evs), want)
	}
}

// TestMergedStreamFailover: a shard's primary, which holds the stream's cursor, stops and
// another member takes over; the router reopens that shard's stream on the new primary after
// the last position it had, so the client's stream goes on with no error, no event lost and
// none twice.
func TestMergedStreamFailover(t *testing.T) {
	requireMemshard(t, "it stops a shard's primary")
	c := startCluster(t, clusterOptions{shards: 2, members: 3, selectionTimeout: 10 * time.Second})
	var log commandLog
	cl := c.client(t, options.Client().SetMonitor(log.monitor()))
	dbs := dbPerShard(t, c, cl, "fo")
	cs, err := cl.Watch(ctxT(t), insertsOnly, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctxT(t))
	want := []string{insertX(t, cl, dbs[0], 0), insertX(t, cl, dbs[1], 1)}
	wantKeys(t, readEvents(t, cs, 2), want)

	rs := c.sets[1].Memshard()
	old := rs.Primary()
	if err := rs.StopMember(old); err != nil {
		t.Fatal(err)
	}
	if err := rs.StepDown((old + 1) % 3); err != nil {
		t.Fatal(err)
	}
	want = append(want, insertX(t, cl, dbs[1], 2), insertX(t, cl, dbs[0], 3), insertX(t, cl, dbs[1], 4))
	wantKeys(t, readEvents(t, cs, 3), want[2:])
	wantNoMore(t, cs)
	if n := log.count("aggregate"); n != 1 {
		t.Fatalf("the driver sent %d aggregates: it had to resume the stream itself", n)
	}
	if err := rs.StartMember(old); err != nil {
		t.Fatal(err)
	}
}

// TestMergedStreamShardDown: while a shard has no primary the stream waits (an event of
// another shard is not returned past the shard's last position), and once it is back every
// event comes, in order, none skipped.
func TestMergedStreamShardDown(t *testing.T) {
	requireMemshard(t, "it stops a shard")
	c := startCluster(t, clusterOptions{shards: 2, members: 1})
	cl := c.client(t)
	dbs := dbPerShard(t, c, cl, "down")
	cs, err := cl.Watch(ctxT(t), insertsOnly, streamOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close(ctxT(t))
	want := []string{insertX(t, cl, dbs[1], 0), insertX(t, cl, dbs[0], 1)}
	wantKeys(t, readEvents(t, cs, 2), want)

	if err := c.sets[1].StopMember(0); err != nil {
		t.Fatal(err)
	}
	want = append(want, insertX(t, cl, dbs[0], 2))
	for range 3 { // each getMore tries the shard again and returns nothing past it
		wantNoMore(t, cs)
	}
	if err := c.sets[1].StartMember(0); err != nil {
		t.Fatal(err)
	}
	want = append(want, insertX(t, cl, dbs[1], 3), insertX(t, cl, dbs[0], 4))
	wantKeys(t, readEvents(t, cs, 3), want[2:])
	wantNoMore(t, cs)
}

// TestMergedStreamSessionKills: killSessions and endSessions close a merged stream's router
// cursor and the shard cursors behind it, as any other router cursor's.
func TestMergedStreamSessionKills(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1, configure: func(cfg *router.Config) {
		cfg.SessionRefresh = 200 * time.Millisecond
	}})
	cl := c.client(t)
	admin := cl.Database("admin")
	watch := bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{{Key: "allChangesForCluster", Value: true}}}}}},
		{Key: "cursor", Value: bson.D{}}}
	open := func(sess *mongo.Session) int64 {
		t.Helper()
		reply, err := admin.RunCommand(mongo.NewSessionContext(ctxT(t), sess), watch).Raw()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := reply.Lookup("cursor", "id").Int64OK()
		if id == 0 {
			t.Fatalf("no cursor: %v", reply)
		}
		return id
	}
	getMore := func(sess *mongo.Session, id int64) error {
		// The driver sends the context's deadline as maxTimeMS: the getMore's await.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return admin.RunCommand(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "getMore", Value: id},
			{Key: "collection", Value: "$cmd.aggregate"}}).Err()
	}
	const ns = "admin.$cmd.aggregate"
	killed, ended := startSession(t, cl), startSession(t, cl)
	killedID, endedID := open(killed), open(ended)
	if err := getMore(killed, killedID); err != nil {
		t.Fatal(err)
	}
	if n := c.shardCursorsOf(t, ns); n != 6 {
		t.Fatalf("two merged streams over three shards hold %d shard cursors, want 6", n)
	}
	if err := admin.RunCommand(ctxT(t), bson.D{{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: sessionUUID(t, killed)}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := getMore(killed, killedID); !isCommandCode(err, 43) {
		t.Fatalf("getMore after killSessions: %v", err)
	}
	if n := c.shardCursorsOf(t, ns); n != 3 {
		t.Fatalf("killSessions left %d shard cursors, want the other stream's 3", n)
	}
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "endSessions", Value: bson.A{bson.D{{Key: "id", Value: sessionUUID(t, ended)}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.shardCursorsOf(t, ns) == 0 }) // at the next session refresh
	if err := getMore(ended, endedID); !isCommandCode(err, 43) {
		t.Fatalf("getMore after endSessions: %v", err)
	}
}

func isCommandCode(err error, code int32) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == code
}
