package integration

import (
	"context"
	"fmt"
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
	cur, err := on.Aggregate(ctxT(t), pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctxT(t), &docs); err != nil {
		t.Fatal(err)
	}
	return len(docs)
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
