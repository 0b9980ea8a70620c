package router

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// cursorFixture is a router in front of one memshard set holding test.c with n documents.
type cursorFixture struct {
	srv *Server
	log *commandLog
}

func newCursorFixture(t *testing.T, m trustMode, n int, routerCfg func(*Config)) *cursorFixture {
	t.Helper()
	srv, log := trustServer(t, m, routerCfg)
	user := ""
	if m.auth {
		user = "alice"
	}
	if n == 0 {
		return &cursorFixture{srv: srv, log: log}
	}
	docs := bson.A{}
	for i := range n {
		docs = append(docs, bson.D{{Key: "_id", Value: i}})
	}
	reply := dialRaw(t, srv.Addr(), user).run(t, mustMarshal(t, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: docs},
		{Key: "$db", Value: "test"}}))
	if code := replyCode(reply); code != 0 {
		t.Fatalf("insert: %v", bson.Raw(reply))
	}
	return &cursorFixture{srv: srv, log: log}
}

// shardCursors are the ids of the cursors open on the shard's primary.
func (f *cursorFixture) shardCursors(t *testing.T) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := f.srv.cluster.Shard(0).Command(ctx, mustMarshal(t, bson.D{{Key: "aggregate", Value: 1},
		{Key: "pipeline", Value: bson.A{bson.D{{Key: "$currentOp", Value: bson.D{{Key: "idleCursors", Value: true}, {Key: "allUsers", Value: true}}}},
			bson.D{{Key: "$match", Value: bson.D{{Key: "type", Value: "idleCursor"}}}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}}))
	if err != nil || !reply.Status.OK {
		t.Fatalf("the shard's idle cursors: %v %v", err, bson.Raw(reply.Body))
	}
	var ids []int64
	eachInBatch(reply.Body, "firstBatch", func(d bsoncore.Document) {
		ids = append(ids, bson.Raw(d).Lookup("cursor", "cursorId").Int64())
	})
	return ids
}

// lastGetMore is the cursor id of the last getMore the shard received.
func (l *commandLog) lastGetMore() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.got) - 1; i >= 0; i-- {
		if id, ok := l.got[i].Body.Lookup("getMore").Int64OK(); ok {
			return id
		}
	}
	return 0
}

type cmd = bson.D

func find(batchSize int, extra ...bson.E) cmd {
	return append(cmd{{Key: "find", Value: "c"}, {Key: "batchSize", Value: batchSize}, {Key: "$db", Value: "test"}}, extra...)
}

func getMore(id int64, extra ...bson.E) cmd {
	return append(cmd{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}, {Key: "batchSize", Value: 1},
		{Key: "$db", Value: "test"}}, extra...)
}

func (rc *rawClient) cmd(t *testing.T, c cmd) bson.Raw {
	t.Helper()
	return bson.Raw(rc.run(t, mustMarshal(t, c)))
}

func mustOpen(t *testing.T, rc *rawClient, c cmd) int64 {
	t.Helper()
	reply := rc.cmd(t, c)
	id, _ := reply.Lookup("cursor", "id").Int64OK()
	if id == 0 {
		t.Fatalf("no cursor: %v", reply)
	}
	return id
}

func wantError(t *testing.T, reply bson.Raw, code mongoerr.Code, msg string) {
	t.Helper()
	e := outcome.ErrOf(bsoncore.Document(reply))
	if e == nil || e.Code != code || !strings.Contains(e.Msg, msg) {
		t.Fatalf("got %v, want code %d with %q", reply, code, msg)
	}
}

func lsidDoc(id sessionid.ID) bson.E {
	return bson.E{Key: "lsid", Value: bson.Raw(id.AppendClientDoc(nil))}
}

// TestCursorIDsAreTheRouters: the client sees an id the router minted, the shard is asked under
// its own, and another router does not know the id.
func TestCursorIDsAreTheRouters(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	id := mustOpen(t, rc, find(2))
	more := rc.cmd(t, getMore(id))
	if len(f.shardCursors(t)) != 1 || f.log.lastGetMore() == id || f.log.lastGetMore() != f.shardCursors(t)[0] {
		t.Fatalf("router id %d, shard asked for %d, shard holds %v", id, f.log.lastGetMore(), f.shardCursors(t))
	}
	if got, _ := more.Lookup("cursor", "id").Int64OK(); got != id {
		t.Fatalf("getMore reply carries cursor id %d, want the router's %d: %v", got, id, more)
	}
	other := serveRouter(t, Config{}, f.srv.cluster.Shard(0))
	wantError(t, dialRaw(t, other.Addr(), "").cmd(t, getMore(id)), mongoerr.CursorNotFound, "Cursor not found (id: ")
	// Read to the end: the last batch says 0 and the router forgets the cursor.
	var last bson.Raw
	for range 5 {
		if last = rc.cmd(t, getMore(id)); last.Lookup("cursor", "id").Int64() == 0 {
			break
		}
	}
	if last.Lookup("cursor", "id").Int64() != 0 || f.srv.cursors.Stats().Open() != 0 {
		t.Fatalf("exhausted cursor: %v, %+v", last, f.srv.cursors.Stats())
	}
	wantError(t, rc.cmd(t, getMore(id)), mongoerr.CursorNotFound, "Cursor not found")
}

// TestGetMoreBinding: a cursor answers only its user, its session, its transaction and its
// namespace, with mongos's codes; a refused getMore leaves the cursor to its owner.
func TestGetMoreBinding(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[1], 6, nil)
	alice := dialRaw(t, f.srv.Addr(), "alice")
	aliceUID, _ := sessionid.UserDigest("alice", "admin")
	a, b := sessionid.NewID(aliceUID), sessionid.NewID(aliceUID)
	inA := mustOpen(t, alice, find(1, lsidDoc(a)))
	noSession := mustOpen(t, alice, find(1))
	txn := []bson.E{lsidDoc(a), {Key: "txnNumber", Value: int64(1)}, {Key: "autocommit", Value: false}}
	inTxn := mustOpen(t, alice, find(1, append(txn, bson.E{Key: "startTransaction", Value: true})...))

	wantError(t, dialRaw(t, f.srv.Addr(), "rooty").cmd(t, getMore(inA, lsidDoc(a))), mongoerr.Unauthorized,
		"was not created by the authenticated user :: caused by :: User not authorized to access cursor")
	wantError(t, alice.cmd(t, getMore(inA, lsidDoc(b))), 50801, "which was created in session "+a.String()+", in session "+b.String())
	wantError(t, alice.cmd(t, getMore(inA)), 50800, ", without an lsid")
	wantError(t, alice.cmd(t, getMore(noSession, lsidDoc(a))), 50799, "which was not created in a session, in session "+a.String())
	wantError(t, alice.cmd(t, getMore(inA, lsidDoc(a), bson.E{Key: "txnNumber", Value: int64(1)}, bson.E{Key: "autocommit", Value: false})),
		50802, "which was not created in a transaction, in transaction 1")
	wantError(t, alice.cmd(t, getMore(inTxn, lsidDoc(a))), 50803, "which was created in transaction 1, without a txnNumber")
	wantError(t, alice.cmd(t, getMore(inTxn, lsidDoc(a), bson.E{Key: "txnNumber", Value: int64(2)}, bson.E{Key: "autocommit", Value: false})),
		50804, "which was created in transaction 1, in transaction 2")
	wrongNS := getMore(inA, lsidDoc(a))
	wrongNS[1].Value = "other"
	wantError(t, alice.cmd(t, wrongNS), mongoerr.Unauthorized,
		"Requested getMore on namespace 'test.other', but cursor belongs to a different namespace test.c")

	for _, ok := range []cmd{getMore(inA, lsidDoc(a)), getMore(noSession), getMore(inTxn, txn...)} {
		if reply := alice.cmd(t, ok); replyCode(bsoncore.Document(reply)) != 0 {
			t.Fatalf("the owner's getMore after refusals: %v", reply)
		}
	}
}

// TestCursorInUse: a second getMore while the first waits on the shard is refused.
func TestCursorInUse(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	id := mustOpen(t, rc, find(1))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	block := mustMarshal(t, cmd{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"getMore"}}, {Key: "blockConnection", Value: true},
			{Key: "blockTimeMS", Value: 5000}}}, {Key: "$db", Value: "admin"}})
	if reply, err := f.srv.cluster.Shard(0).Command(ctx, block); err != nil || !reply.Status.OK {
		t.Fatalf("failCommand: %v", err)
	}
	first := make(chan bson.Raw, 1)
	go func() { first <- dialRaw(t, f.srv.Addr(), "").cmd(t, getMore(id)) }()
	for f.srv.cursors.Stats().Pinned == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the first getMore never checked the cursor out")
		case <-time.After(time.Millisecond):
		}
	}
	wantError(t, rc.cmd(t, getMore(id)), mongoerr.CursorInUse, "Cursor already in use (id: ")
	if reply := <-first; replyCode(bsoncore.Document(reply)) != 0 {
		t.Fatalf("the first getMore: %v", reply)
	}
}

// TestKillCursorsAsMongos: killCursors answers with mongos's four lists and kills the shard
// cursor too; a cursor killed while a getMore waits on the shard ends that getMore.
func TestKillCursorsAsMongos(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	id := mustOpen(t, rc, find(1))
	reply := rc.cmd(t, cmd{{Key: "killCursors", Value: "c"}, {Key: "cursors", Value: bson.A{id, int64(12345)}}, {Key: "$db", Value: "test"}})
	lists := map[string][]int64{}
	for _, field := range []string{"cursorsKilled", "cursorsNotFound", "cursorsAlive", "cursorsUnknown"} {
		arr, ok := reply.Lookup(field).ArrayOK()
		if !ok {
			t.Fatalf("no %s: %v", field, reply)
		}
		vals, _ := arr.Values()
		for _, v := range vals {
			lists[field] = append(lists[field], v.Int64())
		}
	}
	if !slices.Equal(lists["cursorsKilled"], []int64{id}) || !slices.Equal(lists["cursorsNotFound"], []int64{12345}) ||
		len(lists["cursorsAlive"])+len(lists["cursorsUnknown"]) != 0 {
		t.Fatalf("killCursors: %v", reply)
	}
	if ids := f.shardCursors(t); len(ids) != 0 {
		t.Fatalf("the shard still holds %v", ids)
	}
	wantError(t, rc.cmd(t, getMore(id)), mongoerr.CursorNotFound, "Cursor not found")
}

// TestReaper: an idle cursor outside any session is reaped with its shard cursor; a session's
// cursor stays. The reaper's goroutine ends with the server (checkLeaks).
func TestReaper(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, func(c *Config) { c.CursorTimeout = time.Nanosecond })
	rc := dialRaw(t, f.srv.Addr(), "")
	idle := mustOpen(t, rc, find(1))
	lsid := sessionid.NewID(sessionid.NoAuthUID)
	inSession := mustOpen(t, rc, find(1, lsidDoc(lsid)))
	if n := f.srv.cursors.Reap(); n != 1 {
		t.Fatalf("reaped %d", n)
	}
	wantError(t, rc.cmd(t, getMore(idle)), mongoerr.CursorNotFound, "Cursor not found")
	if ids := f.shardCursors(t); len(ids) != 1 {
		t.Fatalf("shard cursors after the reap: %v", ids)
	}
	if reply := rc.cmd(t, getMore(inSession, lsidDoc(lsid))); replyCode(bsoncore.Document(reply)) != 0 {
		t.Fatalf("session cursor: %v", reply)
	}
	status := rc.cmd(t, cmd{{Key: "serverStatus", Value: 1}, {Key: "$db", Value: "admin"}})
	if n := status.Lookup("metrics", "cursor", "timedOut").Int64(); n != 1 {
		t.Fatalf("metrics.cursor: %v", status.Lookup("metrics", "cursor"))
	}
	if n := status.Lookup("metrics", "cursor", "open", "singleTarget").Int64(); n != 1 {
		t.Fatalf("metrics.cursor: %v", status.Lookup("metrics", "cursor"))
	}
}

// TestSessionEndsCloseCursors: killing a session, and ending it (closed at the next refresh),
// closes its router cursors and the shard cursors behind them.
func TestSessionEndsCloseCursors(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	killed, ended := sessionid.NewID(sessionid.NoAuthUID), sessionid.NewID(sessionid.NoAuthUID)
	k := mustOpen(t, rc, find(1, lsidDoc(killed)))
	e := mustOpen(t, rc, find(1, lsidDoc(ended)))
	rc.cmd(t, cmd{{Key: "killSessions", Value: bson.A{bson.Raw(killed.AppendClientDoc(nil))}}, {Key: "$db", Value: "admin"}})
	wantError(t, rc.cmd(t, getMore(k, lsidDoc(killed))), mongoerr.CursorNotFound, "Cursor not found")
	rc.cmd(t, cmd{{Key: "endSessions", Value: bson.A{bson.Raw(ended.AppendClientDoc(nil))}}, {Key: "$db", Value: "admin"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f.srv.sessions.Refresh(ctx, f.srv.sessionIO())
	if f.srv.cursors.Stats().Open() != 0 {
		t.Fatalf("router cursors left: %+v", f.srv.cursors.Stats())
	}
	if ids := f.shardCursors(t); len(ids) != 0 {
		t.Fatalf("shard cursors left: %v", ids)
	}
	_ = e
}

// TestQueuedCursor: documents the router produces itself come in batches through a router cursor.
func TestQueuedCursor(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 0, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	for range 5 {
		rc.cmd(t, cmd{{Key: "ping", Value: 1}, lsidDoc(sessionid.NewID(sessionid.NoAuthUID)), {Key: "$db", Value: "admin"}})
	}
	reply := rc.cmd(t, cmd{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{{Key: "batchSize", Value: 2}}}, {Key: "$db", Value: "admin"}})
	id := reply.Lookup("cursor", "id").Int64()
	count := func(r bson.Raw, batch string) int {
		vals, _ := r.Lookup("cursor", batch).Array().Values()
		return len(vals)
	}
	if id == 0 || count(reply, "firstBatch") != 2 {
		t.Fatalf("first batch: %v", reply)
	}
	more := cmd{{Key: "getMore", Value: id}, {Key: "collection", Value: "$cmd.aggregate"}, {Key: "batchSize", Value: 2}, {Key: "$db", Value: "admin"}}
	got := 2
	for range 5 {
		r := rc.cmd(t, more)
		got += count(r, "nextBatch")
		if r.Lookup("cursor", "ns").StringValue() != "admin.$cmd.aggregate" {
			t.Fatalf("getMore: %v", r)
		}
		if r.Lookup("cursor", "id").Int64() == 0 {
			break
		}
	}
	if got != 5 || f.srv.cursors.Stats().Open() != 0 {
		t.Fatalf("read %d sessions; cursors %+v", got, f.srv.cursors.Stats())
	}
}

// TestGetMoreAfterCheckoutFailPoint: the router's failGetMoreAfterCursorCheckout fails a getMore
// holding its cursor, which dies with its shard cursor; on a change stream the error carries the
// change stream label.
func TestGetMoreAfterCheckoutFailPoint(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 5, func(c *Config) { c.EnableTestCommands = true })
	rc := dialRaw(t, f.srv.Addr(), "")
	stream := mustOpen(t, rc, cmd{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}})
	plain := mustOpen(t, rc, find(1))
	for _, id := range []int64{stream, plain} {
		rc.cmd(t, cmd{{Key: "configureFailPoint", Value: "failGetMoreAfterCursorCheckout"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
			{Key: "data", Value: bson.D{{Key: "errorCode", Value: 6}}}, {Key: "$db", Value: "admin"}})
		reply := rc.cmd(t, getMore(id))
		wantError(t, reply, 6, "Hit the 'failGetMoreAfterCursorCheckout' failpoint")
		labels, _ := reply.Lookup("errorLabels").ArrayOK()
		if labelled := strings.Contains(labels.String(), "ResumableChangeStreamError"); labelled != (id == stream) {
			t.Fatalf("labels of cursor %d (stream %v): %v", id, id == stream, reply)
		}
		wantError(t, rc.cmd(t, getMore(id)), mongoerr.CursorNotFound, "Cursor not found")
	}
	if ids := f.shardCursors(t); len(ids) != 0 {
		t.Fatalf("shard cursors left: %v", ids)
	}
}

func TestGetMoreBadInput(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 0, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	for _, tc := range []struct {
		c    cmd
		code mongoerr.Code
	}{
		{cmd{{Key: "getMore", Value: "x"}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}}, mongoerr.TypeMismatch},
		{cmd{{Key: "getMore", Value: int64(1)}, {Key: "$db", Value: "test"}}, 40414},
		{cmd{{Key: "getMore", Value: int64(1)}, {Key: "collection", Value: 5}, {Key: "$db", Value: "test"}}, mongoerr.TypeMismatch},
		{cmd{{Key: "getMore", Value: int64(1)}, {Key: "collection", Value: ""}, {Key: "$db", Value: "test"}}, mongoerr.InvalidNamespace},
		{cmd{{Key: "getMore", Value: int64(1)}, {Key: "collection", Value: "c"}, {Key: "batchSize", Value: -1}, {Key: "$db", Value: "test"}}, mongoerr.BadValue},
		{cmd{{Key: "getMore", Value: int64(0)}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}}, mongoerr.CursorNotFound},
	} {
		if code := replyCode(rc.run(t, mustMarshal(t, tc.c))); code != tc.code {
			t.Errorf("%v: code %d, want %d", tc.c, code, tc.code)
		}
	}
}

// TestClusterChangeStream: a whole-cluster change stream is merged by the router (its tokens are
// the router's: the shard's token, the shard's name, its length and the format byte F1), even
// over one shard; allChangesForCluster that is not a bool gets the shard's own error.
func TestClusterChangeStream(t *testing.T) {
	checkLeaks(t)
	f := newCursorFixture(t, trustModes[0], 0, nil)
	rc := dialRaw(t, f.srv.Addr(), "")
	watch := func(all any) bson.Raw {
		return rc.cmd(t, cmd{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream",
			Value: bson.D{{Key: "allChangesForCluster", Value: all}}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}})
	}
	reply := watch(true)
	name := f.srv.cluster.Shard(0).Name()
	if tok := reply.Lookup("cursor", "postBatchResumeToken", "_data").StringValue(); !strings.HasSuffix(tok,
		strings.ToUpper(hex.EncodeToString([]byte(name)))+fmt.Sprintf("%02XF1", len(name))) {
		t.Fatalf("a whole-cluster stream's token is not the router's: %v", reply)
	}
	if ids := f.shardCursors(t); len(ids) != 1 || ids[0] == reply.Lookup("cursor", "id").Int64() {
		t.Fatalf("shard cursors %v behind router cursor %v", ids, reply.Lookup("cursor", "id"))
	}
	for _, all := range []any{1, 2.5} {
		wantError(t, watch(all), mongoerr.TypeMismatch, "allChangesForCluster")
	}
}
