package router

import (
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

func currentOpStage(spec bson.D, more ...bson.D) cmd {
	pipeline := bson.A{bson.D{{Key: "$currentOp", Value: spec}}}
	for _, s := range more {
		pipeline = append(pipeline, s)
	}
	return cmd{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: pipeline}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}}
}

func batchDocs(t *testing.T, reply bson.Raw, batch string) []bson.Raw {
	t.Helper()
	if code := replyCode(bsoncore.Document(reply)); code != 0 {
		t.Fatalf("reply: %v", reply)
	}
	var docs []bson.Raw
	eachInBatch(bsoncore.Document(reply), batch, func(d bsoncore.Document) { docs = append(docs, bson.Raw(d)) })
	return docs
}

// TestCurrentOpFromEveryShard: $currentOp and currentOp report every shard's operations, each
// tagged with its shard, its opid as "shard:opid" and its client as client_s; later stages and the
// command's filter run over the merged operations.
func TestCurrentOpFromEveryShard(t *testing.T) {
	checkLeaks(t)
	srv, _ := twoShardServer(t, nil)
	root := dialRaw(t, srv.Addr(), "rooty")
	docs := batchDocs(t, root.cmd(t, currentOpStage(bson.D{{Key: "allUsers", Value: true}})), "firstBatch")
	seen := map[string]bool{}
	for _, d := range docs {
		shard := d.Lookup("shard").StringValue()
		seen[shard] = true
		if first, _ := d.IndexErr(0); first.Key() != "shard" {
			t.Errorf("shard is not the first field: %v", d)
		}
		if opid, ok := d.Lookup("opid").StringValueOK(); d.Lookup("active").Boolean() && (!ok || !strings.HasPrefix(opid, shard+":")) {
			t.Errorf("opid of an active operation: %v", d)
		}
		if _, err := d.LookupErr("client"); err == nil {
			t.Errorf("client not renamed client_s: %v", d)
		}
	}
	if !seen["rs0"] || !seen["rs1"] || len(seen) != 2 {
		t.Fatalf("shards reported: %v", seen)
	}
	// A later stage runs over the merged operations, on the fields the router wrote.
	only := batchDocs(t, root.cmd(t, currentOpStage(bson.D{{Key: "allUsers", Value: true}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "shard", Value: "rs1"}}}})), "firstBatch")
	if len(only) == 0 || slices.ContainsFunc(only, func(d bson.Raw) bool { return d.Lookup("shard").StringValue() != "rs1" }) {
		t.Fatalf("$match on shard: %v", only)
	}
	inprog := root.cmd(t, cmd{{Key: "currentOp", Value: 1}, {Key: "shard", Value: "rs0"}, {Key: "$db", Value: "admin"}})
	vals, err := inprog.Lookup("inprog").Array().Values()
	if err != nil || len(vals) == 0 {
		t.Fatalf("currentOp: %v", inprog)
	}
	for _, v := range vals {
		if v.Document().Lookup("shard").StringValue() != "rs0" {
			t.Fatalf("currentOp's filter: %v", inprog)
		}
	}
	wantError(t, root.cmd(t, cmd{{Key: "currentOp", Value: 1}, {Key: "$db", Value: "test"}}), mongoerr.Unauthorized,
		"currentOp may only be run against the admin database.")
	wantError(t, root.cmd(t, currentOpStage(bson.D{{Key: "allUsers", Value: 1}})), mongoerr.TypeMismatch,
		"The 'allUsers' parameter of the $currentOp stage must be a boolean value")
}

// TestCurrentOpOwnOperations: a user without inprog sees only operations that run as itself,
// though the shards see every request as the router's.
func TestCurrentOpOwnOperations(t *testing.T) {
	checkLeaks(t)
	srv, _ := twoShardServer(t, nil)
	alice := dialRaw(t, srv.Addr(), "alice")
	root := dialRaw(t, srv.Addr(), "rooty")
	// rooty's own aggregate runs on every shard while alice asks.
	all := batchDocs(t, root.cmd(t, currentOpStage(bson.D{{Key: "allUsers", Value: true}, {Key: "idleConnections", Value: true}})), "firstBatch")
	if len(all) == 0 {
		t.Fatal("no operations at all")
	}
	mine := batchDocs(t, alice.cmd(t, currentOpStage(bson.D{{Key: "idleConnections", Value: true}})), "firstBatch")
	if len(mine) == 0 {
		t.Fatal("alice sees not even her own $currentOp")
	}
	for _, d := range mine {
		if !strings.Contains(d.Lookup("effectiveUsers").String(), `"alice"`) {
			t.Fatalf("alice sees an operation that is not hers: %v", d)
		}
	}
	wantError(t, alice.cmd(t, currentOpStage(bson.D{{Key: "allUsers", Value: true}})), mongoerr.Unauthorized, "")
}

// TestCurrentOpLocalOps: localOps reports the router's own operations, with numeric opids, and
// its idle cursors.
func TestCurrentOpLocalOps(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	id := mustOpen(t, rc, find(1))
	docs := batchDocs(t, rc.cmd(t, currentOpStage(bson.D{{Key: "localOps", Value: true}, {Key: "idleCursors", Value: true}})), "firstBatch")
	var self, cursor bson.Raw
	for _, d := range docs {
		switch d.Lookup("type").StringValue() {
		case "op":
			if d.Lookup("command", "aggregate").Type != 0 {
				self = d
			}
		case "idleCursor":
			if d.Lookup("cursor", "cursorId").Int64() == id {
				cursor = d
			}
		}
		if _, err := d.LookupErr("shard"); err == nil {
			t.Errorf("a router operation names a shard: %v", d)
		}
	}
	if self == nil || self.Lookup("opid").Type != bson.TypeInt32 || !self.Lookup("active").Boolean() ||
		self.Lookup("ns").StringValue() != "admin.$cmd" || self.Lookup("op").StringValue() != "command" {
		t.Fatalf("the router's own $currentOp: %v", self)
	}
	if cursor == nil || cursor.Lookup("ns").StringValue() != "test.c" || cursor.Lookup("cursor", "originatingCommand", "find").StringValue() != "c" {
		t.Fatalf("the router's idle cursor: %v", docs)
	}
}

// TestKillOpRoutes: "shard:opid" goes to that shard as its own number; malformed ids and unknown
// shards get mongos's errors.
func TestKillOpRoutes(t *testing.T) {
	checkLeaks(t)
	srv, log := twoShardServer(t, nil)
	root := dialRaw(t, srv.Addr(), "rooty")
	reply := root.cmd(t, cmd{{Key: "killOp", Value: 1}, {Key: "op", Value: "rs0:4242"}, {Key: "$db", Value: "admin"}})
	if reply.Lookup("shard").StringValue() != "rs0" || reply.Lookup("shardid").Int32() != 4242 || replyCode(bsoncore.Document(reply)) != 0 {
		t.Fatalf("killOp: %v", reply)
	}
	log.mu.Lock()
	sent := slices.ContainsFunc(log.got, func(r memshard.Received) bool {
		op, _ := r.Body.Lookup("op").Int32OK()
		return r.Body.Lookup("killOp").Type != 0 && op == 4242
	})
	log.mu.Unlock()
	if !sent {
		t.Fatal("rs0 never received killOp {op: 4242}")
	}
	for _, tc := range []struct {
		op   any
		code mongoerr.Code
	}{{"rs0", 28625}, {":12", 28625}, {"rs0:", 28625}, {"nope:1", mongoerr.ShardNotFound}, {"rs0:x", mongoerr.FailedToParse},
		{bson.D{}, 50760}, {1.5, mongoerr.BadValue}, {int64(1) << 40, 26823}} {
		wantError(t, root.cmd(t, cmd{{Key: "killOp", Value: 1}, {Key: "op", Value: tc.op}, {Key: "$db", Value: "admin"}}), tc.code, "")
	}
	wantError(t, root.cmd(t, cmd{{Key: "killOp", Value: 1}, {Key: "$db", Value: "admin"}}), 50759, `Did not provide "op" field`)
	wantError(t, dialRaw(t, srv.Addr(), "alice").cmd(t, cmd{{Key: "killOp", Value: 1}, {Key: "op", Value: "rs0:1"}, {Key: "$db", Value: "admin"}}),
		mongoerr.Unauthorized, "")
}

// TestKillRouterOp: killOp with a number marks the router's operation; it fails at its next shard
// round trip with Interrupted.
func TestKillRouterOp(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 0, nil)
	c := &conn{s: f.srv}
	f.srv.mu.Lock()
	f.srv.conns[c] = struct{}{}
	f.srv.mu.Unlock()
	defer func() {
		f.srv.mu.Lock()
		delete(f.srv.conns, c)
		f.srv.mu.Unlock()
	}()
	r := &request{}
	r.Body = mustMarshal(t, cmd{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	c.beginOpReport(r)
	f.srv.killRouterOp(c.op.report.id + 1)
	if err := c.interrupted(); err != nil {
		t.Fatalf("another operation's kill: %v", err)
	}
	f.srv.killRouterOp(c.op.report.id)
	if e := mongoerr.As(c.interrupted()); e == nil || e.Code != mongoerr.Interrupted {
		t.Fatalf("after killOp: %v", e)
	}
	if _, _, err := c.exchange(t.Context(), 0, shards.Primary(), "", r); mongoerr.As(err).Code != mongoerr.Interrupted {
		t.Fatalf("the next round trip: %v", err)
	}
	c.endOpReport()
	c.beginOpReport(r)
	if err := c.interrupted(); err != nil {
		t.Fatalf("the next command inherits the kill: %v", err)
	}
}
