package memshard

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

func TestSessionCommands(t *testing.T) {
	rs := startSet(t, 2)
	m0, m1 := rs.Member(0), rs.Member(1)
	c := dialRaw(t, rs.Hosts()[0])

	reply := mustOK(t, c.run(bson.D{{Key: "startSession", Value: 1}, {Key: "$db", Value: "admin"}}))
	sub, data, ok := reply.Lookup("id", "id").BinaryOK()
	if !ok || sub != 4 || len(data) != 16 || reply.Lookup("timeoutMinutes").Int32() != 30 {
		t.Fatalf("startSession reply %s", reply)
	}
	var started sessionid.ID
	copy(started.ID[:], data)
	started.UID = sessionid.NoAuthUID

	used := newLSID()
	mustOK(t, c.run(bson.D{{Key: "ping", Value: 1}, {Key: "lsid", Value: lsidDoc(used)}, {Key: "$db", Value: "admin"}}))
	if slices.Contains(m0.Sessions(), used) {
		t.Fatal("ping (needs no auth) must not vivify its lsid")
	}
	mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: lsidDoc(used)}, {Key: "$db", Value: "test"}}))

	// A router forwards {id, uid}: accepted as is (no auth: any uid may be named).
	forwarded := sessionid.NewID(sessionid.UID{1, 2, 3})
	mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}, {Key: "lsid", Value: bson.D{
		{Key: "id", Value: bson.Binary{Subtype: 4, Data: forwarded.ID[:]}}, {Key: "uid", Value: bson.Binary{Data: forwarded.UID[:]}}}}}))

	refreshed := newLSID()
	mustOK(t, c.run(bson.D{{Key: "refreshSessions", Value: bson.A{lsidDoc(refreshed)}}, {Key: "$db", Value: "admin"}}))
	for _, id := range []sessionid.ID{started, used, forwarded, refreshed} {
		if !slices.Contains(m0.Sessions(), id) {
			t.Errorf("session %v missing from member 0: %v", id, m0.Sessions())
		}
	}
	if len(m1.Sessions()) != 0 {
		t.Errorf("member 1 has sessions it never saw: %v", m1.Sessions())
	}

	// $listLocalSessions: {} lists the caller's (no-auth) sessions, allUsers lists everything.
	for _, tc := range []struct {
		spec bson.D
		want int
	}{{bson.D{}, 3}, {bson.D{{Key: "allUsers", Value: true}}, 4}} {
		reply = mustOK(t, c.run(bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$listLocalSessions", Value: tc.spec}}}},
			{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}}))
		docs := mustValues(t, reply.Lookup("cursor", "firstBatch").Array())
		if len(docs) != tc.want {
			t.Fatalf("$listLocalSessions %v: %d sessions, want %d: %s", tc.spec, len(docs), tc.want, reply)
		}
		if _, ok := docs[0].Document().Lookup("lastUse").TimeOK(); !ok {
			t.Fatalf("no lastUse in %s", docs[0])
		}
	}
	reply = mustOK(t, c.run(bson.D{{Key: "aggregate", Value: "system.sessions"}, {Key: "pipeline", Value: bson.A{
		bson.D{{Key: "$listSessions", Value: bson.D{{Key: "allUsers", Value: true}}}}, bson.D{{Key: "$count", Value: "n"}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "config"}}))
	if n := mustValues(t, reply.Lookup("cursor", "firstBatch").Array())[0].Document().Lookup("n").AsInt64(); n != 4 {
		t.Fatalf("$listSessions count %d", n)
	}
	wantCode(t, c.run(bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}}), mongoerr.InvalidNamespace, "")
	wantCode(t, c.run(bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$listSessions", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}}), mongoerr.InvalidNamespace, "")

	mustOK(t, c.run(bson.D{{Key: "endSessions", Value: bson.A{lsidDoc(used), lsidDoc(newLSID())}}, {Key: "$db", Value: "admin"}}))
	if slices.Contains(m0.Sessions(), used) {
		t.Fatal("endSessions left the session")
	}
	wantCode(t, c.run(bson.D{{Key: "endSessions", Value: "x"}, {Key: "$db", Value: "admin"}}), mongoerr.TypeMismatch,
		"BSON field 'endSessions.endSessions' is the wrong type 'string', expected type 'array'")
}

func TestKillSessions(t *testing.T) {
	rs := startSet(t, 2)
	setup := dialRaw(t, rs.Hosts()[0])
	mustOK(t, setup.run(bson.D{{Key: "insert", Value: "k"}, {Key: "documents", Value: bson.A{bson.D{}, bson.D{}, bson.D{}}}, {Key: "$db", Value: "test"}}))
	uid := func(id sessionid.ID) bson.Binary { return bson.Binary{Data: id.UID[:]} }
	full := func(id sessionid.ID) bson.D {
		return bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id.ID[:]}}, {Key: "uid", Value: uid(id)}}
	}
	for _, tc := range []struct {
		name      string
		kill      func(victim, bystander sessionid.ID) bson.D
		bystander bool // the other session's cursor dies too
	}{
		{"killSessions by id", func(v, _ sessionid.ID) bson.D {
			return bson.D{{Key: "killSessions", Value: bson.A{full(v)}}}
		}, false},
		{"killSessions [] kills all without auth", func(sessionid.ID, sessionid.ID) bson.D {
			return bson.D{{Key: "killSessions", Value: bson.A{}}}
		}, true},
		{"killAllSessions []", func(sessionid.ID, sessionid.ID) bson.D {
			return bson.D{{Key: "killAllSessions", Value: bson.A{}}}
		}, true},
		{"byPattern lsid", func(v, _ sessionid.ID) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "lsid", Value: full(v)}}}}}
		}, false},
		{"byPattern uid", func(v, _ sessionid.ID) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "uid", Value: uid(v)}}}}}
		}, false},
		{"byPattern []", func(sessionid.ID, sessionid.ID) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{}}}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := sessionid.NewID(sessionid.UID{9})
			bystander := newLSID()
			for _, host := range rs.Hosts() {
				c := dialRaw(t, host)
				vc, bc := openCursor(t, c, victim), openCursor(t, c, bystander)
				mustOK(t, c.run(append(tc.kill(victim, bystander), bson.E{Key: "$db", Value: "admin"})))
				wantCode(t, getMore(c, vc, victim), mongoerr.CursorNotFound, fmt.Sprintf("cursor id %d not found", vc))
				if reply := getMore(c, bc, bystander); tc.bystander {
					wantCode(t, reply, mongoerr.CursorNotFound, "")
				} else {
					mustOK(t, reply)
				}
				openCursor(t, c, victim) // the killed session is still usable
			}
		})
	}
}

// openCursor runs a find in session id on c that leaves a cursor open and returns its id. It
// also runs on secondaries and sends the lsid as full {id, uid}, as a router forwards it.
func openCursor(t *testing.T, c *rawClient, id sessionid.ID) int64 {
	t.Helper()
	reply := mustOK(t, c.run(bson.D{{Key: "find", Value: "k"}, {Key: "batchSize", Value: 1}, {Key: "lsid", Value: fullLSID(id)},
		{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: "primaryPreferred"}}}, {Key: "$db", Value: "test"}}))
	cur := reply.Lookup("cursor", "id").Int64()
	if cur == 0 {
		t.Fatal("find closed its cursor")
	}
	return cur
}

func getMore(c *rawClient, cursor int64, id sessionid.ID) bson.Raw {
	return c.run(bson.D{{Key: "getMore", Value: cursor}, {Key: "collection", Value: "k"}, {Key: "batchSize", Value: 1},
		{Key: "lsid", Value: fullLSID(id)}, {Key: "$db", Value: "test"}})
}

func fullLSID(id sessionid.ID) bson.D {
	return bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id.ID[:]}}, {Key: "uid", Value: bson.Binary{Data: id.UID[:]}}}
}

func TestKillSessionsWithDriver(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("test").Collection("k")
	if _, err := coll.InsertMany(ctx, []any{bson.D{}, bson.D{}, bson.D{}}); err != nil {
		t.Fatal(err)
	}
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	cur, err := coll.Find(sctx, bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "killSessions", Value: bson.A{sess.ID()}}}).Err(); err != nil {
		t.Fatal(err)
	}
	if !cur.Next(sctx) { // the first batch is local
		t.Fatal(cur.Err())
	}
	if cur.Next(sctx) || !isCode(cur.Err(), int32(mongoerr.CursorNotFound)) {
		t.Fatalf("getMore after the kill: %v", cur.Err())
	}
	_ = cur.Close(ctx)
	if n, err := coll.CountDocuments(sctx, bson.D{}); err != nil || n != 3 {
		t.Fatalf("the killed session is not reusable: %d %v", n, err)
	}
}

func TestCursorSessionMismatch(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "k"}, {Key: "documents", Value: bson.A{bson.D{}, bson.D{}, bson.D{}}}, {Key: "$db", Value: "test"}}))
	owner, other := newLSID(), newLSID()
	cur := openCursor(t, c, owner)
	wantCode(t, getMore(c, cur, other), mongoerr.Unauthorized,
		fmt.Sprintf("Cursor session id (%s) is not the same as the operation context's session id (%s)", owner, other))
	wantCode(t, c.run(bson.D{{Key: "getMore", Value: cur}, {Key: "collection", Value: "k"}, {Key: "$db", Value: "test"}}), mongoerr.Unauthorized,
		fmt.Sprintf("Cursor session id (%s) is not the same as the operation context's session id (none)", owner))
	mustOK(t, getMore(c, cur, owner))
	// killCursors checks the session only with auth on (checkCursorSessionPrivilege).
	reply := mustOK(t, c.run(bson.D{{Key: "killCursors", Value: "k"}, {Key: "cursors", Value: bson.A{cur}}, {Key: "lsid", Value: lsidDoc(other)}, {Key: "$db", Value: "test"}}))
	if killed := mustValues(t, reply.Lookup("cursorsKilled").Array()); len(killed) != 1 {
		t.Fatalf("killCursors from another session, auth off: %s", reply)
	}
	cur = openCursor(t, c, owner)

	// endSessions does not kill cursors (mongod kills them only at its next refresh).
	mustOK(t, c.run(bson.D{{Key: "endSessions", Value: bson.A{lsidDoc(owner)}}, {Key: "$db", Value: "admin"}}))
	mustOK(t, getMore(c, cur, owner))
}

func TestSessionExpiry(t *testing.T) {
	clock := newFakeClock()
	rs := startSet(t, 1, WithClock(clock.Now), WithSessionTimeout(10))
	c := dialRaw(t, rs.Hosts()[0])
	if got := mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})).Lookup("logicalSessionTimeoutMinutes").Int32(); got != 10 {
		t.Fatalf("logicalSessionTimeoutMinutes %d", got)
	}
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "k"}, {Key: "documents", Value: bson.A{bson.D{}, bson.D{}}}, {Key: "$db", Value: "test"}}))
	idle, busy := newLSID(), newLSID()
	cur := openCursor(t, c, idle)
	openCursor(t, c, busy)
	clock.Advance(6 * time.Minute)
	mustOK(t, c.run(bson.D{{Key: "refreshSessions", Value: bson.A{lsidDoc(busy)}}, {Key: "$db", Value: "admin"}}))
	clock.Advance(5 * time.Minute) // idle: 11 minutes, busy: 5
	if got := rs.Member(0).Sessions(); len(got) != 1 || got[0] != busy {
		t.Fatalf("sessions after expiry: %v", got)
	}
	if rs.Member(0).OpenCursors() != 1 {
		t.Fatalf("the expired session's cursor survived")
	}
	wantCode(t, getMore(c, cur, idle), mongoerr.CursorNotFound, "")
}
