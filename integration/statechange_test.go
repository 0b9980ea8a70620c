package integration

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
)

// notStalled is how long a client may take, from just before a shard member's state change to
// the end of its next operation through the router. A driver that took the router for the
// member (marked it Unknown) would wait for its next heartbeat, 10 s by default.
const notStalled = 5 * time.Second

// driverStateChangeCodes are the codes the Go driver's SDAM reads as "not primary" or "node is
// recovering" (x/mongo/driver/errors.go): none may reach it from the router.
var driverStateChangeCodes = []int{10107, 13435, 10058, 11600, 11602, 13436, 189, 91}

// wantNoStateChange fails t when err carries a code that would make the driver apply SDAM to
// the router.
func wantNoStateChange(t *testing.T, err error) {
	t.Helper()
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return
	}
	for _, code := range driverStateChangeCodes {
		if se.HasErrorCode(code) {
			t.Fatalf("the router passed state-change code %d to the client: %v", code, err)
		}
	}
}

// A shard member answers with a state-change error (a failCommand fail point on the primary):
// the router retries where mongos would, and what reaches the client is HostUnreachable, which
// drivers do not read as the router stepping down, so the client's next operation runs at once.
func TestShardStateChangeErrorsAreRetriedOrCloaked(t *testing.T) {
	requireMemshard(t, "counts the attempts each member received")
	// The routing state is read every poll interval: not while the test counts finds.
	c := startCluster(t, clusterOptions{shards: 1, configure: func(cfg *router.Config) { cfg.RoutingPollInterval = time.Hour }})
	set := c.sets[0]
	primary := set.Primary()
	direct := connect(t, "mongodb://"+set.Hosts()[primary]+"/?directConnection=true")
	retrying := c.client(t)
	plain := c.client(t, options.Client().SetRetryWrites(false).SetRetryReads(false))
	db := "statechange"
	if _, err := retrying.Database(db).Collection("c").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}

	find := func(ctx context.Context, cl *mongo.Client) error {
		return cl.Database(db).Collection("c").FindOne(ctx, bson.D{}).Err()
	}
	insert := func(ctx context.Context, cl *mongo.Client) error {
		_, err := cl.Database(db).Collection("c").InsertOne(ctx, bson.D{})
		return err
	}
	create := func(ctx context.Context, cl *mongo.Client) error {
		return cl.Database(db).CreateCollection(ctx, "c"+bson.NewObjectID().Hex())
	}
	tests := []struct {
		name     string
		command  string // the command the fail point fails
		run      func(context.Context, *mongo.Client) error
		retrying bool // the client retries writes and reads itself
		data     bson.D
		attempts int64 // how many times the member received the command
		wantCode int   // 0: success; else the code the client gets (a command or write concern error)
	}{
		{name: "read: retried on another selection", command: "find", run: find,
			data: bson.D{{Key: "errorCode", Value: 13435}, {Key: "times", Value: 2}}, attempts: 3},
		{name: "read: three retries at most", command: "find", run: find,
			data: bson.D{{Key: "errorCode", Value: 91}, {Key: "times", Value: 4}}, attempts: 4, wantCode: 6},
		{name: "write: not retried", command: "insert", run: insert,
			data: bson.D{{Key: "errorCode", Value: 10107}, {Key: "times", Value: 1}}, attempts: 1, wantCode: 6},
		{name: "write: interrupted by a step-down, not retried", command: "insert", run: insert,
			data: bson.D{{Key: "errorCode", Value: 11602}, {Key: "times", Value: 1}}, attempts: 1, wantCode: 6},
		{name: "write: write concern error", command: "insert", run: insert,
			data: bson.D{{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 91}, {Key: "codeName", Value: "ShutdownInProgress"},
				{Key: "errmsg", Value: "Replication is being shut down"}}}, {Key: "times", Value: 1}}, attempts: 1, wantCode: 6},
		{name: "retryable write: retried", command: "insert", run: insert, retrying: true,
			data: bson.D{{Key: "errorCode", Value: 11602}, {Key: "times", Value: 2}}, attempts: 3},
		{name: "other command: retried when the member was not primary", command: "create", run: create,
			data: bson.D{{Key: "errorCode", Value: 10107}, {Key: "times", Value: 1}}, attempts: 2},
		{name: "other command: not retried on shutdown", command: "create", run: create,
			data: bson.D{{Key: "errorCode", Value: 91}, {Key: "times", Value: 1}}, attempts: 1, wantCode: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := plain
			if tt.retrying {
				cl = retrying
			}
			ctx := ctxT(t)
			member := set.Member(primary)
			before := member.CommandCount(tt.command)
			start := time.Now()
			setFailCommand(t, direct, tt.command, tt.data)
			err := tt.run(ctx, cl)
			wantNoStateChange(t, err)
			if tt.wantCode == 0 && err != nil {
				t.Fatalf("%s: %v, want success", tt.command, err)
			}
			if tt.wantCode != 0 {
				var se mongo.ServerError
				if !errors.As(err, &se) || !se.HasErrorCode(tt.wantCode) {
					t.Fatalf("%s: %v, want code %d", tt.command, err, tt.wantCode)
				}
				if !hasCodeName(err, "HostUnreachable") {
					t.Fatalf("%s: %v, want codeName HostUnreachable", tt.command, err)
				}
			}
			if got := member.CommandCount(tt.command) - before; got != tt.attempts {
				t.Fatalf("the member received %s %d times, want %d", tt.command, got, tt.attempts)
			}
			// The client still takes the router for a healthy mongos.
			if err := find(ctx, cl); err != nil {
				t.Fatalf("the next operation: %v", err)
			}
			if took := time.Since(start); took > notStalled {
				t.Fatalf("the failure and the next operation took %v", took)
			}
		})
	}
}

// Database placements live on the first shard: a state change of its member while the router
// looks one up reaches the client cloaked too.
func TestPlacementStateChangeIsCloaked(t *testing.T) {
	requireMemshard(t, "counts the lookups the first shard's primary received")
	// The routing state is read every poll interval: not while the test counts finds.
	c := startCluster(t, clusterOptions{configure: func(cfg *router.Config) { cfg.RoutingPollInterval = time.Hour }})
	set := c.sets[0]
	member := set.Member(set.Primary())
	direct := connect(t, "mongodb://"+set.Hosts()[set.Primary()]+"/?directConnection=true")
	cl := c.client(t, options.Client().SetRetryReads(false))
	ctx := ctxT(t)
	findNew := func() error {
		err := cl.Database("new"+bson.NewObjectID().Hex()).Collection("c").FindOne(ctx, bson.D{}).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil // a database that does not exist has no documents
		}
		return err
	}
	if err := findNew(); err != nil { // the router has read the routing state by then
		t.Fatal(err)
	}
	before := member.CommandCount("find")
	start := time.Now()
	setFailCommand(t, direct, "find", bson.D{{Key: "errorCode", Value: 10107}, {Key: "times", Value: 1}})
	err := findNew()
	wantNoStateChange(t, err)
	if !hasCodeName(err, "HostUnreachable") {
		t.Fatalf("placement lookup on a member that is not primary: %v, want HostUnreachable", err)
	}
	if got := member.CommandCount("find") - before; got != 1 {
		t.Fatalf("the member received %d finds, want the one placement lookup", got)
	}
	if err := findNew(); err != nil {
		t.Fatalf("the next operation: %v", err)
	}
	if took := time.Since(start); took > notStalled {
		t.Fatalf("the failure and the next operation took %v", took)
	}
}

// setFailCommand fails command on the member cl is connected to as data says ({times: n} and
// the failCommand fields).
func setFailCommand(t *testing.T, cl *mongo.Client, command string, data bson.D) {
	t.Helper()
	mode := bson.D{{Key: "times", Value: 1}}
	fields := bson.D{{Key: "failCommands", Value: bson.A{command}}}
	for _, e := range data {
		if e.Key == "times" {
			mode = bson.D{e}
			continue
		}
		fields = append(fields, e)
	}
	err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: mode}, {Key: "data", Value: fields}}).Err()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cl.Database("admin").RunCommand(context.Background(), bson.D{{Key: "configureFailPoint", Value: "failCommand"},
			{Key: "mode", Value: "off"}}).Err()
	})
}

// hasCodeName reports whether err is a command error or a write concern error named name.
func hasCodeName(err error, name string) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return ce.Name == name
	}
	var we mongo.WriteException
	if errors.As(err, &we) && we.WriteConcernError != nil {
		return we.WriteConcernError.Name == name
	}
	return false
}

// A transaction whose primary steps down fails with a label the driver acts on: the statement
// on the member that stepped down with TransientTransactionError, its commit with the new
// primary's answer (NoSuchTransaction, TransientTransactionError). Neither looks like the router
// stepping down, so the client goes on at once and withTransaction commits on its second try.
func TestStepDownRestartsTransactions(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := cl.Database("stepdowntx").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	set := c.sets[0]
	stepDown := func() {
		if err := set.StepDown((set.Primary() + 1) % 3); err != nil {
			t.Fatal(err)
		}
	}
	wantTransient := func(err error, code int) {
		t.Helper()
		wantNoStateChange(t, err)
		var se mongo.ServerError
		if !errors.As(err, &se) || !se.HasErrorCode(code) || !se.HasErrorLabel("TransientTransactionError") {
			t.Fatalf("%v; want code %d labelled TransientTransactionError", err, code)
		}
	}

	t.Run("commit", func(t *testing.T) {
		sess, _ := inTransaction(t, cl, coll, "commit")
		start := time.Now()
		stepDown()
		wantTransient(sess.CommitTransaction(ctx), 251)
		if _, err := coll.InsertOne(ctx, bson.D{}); err != nil {
			t.Fatalf("the next operation: %v", err)
		}
		if took := time.Since(start); took > notStalled {
			t.Fatalf("the step-down stalled the client for %v", took)
		}
	})

	t.Run("withTransaction", func(t *testing.T) {
		sess := startSession(t, cl)
		attempts := 0
		start := time.Now()
		_, err := sess.WithTransaction(ctx, func(sctx context.Context) (any, error) {
			attempts++
			if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
				return nil, err
			}
			if attempts == 1 {
				stepDown()
			}
			_, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: "b"}})
			if attempts == 1 {
				wantTransient(err, 6)
			}
			return nil, err
		})
		if err != nil {
			t.Fatalf("withTransaction across a step-down: %v", err)
		}
		if attempts != 2 {
			t.Fatalf("the callback ran %d times, want 2", attempts)
		}
		if took := time.Since(start); took > notStalled {
			t.Fatalf("withTransaction across a step-down took %v", took)
		}
		n, err := coll.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: bson.A{"a", "b"}}}}})
		if err != nil || n != 2 {
			t.Fatalf("%d of the transaction's 2 documents (%v)", n, err)
		}
	})
}
