package integration

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/router"
)

// twoDatabasesOnTwoShards creates two databases through the router and returns them so that
// the first lives on one shard and the second on the other.
func twoDatabasesOnTwoShards(t *testing.T, c *cluster, cl *mongo.Client) (string, string) {
	t.Helper()
	ctx := ctxT(t)
	for _, db := range []string{"txa", "txb"} {
		if _, err := cl.Database(db).Collection("c").InsertOne(ctx, bson.D{{Key: "seed", Value: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if (c.countOn(t, 0, "txa", "c") == 1) == (c.countOn(t, 0, "txb", "c") == 1) {
		t.Fatal("txa and txb landed on the same shard")
	}
	return "txa", "txb"
}

func TestWithTransactionOnOneShard(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("txone").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 0}, {Key: "n", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	sess := startSession(t, cl)
	_, err := sess.WithTransaction(ctx, func(sctx context.Context) (any, error) {
		if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			return nil, err
		}
		if _, err := coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}); err != nil {
			return nil, err
		}
		// The transaction reads its own writes.
		n, err := coll.CountDocuments(sctx, bson.D{})
		if err == nil && n != 2 {
			return nil, errors.New("the transaction does not see its own insert")
		}
		return nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ N int32 }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 0}}).Decode(&doc); err != nil || doc.N != 1 {
		t.Fatalf("after commit n = %d (%v), want 1", doc.N, err)
	}

	// An aborted transaction leaves nothing behind.
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: 2}}); n != 0 {
		t.Fatal("an aborted insert is visible")
	}
}

func TestCrossShardTransactionRefused(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	dbA, dbB := twoDatabasesOnTwoShards(t, c, cl)
	sess, sctx := inTransaction(t, cl, cl.Database(dbA).Collection("c"), "in-txn")
	_, err := cl.Database(dbB).Collection("c").InsertOne(sctx, bson.D{})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 263 || !strings.Contains(ce.Message, "rs0") || !strings.Contains(ce.Message, "rs1") {
		t.Fatalf("second-shard statement: %v; want OperationNotSupportedInTransaction naming rs0 and rs1", err)
	}
	err = sess.CommitTransaction(ctx)
	if !errors.As(err, &ce) || ce.Code != 251 {
		t.Fatalf("commit after the refusal: %v, want NoSuchTransaction (the transaction was aborted)", err)
	}
	if n, _ := cl.Database(dbA).Collection("c").CountDocuments(ctx, bson.D{{Key: "_id", Value: "in-txn"}}); n != 0 {
		t.Fatal("the aborted transaction's insert is visible")
	}
}

// inTransaction starts a session and a transaction on cl whose first statement inserts
// {_id: id} into coll; the session ends with the test.
func inTransaction(t *testing.T, cl *mongo.Client, coll *mongo.Collection, id any) (*mongo.Session, context.Context) {
	t.Helper()
	ctx := ctxT(t)
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.EndSession(context.Background()) })
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		t.Fatal(err)
	}
	return sess, sctx
}

func TestKilledSessionTransactionIsAborted(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("txkill").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	sess, _ := inTransaction(t, cl, coll, "doomed")
	killer := c.client(t)
	if err := killer.Database("admin").RunCommand(ctx, bson.D{{Key: "killSessions",
		Value: bson.A{bson.D{{Key: "id", Value: sessionUUID(t, sess)}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	err := sess.CommitTransaction(ctx)
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 251 {
		t.Fatalf("commit after killSessions: %v, want NoSuchTransaction (251)", err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: "doomed"}}); n != 0 {
		t.Fatal("the killed transaction's insert is visible")
	}
}

// A retryable insert whose reply is lost after the shard applied it: the router retries with
// the same txnNumber and the shard answers from its record, so the document exists once.
func TestRetryableInsertAppliedOnceWhenReplyLost(t *testing.T) {
	c := startCluster(t, clusterOptions{configure: func(cfg *router.Config) { cfg.EnableTestCommands = true }})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("retry").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "seed"}}); err != nil {
		t.Fatal(err)
	}
	shard := 0
	if c.countOn(t, 1, "retry", "c") == 1 {
		shard = 1
	}
	// On the shard's primary: close the connection right after applying the next retryable write.
	primary := connect(t, "mongodb://"+c.sets[shard].Hosts()[c.sets[shard].Primary()]+"/?directConnection=true")
	if err := primary.Database("admin").RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "onPrimaryTransactionalWrite"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: bson.D{{Key: "closeConnection", Value: true}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	// RunCommand is never retried by the driver: only the router's retry can save this insert.
	sess := startSession(t, cl)
	if err := cl.Database("retry").RunCommand(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "insert", Value: "c"},
		{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: "once"}}}},
		{Key: "txnNumber", Value: int64(1 << 40)}}).Err(); err != nil { // beyond any pooled session's number
		t.Fatalf("insert whose first reply was lost: %v", err)
	}
	if n := c.countOn(t, shard, "retry", "c"); n != 2 {
		t.Fatalf("shard holds %d documents, want seed + one insert", n)
	}
	if got := c.sets[shard].Member(c.sets[shard].Primary()).CommandCount("insert"); got < 3 {
		t.Fatalf("primary ran insert %d times; want the seed, the lost attempt and the retry", got)
	}

	// The same through the router's own fail point: the driver retries.
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "closeConnection", Value: true}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "driver-retry"}}); err != nil {
		t.Fatalf("insert through the router fail point: %v", err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{}); n != 3 {
		t.Fatalf("%d documents, want 3", n)
	}
}

// A causally consistent session writes on one shard and reads on the other: the read carries
// afterClusterTime of the write, and the other shard, behind in its own clock, honours it.
func TestCausalConsistencyAcrossShards(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	var mu sync.Mutex
	var reads []bson.Raw
	mon := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "find" {
			mu.Lock()
			reads = append(reads, append(bson.Raw(nil), e.Command...))
			mu.Unlock()
		}
	}}
	cl := c.client(t, options.Client().SetMonitor(mon))
	ctx := ctxT(t)
	dbA, dbB := twoDatabasesOnTwoShards(t, c, cl)
	// Advance shard A's clock well past shard B's with writes that only A sees.
	for i := 0; i < 20; i++ {
		if _, err := cl.Database(dbA).Collection("c").InsertOne(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := cl.StartSession(options.Session().SetCausalConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := cl.Database(dbA).Collection("c").InsertOne(sctx, bson.D{{Key: "_id", Value: "w"}}); err != nil {
		t.Fatal(err)
	}
	writeTime := sess.OperationTime()
	if writeTime == nil {
		t.Fatal("no operationTime after the write")
	}
	if err := cl.Database(dbB).Collection("c").FindOne(sctx, bson.D{}).Err(); err != nil {
		t.Fatalf("read on the other shard: %v", err)
	}
	mu.Lock()
	last := reads[len(reads)-1]
	mu.Unlock()
	afterT, afterI, ok := last.Lookup("readConcern", "afterClusterTime").TimestampOK()
	if !ok || afterT != writeTime.T || afterI != writeTime.I {
		t.Fatalf("read sent afterClusterTime %v, want the write's operationTime %v", last.Lookup("readConcern"), writeTime)
	}
	readTime := sess.OperationTime()
	if readTime.T < writeTime.T || readTime.T == writeTime.T && readTime.I < writeTime.I {
		t.Fatalf("read operationTime %v is before the write's %v", readTime, writeTime)
	}
}

// A causal chain that moves between routers: the session's cluster time comes from router A,
// whose clock is ahead of router B's; router B must take the client's $clusterTime, or the
// other shard refuses an afterClusterTime beyond what it was told (as mongod does).
func TestCausalConsistencyAcrossRouters(t *testing.T) {
	causalAcrossRouters(t, nil)
}

// The same with --auth, for a user who may not advance the cluster time: router B takes the time
// only because it checks router A's signature with the keys both derive from one key file
// (docs/architecture.md, "Cluster time").
func TestCausalConsistencyAcrossRoutersWithAuth(t *testing.T) {
	creds, err := auth.NewCredentials("carol", "carol-pw")
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(auth.File{Users: []auth.UserEntry{{User: "carol", DB: "admin", Credentials: creds,
		Roles: []auth.RoleRef{{Role: "readWrite", DB: "txa"}, {Role: "readWrite", DB: "txb"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.ParseUsers(data)
	if err != nil {
		t.Fatal(err)
	}
	a, keys := auth.NewAuthenticator(users, nil, zerolog.Nop()), clustertime.NewKeys([]byte("the cluster's key file"))
	causalAcrossRouters(t, func(cfg *router.Config) { cfg.Auth, cfg.ClusterTimeKeys = a, keys },
		options.Client().SetAuth(options.Credential{Username: "carol", Password: "carol-pw", AuthSource: "admin"}))
}

// causalAcrossRouters runs the causal chain through two routers configured alike.
func causalAcrossRouters(t *testing.T, configure func(*router.Config), opts ...*options.ClientOptions) {
	c := startCluster(t, clusterOptions{configure: configure})
	second, _ := c.serveRouter(t, configure)
	clA := c.client(t, opts...)
	clB := connect(t, "mongodb://"+second.Addr()+"/", opts...)
	ctx := ctxT(t)
	dbA, dbB := twoDatabasesOnTwoShards(t, c, clA)
	if err := clB.Database(dbB).Collection("c").FindOne(ctx, bson.D{}).Err(); err != nil {
		t.Fatal(err) // router B learns the placement and a (low) cluster time
	}
	for i := 0; i < 20; i++ { // shard A's clock runs ahead, seen only by router A
		if _, err := clA.Database(dbA).Collection("c").InsertOne(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	sessA, err := clA.StartSession(options.Session().SetCausalConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	defer sessA.EndSession(ctx)
	if _, err := clA.Database(dbA).Collection("c").InsertOne(mongo.NewSessionContext(ctx, sessA), bson.D{}); err != nil {
		t.Fatal(err)
	}
	sessB, err := clB.StartSession(options.Session().SetCausalConsistency(true))
	if err != nil {
		t.Fatal(err)
	}
	defer sessB.EndSession(ctx)
	if err := sessB.AdvanceClusterTime(sessA.ClusterTime()); err != nil {
		t.Fatal(err)
	}
	if err := sessB.AdvanceOperationTime(sessA.OperationTime()); err != nil {
		t.Fatal(err)
	}
	if err := clB.Database(dbB).Collection("c").FindOne(mongo.NewSessionContext(ctx, sessB), bson.D{}).Err(); err != nil {
		t.Fatalf("causal read through the other router: %v", err)
	}
}
