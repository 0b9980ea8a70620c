package memshard

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// blockedApp is the appName of the clients whose commands a test blocks.
const blockedApp = "blocked"

// blockNext makes the next of cmds a client named blockedApp sends wait a minute (failCommand
// blockConnection): far longer than any test, so that only killOp ends it in time.
func blockNext(ctx context.Context, t *testing.T, cl *mongo.Client, cmds ...string) {
	t.Helper()
	data := bson.D{{Key: "failCommands", Value: cmds}, {Key: "blockConnection", Value: true},
		{Key: "blockTimeMS", Value: 60_000}, {Key: "appName", Value: blockedApp}}
	err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: data}}).Err()
	if err != nil {
		t.Fatal(err)
	}
}

// failCommandBlocks is a test setup that blocks the next cmd of blockedApp, with nothing to undo.
func failCommandBlocks(cmd string) func(ctx context.Context, t *testing.T, admin *mongo.Client) func() {
	return func(ctx context.Context, t *testing.T, admin *mongo.Client) func() {
		blockNext(ctx, t, admin, cmd)
		return func() {}
	}
}

// inBackground runs fn on a goroutine of its own; the returned func waits for its error.
func inBackground(fn func() error) func() error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	return func() error { return <-done }
}

// currentOps is {aggregate: 1, pipeline: [{$currentOp: spec}, stages...]} on admin.
func currentOps(ctx context.Context, t *testing.T, cl *mongo.Client, spec bson.D, stages ...bson.D) []bson.Raw {
	t.Helper()
	cur, err := cl.Database("admin").Aggregate(ctx, append(mongo.Pipeline{{{Key: "$currentOp", Value: spec}}}, stages...))
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

// waitForBlocked waits until $currentOp shows blockedApp's command name in progress.
func waitForBlocked(ctx context.Context, t *testing.T, cl *mongo.Client, name string) bson.Raw {
	t.Helper()
	var op bson.Raw
	eventually(t, "the blocked "+name+" in $currentOp", func() bool {
		for _, d := range currentOps(ctx, t, cl, bson.D{}) {
			if app, _ := d.Lookup("appName").StringValueOK(); app == blockedApp && d.Lookup("command", name).Type != 0 {
				op = d
				return true
			}
		}
		return false
	})
	return op
}

func killOp(ctx context.Context, t *testing.T, cl *mongo.Client, opid int32) {
	t.Helper()
	var reply bson.Raw
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: opid}}).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	if info, _ := reply.Lookup("info").StringValueOK(); info != "attempting to kill op" {
		t.Fatalf("killOp replied %s", reply)
	}
}

// wantInterrupted checks a command ended as a killed operation does.
func wantInterrupted(t *testing.T, err error) {
	t.Helper()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != int32(mongoerr.Interrupted) || ce.Name != "Interrupted" || ce.Message != "operation was interrupted" {
		t.Fatalf("got %v, want Interrupted (11601) \"operation was interrupted\"", err)
	}
}

func keys(doc bson.Raw) []string {
	elems, _ := doc.Elements()
	out := make([]string, len(elems))
	for i, e := range elems {
		out[i] = e.Key()
	}
	return out
}

// TestKillOpInterruptsBlockedCommand: a command waiting in memshard is in progress in $currentOp
// as seen from another client, in mongod's shape; killOp wakes it at once (the failCommand blocks
// last a minute, the test's context 20 s) and it fails with Interrupted.
func TestKillOpInterruptsBlockedCommand(t *testing.T) {
	rs := startSet(t, 1)
	member := rs.Member(0)
	tests := []struct {
		name  string
		cmd   string // what $currentOp shows it running
		setup func(ctx context.Context, t *testing.T, admin *mongo.Client) (cleanup func())
		run   func(ctx context.Context, blocked *mongo.Client) error
		check func(t *testing.T, op bson.Raw)
	}{{
		name:  "find blocked by failCommand",
		cmd:   "find",
		setup: failCommandBlocks("find"),
		run: func(ctx context.Context, blocked *mongo.Client) error {
			return blocked.Database("test").Collection("c").FindOne(ctx, bson.D{}, options.FindOne().SetComment("marker")).Err()
		},
		check: func(t *testing.T, op bson.Raw) {
			want := []string{"type", "host", "desc", "connectionId", "client", "appName", "clientMetadata", "active",
				"currentOpTime", "isFromUserConnection", "threaded", "opid", "lsid", "secs_running", "microsecs_running",
				"op", "ns", "redacted", "command", "numYields", "locks", "waitingForLock", "lockStats",
				"waitingForFlowControl", "flowControlStats"}
			if got := keys(op); !slices.Equal(got, want) {
				t.Fatalf("fields %v, want %v", got, want)
			}
			connID := op.Lookup("connectionId").Int32()
			for field, ok := range map[string]bool{
				"type":   op.Lookup("type").StringValue() == "op",
				"host":   op.Lookup("host").StringValue() == member.host,
				"desc":   op.Lookup("desc").StringValue() == "conn"+strconv.Itoa(int(connID)),
				"client": strings.HasPrefix(op.Lookup("client").StringValue(), "127.0.0.1:"),
				"clientMetadata": op.Lookup("clientMetadata", "application", "name").StringValue() == blockedApp &&
					op.Lookup("clientMetadata", "driver", "name").Type == bson.TypeString,
				"active":            op.Lookup("active").Boolean(),
				"opid":              op.Lookup("opid").Type == bson.TypeInt32,
				"lsid":              op.Lookup("lsid", "id").Type == bson.TypeBinary && op.Lookup("lsid", "uid").Type == bson.TypeBinary,
				"secs_running":      op.Lookup("secs_running").Type == bson.TypeInt64,
				"microsecs_running": op.Lookup("microsecs_running").Type == bson.TypeInt64 && op.Lookup("microsecs_running").Int64() >= 0,
				"op":                op.Lookup("op").StringValue() == "query",
				"ns":                op.Lookup("ns").StringValue() == "test.$cmd",
				"command":           op.Lookup("command", "find").StringValue() == "c" && op.Lookup("command", "comment").StringValue() == "marker",
			} {
				if !ok {
					t.Errorf("%s is wrong in %s", field, op)
				}
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000-07:00", op.Lookup("currentOpTime").StringValue()); err != nil {
				t.Errorf("currentOpTime: %v", err)
			}
		},
	}, {
		name:  "ping blocked by failCommand",
		cmd:   "ping",
		setup: failCommandBlocks("ping"),
		run: func(ctx context.Context, blocked *mongo.Client) error {
			return blocked.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
		},
		check: func(t *testing.T, op bson.Raw) {
			// ping needs no authentication: mongod attaches no session to it.
			if op.Lookup("op").StringValue() != "command" || op.Lookup("ns").StringValue() != "admin.$cmd" || op.Lookup("lsid").Type != 0 {
				t.Fatalf("ping reported as %s", op)
			}
		},
	}, {
		name:  "change stream getMore awaiting events",
		cmd:   "getMore",
		setup: func(context.Context, *testing.T, *mongo.Client) func() { return func() {} },
		run: func(ctx context.Context, blocked *mongo.Client) error {
			cs, err := blocked.Database("test").Collection("s").Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetMaxAwaitTime(15*time.Second))
			if err != nil {
				return err
			}
			defer func() { _ = cs.Close(context.Background()) }()
			if cs.Next(ctx) {
				return errors.New("an event nobody wrote")
			}
			return cs.Err()
		},
		check: func(t *testing.T, op bson.Raw) {
			if op.Lookup("op").StringValue() != "getmore" || op.Lookup("command", "collection").StringValue() != "s" {
				t.Fatalf("getMore reported as %s", op)
			}
		},
	}, {
		name: "retryable update waiting for a transaction's write",
		cmd:  "update",
		setup: func(ctx context.Context, t *testing.T, admin *mongo.Client) func() {
			coll := admin.Database("test").Collection("w")
			if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
				t.Fatal(err)
			}
			sess, err := admin.StartSession()
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.StartTransaction(); err != nil {
				t.Fatal(err)
			}
			if _, err := coll.UpdateOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 1}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "txn"}}}}); err != nil {
				t.Fatal(err)
			}
			return func() {
				_ = sess.AbortTransaction(ctx)
				sess.EndSession(ctx)
			}
		},
		run: func(ctx context.Context, blocked *mongo.Client) error {
			_, err := blocked.Database("test").Collection("w").UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "outside"}}}})
			return err
		},
		check: func(t *testing.T, op bson.Raw) {
			// It holds its session: the retryable write's number is shown.
			n, ok := op.Lookup("transaction", "parameters", "txnNumber").Int64OK()
			if !ok || n < 1 || op.Lookup("op").StringValue() != "update" {
				t.Fatalf("retryable write reported as %s", op)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			admin := connect(t, rs.URI())
			blocked := connect(t, rs.URI(), options.Client().SetAppName(blockedApp))
			cleanup := tc.setup(ctx, t, admin)
			defer cleanup()
			wait := inBackground(func() error { return tc.run(ctx, blocked) })
			op := waitForBlocked(ctx, t, admin, tc.cmd)
			tc.check(t, op)
			opid := op.Lookup("opid").Int32()
			killOp(ctx, t, admin, opid)
			wantInterrupted(t, wait())
			for _, d := range currentOps(ctx, t, admin, bson.D{}) {
				if id, _ := d.Lookup("opid").Int32OK(); id == opid {
					t.Fatalf("still in progress after the kill: %s", d)
				}
			}
		})
	}
}

// TestCurrentOpIdle: idle connections, idle cursors and idle sessions appear when asked for,
// and only then.
func TestCurrentOpIdle(t *testing.T) {
	rs := startSet(t, 1)
	ctx := ctxT(t)
	cl := connect(t, rs.URI(), options.Client().SetAppName("idler"))
	coll := cl.Database("test").Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}, bson.D{{Key: "_id", Value: 3}}}); err != nil {
		t.Fatal(err)
	}
	byType := func(docs []bson.Raw, typ string) []bson.Raw {
		var out []bson.Raw
		for _, d := range docs {
			if d.Lookup("type").StringValue() == typ && (typ != "op" || !d.Lookup("active").Boolean()) {
				out = append(out, d)
			}
		}
		return out
	}

	t.Run("connections", func(t *testing.T) {
		// A connection of another client that ran a command and now waits: idle for certain,
		// where this client's own may be reused by the currentOp and its monitors' may be busy.
		other := connect(t, rs.URI())
		if err := other.Ping(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if idle := byType(currentOps(ctx, t, cl, bson.D{}), "op"); len(idle) != 0 {
			t.Fatalf("idle connections without idleConnections: %v", idle)
		}
		idle := byType(currentOps(ctx, t, cl, bson.D{{Key: "idleConnections", Value: true}}), "op")
		if len(idle) == 0 {
			t.Fatal("no idle connection")
		}
		for _, d := range idle {
			if d.Lookup("opid").Type != 0 || d.Lookup("command").Type != 0 || d.Lookup("desc").StringValue() == "" {
				t.Fatalf("idle connection %s", d)
			}
		}
	})

	t.Run("cursors", func(t *testing.T) {
		cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(1))
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cur.Close(ctx) }()
		find := func() bson.Raw {
			t.Helper()
			if c := byType(currentOps(ctx, t, cl, bson.D{}), "idleCursor"); len(c) != 0 {
				t.Fatalf("idle cursors without idleCursors: %v", c)
			}
			for _, d := range byType(currentOps(ctx, t, cl, bson.D{{Key: "idleCursors", Value: true}}), "idleCursor") {
				if d.Lookup("cursor", "cursorId").Int64() == cur.ID() {
					return d
				}
			}
			t.Fatalf("cursor %d is not reported", cur.ID())
			return nil
		}
		d := find()
		if d.Lookup("ns").StringValue() != "test.c" || d.Lookup("lsid", "id").Type != bson.TypeBinary ||
			d.Lookup("cursor", "nDocsReturned").Int64() != 1 || d.Lookup("cursor", "nBatchesReturned").Int64() != 1 ||
			d.Lookup("cursor", "originatingCommand", "find").StringValue() != "c" || d.Lookup("cursor", "createdDate").Type != bson.TypeDateTime {
			t.Fatalf("idle cursor %s", d)
		}
		cur.Next(ctx) // the first batch
		cur.Next(ctx) // a getMore
		if d := find(); d.Lookup("cursor", "nDocsReturned").Int64() != 2 || d.Lookup("cursor", "nBatchesReturned").Int64() != 2 {
			t.Fatalf("after a getMore: %s", d)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		sess, err := cl.StartSession()
		if err != nil {
			t.Fatal(err)
		}
		defer sess.EndSession(ctx)
		if err := sess.StartTransaction(options.Transaction().SetReadConcern(readconcern.Snapshot())); err != nil {
			t.Fatal(err)
		}
		if _, err := coll.InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "_id", Value: 4}}); err != nil {
			t.Fatal(err)
		}
		_, sid := sess.ID().Lookup("id").Binary()
		idle := func(spec bson.D) []bson.Raw {
			var out []bson.Raw
			for _, d := range byType(currentOps(ctx, t, cl, spec), "idleSession") {
				if _, id := d.Lookup("lsid", "id").Binary(); string(id) == string(sid) {
					out = append(out, d)
				}
			}
			return out
		}
		found := idle(bson.D{})
		if len(found) != 1 {
			t.Fatalf("%d idle sessions for the open transaction", len(found))
		}
		d := found[0]
		want := []string{"type", "host", "desc", "client", "connectionId", "appName", "clientMetadata", "lsid",
			"transaction", "active", "locks", "waitingForLock", "lockStats"}
		if got := keys(d); !slices.Equal(got, want) {
			t.Fatalf("fields %v, want %v", got, want)
		}
		if d.Lookup("desc").StringValue() != "inactive transaction" || d.Lookup("appName").StringValue() != "idler" ||
			d.Lookup("transaction", "parameters", "txnNumber").Int64() < 1 || d.Lookup("transaction", "parameters", "autocommit").Boolean() ||
			d.Lookup("transaction", "parameters", "readConcern", "level").StringValue() != "snapshot" ||
			d.Lookup("transaction", "parameters", "readConcern", "provenance").StringValue() != "clientSupplied" ||
			d.Lookup("transaction", "timeOpenMicros").Type != bson.TypeInt64 || d.Lookup("transaction", "expiryTime").Type != bson.TypeString {
			t.Fatalf("idle session %s", d)
		}
		if n := len(idle(bson.D{{Key: "idleSessions", Value: false}})); n != 0 {
			t.Fatalf("%d idle sessions with idleSessions: false", n)
		}
		if err := sess.AbortTransaction(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(idle(bson.D{})); n != 0 {
			t.Fatalf("%d idle sessions after the abort", n)
		}
	})
}

// runOn runs a command document on db and returns its reply.
func runOn(ctx context.Context, t *testing.T, cl *mongo.Client, db string, cmd bson.D) (bson.Raw, error) {
	t.Helper()
	return cl.Database(db).RunCommand(ctx, cmd).Raw()
}

// errorCase is a command that fails: its code and message.
type errorCase struct {
	name string
	db   string
	cmd  bson.D
	code int32
	msg  string
}

func runErrorCases(t *testing.T, cl *mongo.Client, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runOn(ctxT(t), t, cl, tc.db, tc.cmd)
			wantCommandError(t, err, tc.code, tc.msg)
		})
	}
}

func wantCommandError(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != code || ce.Message != msg {
		t.Fatalf("got %v, want %d %q", err, code, msg)
	}
}

func TestCurrentOpStageErrors(t *testing.T) {
	rs := startSet(t, 1)
	cl := connect(t, rs.URI())
	stage := func(spec any) bson.A { return bson.A{bson.D{{Key: "$currentOp", Value: spec}}} }
	aggregate := func(target any, pipeline bson.A) bson.D {
		return bson.D{{Key: "aggregate", Value: target}, {Key: "pipeline", Value: pipeline}, {Key: "cursor", Value: bson.D{}}}
	}
	runErrorCases(t, cl, []errorCase{
		{"options not an object", "admin", aggregate(1, stage(1)), 14, "$currentOp options must be specified in an object, but found: int"},
		{"allUsers not a boolean", "admin", aggregate(1, stage(bson.D{{Key: "allUsers", Value: 1}})), 14,
			"The 'allUsers' parameter of the $currentOp stage must be a boolean value, but found: int"},
		{"on a collection", "admin", aggregate("c", stage(bson.D{})), 73, "$currentOp must be run against the 'admin' database with {aggregate: 1}"},
		{"outside admin", "test", aggregate(1, stage(bson.D{})), 73, "$currentOp must be run against the 'admin' database with {aggregate: 1}"},
		{"unknown option", "admin", aggregate(1, stage(bson.D{{Key: "backtrace", Value: true}})), 40415, "BSON field '$currentOp.backtrace' is an unknown field."},
		{"option twice", "admin", aggregate(1, stage(bson.D{{Key: "idleCursors", Value: true}, {Key: "idleCursors", Value: false}})), 40413,
			"BSON field '$currentOp.idleCursors' is a duplicate field"},
		{"idleCursors not a boolean", "admin", aggregate(1, stage(bson.D{{Key: "idleCursors", Value: 1}})), 14,
			"Field 'idleCursors' should be a boolean value, but found: int"},
		{"targetAllNodes on a replica set", "admin", aggregate(1, stage(bson.D{{Key: "targetAllNodes", Value: true}})), 9,
			"$currentOp supports targetAllNodes parameter only for sharded clusters"},
		{"localOps with targetAllNodes", "admin", aggregate(1, stage(bson.D{{Key: "localOps", Value: true}, {Key: "targetAllNodes", Value: true}})), 9,
			"The 'localOps' parameter of the $currentOp stage cannot be true when 'targetAllNodes' is also true"},
		{"not the first stage", "admin", aggregate(1, bson.A{bson.D{{Key: "$match", Value: bson.D{}}}, bson.D{{Key: "$currentOp", Value: bson.D{}}}}), 40602,
			"$currentOp is only valid as the first stage in a pipeline."},
		{"no cursor option", "admin", bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: stage(bson.D{})}}, 9,
			"The 'cursor' option is required, except for aggregate with the explain argument"},
	})
	t.Run("later stages run on the operations", func(t *testing.T) {
		ctx := ctxT(t)
		docs := currentOps(ctx, t, cl, bson.D{{Key: "localOps", Value: true}}, bson.D{{Key: "$match", Value: bson.D{{Key: "command.aggregate", Value: 1}}}},
			bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: 0}, {Key: "ns", Value: 1}}}})
		if len(docs) != 1 || !slices.Equal(keys(docs[0]), []string{"ns"}) || docs[0].Lookup("ns").StringValue() != "admin.$cmd" {
			t.Fatalf("got %v, want this aggregate's own operation", docs)
		}
	})
}

func TestCurrentOpCommand(t *testing.T) {
	rs := startSet(t, 1)
	cl := connect(t, rs.URI())
	own := bson.E{Key: "command.currentOp", Value: bson.D{{Key: "$exists", Value: true}}}
	// A truncated command keeps only its comment to be found by.
	ownTruncated := bson.E{Key: "command.comment", Value: "c"}
	pad := strings.Repeat("x", 1100)
	var many bson.A // a command whose text, not only its BSON, exceeds 1000 bytes
	for i := range 200 {
		many = append(many, "value"+strconv.Itoa(i))
	}
	inprog := func(t *testing.T, cmd bson.D) []bson.Raw {
		t.Helper()
		reply, err := runOn(ctxT(t), t, cl, "admin", cmd)
		if err != nil {
			t.Fatal(err)
		}
		vals, err := reply.Lookup("inprog").Array().Values()
		if err != nil {
			t.Fatal(err)
		}
		ops := make([]bson.Raw, len(vals))
		for i, v := range vals {
			ops[i] = v.Document()
		}
		return ops
	}
	ownCommand := func(t *testing.T, ops []bson.Raw) bson.Raw {
		t.Helper()
		if len(ops) != 1 {
			t.Fatalf("%d operations, want this one: %v", len(ops), ops)
		}
		return ops[0].Lookup("command").Document()
	}
	t.Run("the filter leaves generic arguments out", func(t *testing.T) {
		cmd := ownCommand(t, inprog(t, bson.D{{Key: "currentOp", Value: 1}, own, {Key: "comment", Value: "mine"}}))
		if c, _ := cmd.Lookup("comment").StringValueOK(); c != "mine" {
			t.Fatalf("own command %s has no comment", cmd)
		}
	})
	t.Run("$all lists idle connections", func(t *testing.T) {
		ops := inprog(t, bson.D{{Key: "currentOp", Value: 1}, {Key: "$all", Value: true}, {Key: "active", Value: false}})
		if len(ops) == 0 {
			t.Fatal("no idle connection with $all")
		}
		if ops := inprog(t, bson.D{{Key: "currentOp", Value: 1}, {Key: "active", Value: false}}); len(ops) != 0 {
			t.Fatalf("idle connections without $all: %v", ops)
		}
	})
	t.Run("a command over 1000 bytes is truncated", func(t *testing.T) {
		cmd := ownCommand(t, inprog(t, bson.D{{Key: "currentOp", Value: 1}, ownTruncated, {Key: "pad", Value: bson.D{{Key: "$nin", Value: many}}},
			{Key: "comment", Value: "c"}}))
		if got := keys(cmd); !slices.Equal(got, []string{"$truncated", "comment"}) || cmd.Lookup("comment").StringValue() != "c" {
			t.Fatalf("truncated command %s", cmd)
		}
		text := cmd.Lookup("$truncated").StringValue()
		if len(text) != 1000 || !strings.HasPrefix(text, `{ currentOp: 1, command.comment: "c", pad: { $nin: [ "value0", "value1", `) ||
			!strings.HasSuffix(text, "...") {
			t.Fatalf("$truncated %q", text)
		}
	})
	t.Run("a long command whose text is short is its whole text", func(t *testing.T) {
		// BSONObj::toString cuts long strings: the text fits, and shows no "..." of its own.
		cmd := ownCommand(t, inprog(t, bson.D{{Key: "currentOp", Value: 1}, ownTruncated, {Key: "pad", Value: bson.D{{Key: "$ne", Value: pad}}},
			{Key: "comment", Value: "c"}}))
		text := cmd.Lookup("$truncated").StringValue()
		if len(text) >= 1000 || !strings.HasPrefix(text, `{ currentOp: 1, command.comment: "c", pad: { $ne: "xxx`) || !strings.HasSuffix(text, `$db: "admin" }`) {
			t.Fatalf("$truncated %q", text)
		}
	})
	t.Run("$truncateOps: false with test commands", func(t *testing.T) {
		cmd := ownCommand(t, inprog(t, bson.D{{Key: "currentOp", Value: 1}, own, {Key: "pad", Value: bson.D{{Key: "$ne", Value: pad}}},
			{Key: "$truncateOps", Value: false}, {Key: "comment", Value: "c"}}))
		if cmd.Lookup("pad", "$ne").StringValue() != pad {
			t.Fatalf("command %s", cmd)
		}
	})
	t.Run("admin only", func(t *testing.T) {
		_, err := runOn(ctxT(t), t, cl, "test", bson.D{{Key: "currentOp", Value: 1}})
		wantCommandError(t, err, 13, "currentOp may only be run against the admin database.")
	})
}

func TestKillOpErrors(t *testing.T) {
	rs := startSet(t, 1)
	cl := connect(t, rs.URI())
	runErrorCases(t, cl, []errorCase{
		{"admin only", "test", bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: 1}}, 13, "killOp may only be run against the admin database."},
		{"no op", "admin", bson.D{{Key: "killOp", Value: 1}}, 4, `Missing expected field "op"`},
		{"op a string", "admin", bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: "shard:1"}}, 14, `Expected field "op" to have numeric type, but found string`},
		{"op beyond 32 bits", "admin", bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: int64(1) << 40}}, 26823,
			"invalid op : 1099511627776. Op ID cannot be represented with 32 bits"},
		{"op a fraction", "admin", bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: 1.1}}, 2,
			`Expected field "op" to have a value exactly representable as a 64-bit integer, but found op: 1.1`},
		{"op beyond 64 bits", "admin", bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: 1e300}}, 2,
			`Expected field "op" to have a value exactly representable as a 64-bit integer, but found op: 1e+300.0`},
	})
	t.Run("an operation that is not running", func(t *testing.T) {
		killOp(ctxT(t), t, cl, 1<<30)
	})
}

// TestCurrentOpStatementBeforeCheckout: a transaction statement blocked by failCommand has not
// checked out its session yet (mongod evaluates failCommand first): it is in progress without a
// transaction field, and the transaction is still reported as an idle session.
func TestCurrentOpStatementBeforeCheckout(t *testing.T) {
	rs := startSet(t, 1)
	ctx := ctxT(t)
	admin := connect(t, rs.URI())
	blocked := connect(t, rs.URI(), options.Client().SetAppName(blockedApp))
	sess, err := blocked.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	coll := blocked.Database("test").Collection("c")
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	blockNext(ctx, t, admin, "find")
	wait := inBackground(func() error { return coll.FindOne(sctx, bson.D{}).Err() })
	op := waitForBlocked(ctx, t, admin, "find")
	_, sid := sess.ID().Lookup("id").Binary()
	if _, id, _ := op.Lookup("lsid", "id").BinaryOK(); string(id) != string(sid) || op.Lookup("transaction").Type != 0 {
		t.Fatalf("the blocked statement: %s", op)
	}
	idle := 0
	for _, d := range currentOps(ctx, t, admin, bson.D{}) {
		if _, id, _ := d.Lookup("lsid", "id").BinaryOK(); d.Lookup("type").StringValue() == "idleSession" && string(id) == string(sid) {
			idle++
		}
	}
	if idle != 1 {
		t.Fatalf("%d idle sessions for the transaction, want 1", idle)
	}
	killOp(ctx, t, admin, op.Lookup("opid").Int32())
	wantInterrupted(t, wait())
	_ = sess.AbortTransaction(ctx)
}
