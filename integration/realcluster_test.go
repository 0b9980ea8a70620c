package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// These tests run only against real replica sets (MONGOS_LITE_IT_SHARDS). They check, with
// what a real mongod shows (its $currentOp, its session cache, its sessions collection), what the
// memshard tests check through memshard's controls.

// onEachMember runs fn with a direct connection to every member of every shard.
func onEachMember(t *testing.T, c *cluster, fn func(host string, cl *mongo.Client)) {
	t.Helper()
	for _, rs := range c.sets {
		for _, host := range rs.Hosts() {
			fn(host, connectShard(t, "mongodb://"+host+"/?directConnection=true"))
		}
	}
}

// onEachPrimary runs cmd on the primary of every shard.
func onEachPrimary(t *testing.T, c *cluster, cmd bson.D) {
	t.Helper()
	for _, rs := range c.sets {
		cl := connectShard(t, rs.URI())
		if err := cl.Database("admin").RunCommand(ctxT(t), cmd).Err(); err != nil {
			t.Fatalf("%s on %s: %v", cmd[0].Key, rs.Name(), err)
		}
	}
}

// aggregator is a database or a collection.
type aggregator interface {
	Aggregate(context.Context, any, ...options.Lister[options.AggregateOptions]) (*mongo.Cursor, error)
}

// aggregateCount runs pipeline and counts what it returns.
func aggregateCount(t *testing.T, on aggregator, pipeline bson.A) int {
	t.Helper()
	return len(aggregateDocs(t, on, pipeline))
}

// aggregateDocs runs pipeline and returns everything it returns.
func aggregateDocs(t *testing.T, on aggregator, pipeline any) []bson.Raw {
	t.Helper()
	cur, err := on.Aggregate(ctxT(t), pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctxT(t), &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// idleCursorsOf counts the idle cursors of session id on every member of every shard.
func idleCursorsOf(t *testing.T, c *cluster, id bson.Binary) int {
	t.Helper()
	n := 0
	onEachMember(t, c, func(_ string, cl *mongo.Client) {
		n += aggregateCount(t, cl.Database("admin"), bson.A{
			bson.D{{Key: "$currentOp", Value: bson.D{{Key: "idleCursors", Value: true}, {Key: "allUsers", Value: true}}}},
			bson.D{{Key: "$match", Value: bson.D{{Key: "type", Value: "idleCursor"}, {Key: "lsid.id", Value: id}}}},
		})
	})
	return n
}

func TestRealClusterKillReachesEveryMember(t *testing.T) {
	requireRealCluster(t, "on memshard TestKillCommandsKillCursorsOnEveryShardAndSecondary counts cursors per member")
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	sess := startSession(t, cl)
	curs := openCursors(t, c, cl, sess)
	id := sessionUUID(t, sess)
	if n := idleCursorsOf(t, c, id); n != len(curs) {
		t.Fatalf("the members' $currentOp shows %d idle cursors of the session, want %d", n, len(curs))
	}
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err(); err != nil {
		t.Fatal(err)
	}
	if n := idleCursorsOf(t, c, id); n != 0 {
		t.Fatalf("%d idle cursors of the session left after killAllSessions through the router", n)
	}
	wantCursorNotFound(t, sess, curs)
}

func TestRealClusterRefreshReachesEveryPrimary(t *testing.T) {
	requireRealCluster(t, "on memshard TestRefreshAndEndSessionsReachEveryShard reads the session tables")
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	u := uuid.New()
	id := bson.Binary{Subtype: 4, Data: u[:]}
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "refreshSessions",
		Value: bson.A{bson.D{{Key: "id", Value: id}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	for _, rs := range c.sets {
		n := aggregateCount(t, connectShard(t, rs.URI()).Database("admin"), bson.A{
			bson.D{{Key: "$listLocalSessions", Value: bson.D{{Key: "allUsers", Value: true}}}},
			bson.D{{Key: "$match", Value: bson.D{{Key: "_id.id", Value: id}}}},
		})
		if n != 1 {
			t.Fatalf("%s's primary lists the refreshed session %d times, want 1", rs.Name(), n)
		}
	}
}

func TestRealClusterListSessionsMergesShards(t *testing.T) {
	requireRealCluster(t, "on memshard TestStartSessionAndListSessions")
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	sess := startSession(t, cl)
	sctx := mongo.NewSessionContext(ctx, sess)
	// The first two databases of a reset cluster land on different shards.
	for _, db := range []string{"lsone", "lstwo"} {
		if _, err := cl.Database(db).Collection("c").InsertOne(sctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	// A mongod writes config.system.sessions on its refresh cycle (5 min): flush it now.
	onEachPrimary(t, c, bson.D{{Key: "refreshLogicalSessionCacheNow", Value: 1}})
	n := aggregateCount(t, cl.Database("config").Collection("system.sessions"), bson.A{
		bson.D{{Key: "$listSessions", Value: bson.D{{Key: "allUsers", Value: true}}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "_id.id", Value: sessionUUID(t, sess)}}}},
	})
	if n != 1 {
		t.Fatalf("$listSessions through the router shows the session %d times (used on two shards), want 1", n)
	}
}

// The compose file's mongos-lite and the in-process router share placement through
// config.databases on the first shard, as two mongos would.
func TestRealClusterContainerRouterAgrees(t *testing.T) {
	requireRealCluster(t, "a mongos-lite container in front of the sets")
	uri := os.Getenv(itRouterEnv)
	if uri == "" {
		t.Skipf("%s names no running mongos-lite (scripts/cluster-test.sh sets it)", itRouterEnv)
	}
	c := startCluster(t, clusterOptions{})
	container := connect(t, uri)
	ctx := ctxT(t)
	var hello struct{ Msg string }
	if err := container.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil || hello.Msg != "isdbgrid" {
		t.Fatalf("the container's hello: msg %q, %v; want a mongos", hello.Msg, err)
	}
	db := fmt.Sprintf("container_%d", time.Now().UnixNano()) // the container caches placements: a name it never saw
	if _, err := container.Database(db).Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: "via-container"}}); err != nil {
		t.Fatal(err)
	}
	n, err := c.client(t).Database(db).Collection("c").CountDocuments(ctx, bson.D{{Key: "_id", Value: "via-container"}})
	if err != nil || n != 1 {
		t.Fatalf("the in-process router finds %d documents (%v); want the container's insert", n, err)
	}
	holders := 0
	for i := range c.sets {
		holders += int(c.countOn(t, i, db, "c"))
	}
	if holders != 1 {
		t.Fatalf("the document is on %d shards, want exactly one", holders)
	}
}

// Our hash is each shard's own hashed-index key ($toHashedIndexKey) for values of every kind,
// and a collection sharded through the router has each document on the shard whose chunk holds
// the hash its shard computes. On real sets (MONGOS_LITE_IT_SHARDS) that is mongod's own hash;
// memshard's $toHashedIndexKey is internal/hashkey itself, so there the test checks the placement.
func TestHashAgreesWithShardsAndPlacement(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	ctx := ctxT(t)
	dec, err := bson.ParseDecimal128("2.5")
	if err != nil {
		t.Fatal(err)
	}
	values := bson.A{int32(42), int64(42), 42.0, 42.9, -42.9, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1),
		math.Pow(2, 63), -math.Pow(2, 64), dec, "string to hash", "", bson.Symbol("string to hash"),
		bson.D{{Key: "a", Value: 1}, {Key: "b", Value: bson.A{1, "x"}}}, bson.A{1, 2, bson.D{}},
		bson.NewObjectID(), true, false, time.UnixMilli(1_700_000_000_123), nil, bson.MinKey{}, bson.MaxKey{},
		bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}, bson.Regex{Pattern: "^a", Options: "i"},
		bson.Timestamp{T: 7, I: 9}, bson.JavaScript("function() {}"),
		bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "y", Value: 1}}}}
	var docs bson.A
	for i, v := range values {
		docs = append(docs, bson.D{{Key: "i", Value: i}, {Key: "v", Value: v}})
	}
	for _, rs := range c.sets {
		cur, err := connectShard(t, rs.URI()).Database("admin").Aggregate(ctx, bson.A{
			bson.D{{Key: "$documents", Value: docs}},
			bson.D{{Key: "$project", Value: bson.D{{Key: "i", Value: 1}, {Key: "v", Value: 1}, {Key: "h", Value: bson.D{{Key: "$toHashedIndexKey", Value: "$v"}}}}}},
		})
		if err != nil {
			t.Fatalf("%s: %v", rs.Name(), err)
		}
		var got []bson.Raw
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(values) {
			t.Fatalf("%s hashed %d of %d values", rs.Name(), len(got), len(values))
		}
		for _, d := range got {
			if want := d.Lookup("h").Int64(); hashOf(t, d, "v") != want {
				t.Errorf("%s: value %v hashes to %d on mongod, %d here", rs.Name(), d.Lookup("v"), want, hashOf(t, d, "v"))
			}
		}
	}
	cl := c.client(t)
	shardColl(t, cl, "realhash.c", "k")
	var ins []any
	for i := range 500 {
		ins = append(ins, bson.D{{Key: "_id", Value: i}, {Key: "k", Value: fmt.Sprintf("key-%d", i)}})
	}
	if _, err := cl.Database("realhash").Collection("c").InsertMany(ctx, ins); err != nil {
		t.Fatal(err)
	}
	chunks := c.chunksOf(t, "realhash.c", "k")
	total := 0
	for i, rs := range c.sets {
		cur, err := c.direct(t, i).Database("realhash").Collection("c").Aggregate(ctx, bson.A{
			bson.D{{Key: "$project", Value: bson.D{{Key: "h", Value: bson.D{{Key: "$toHashedIndexKey", Value: "$k"}}}}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []bson.Raw
		if err := cur.All(ctx, &got); err != nil {
			t.Fatal(err)
		}
		for _, d := range got {
			if want := owner(chunks, d.Lookup("h").Int64()); want != rs.shard {
				t.Errorf("document %v is on %s, its chunk (by the shard's own hash) on %s", d.Lookup("_id"), rs.shard, want)
			}
		}
		total += len(got)
	}
	if total != len(ins) {
		t.Fatalf("%d documents on the shards, %d inserted", total, len(ins))
	}
}
