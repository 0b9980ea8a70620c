package integration

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// openCursors opens, inside sess, one batchSize-1 cursor on each of two databases placed on
// different shards and one on a secondary of the first; it returns them for getMore.
// startSession starts a driver session that ends with the test.
func startSession(t *testing.T, cl *mongo.Client) *mongo.Session {
	t.Helper()
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.EndSession(context.Background()) })
	return sess
}

func openCursors(t *testing.T, c *cluster, cl *mongo.Client, sess *mongo.Session) []*mongo.Cursor {
	t.Helper()
	ctx := mongo.NewSessionContext(ctxT(t), sess)
	var curs []*mongo.Cursor
	for _, db := range []string{"kone", "ktwo"} {
		coll := cl.Database(db).Collection("c")
		if _, err := coll.InsertMany(ctx, []any{bson.D{}, bson.D{}, bson.D{}}); err != nil {
			t.Fatal(err)
		}
		cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(1))
		if err != nil {
			t.Fatal(err)
		}
		curs = append(curs, cur)
	}
	sec := cl.Database("kone", options.Database().SetReadPreference(readpref.Secondary())).Collection("c")
	cur, err := sec.Find(ctx, bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	curs = append(curs, cur)
	for _, cur := range curs {
		if cur.ID() == 0 {
			t.Fatal("cursor finished in its first batch; want it open")
		}
	}
	return curs
}

// wantCursorNotFound drains each cursor's first batch and expects the next getMore to fail 43.
func wantCursorNotFound(t *testing.T, sess *mongo.Session, curs []*mongo.Cursor) {
	t.Helper()
	ctx := mongo.NewSessionContext(ctxT(t), sess)
	for i, cur := range curs {
		for cur.RemainingBatchLength() > 0 {
			cur.Next(ctx)
		}
		if cur.Next(ctx) {
			t.Fatalf("cursor %d still returns documents after the kill", i)
		}
		var ce mongo.CommandError
		if !errors.As(cur.Err(), &ce) || ce.Code != 43 {
			t.Fatalf("cursor %d: getMore error %v, want CursorNotFound (43)", i, cur.Err())
		}
	}
}

func sessionUUID(t *testing.T, sess *mongo.Session) bson.Binary {
	t.Helper()
	var lsid struct {
		ID bson.Binary `bson:"id"`
	}
	if err := bson.Unmarshal(sess.ID(), &lsid); err != nil {
		t.Fatal(err)
	}
	return lsid.ID
}

func noAuthUID() bson.Binary {
	sum := sha256.Sum256(nil)
	return bson.Binary{Subtype: 0, Data: sum[:]}
}

func TestKillCommandsKillCursorsOnEveryShardAndSecondary(t *testing.T) {
	requireMemshard(t, "counts each member's open cursors; TestRealClusterKillReachesEveryMember is its real-cluster check")
	byID := func(sess *mongo.Session, t *testing.T) bson.D {
		return bson.D{{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: sessionUUID(t, sess)}}}}}
	}
	tests := []struct {
		name string
		cmd  func(*mongo.Session, *testing.T) bson.D
	}{
		{"killSessions by id", byID},
		{"killSessions []", func(*mongo.Session, *testing.T) bson.D {
			return bson.D{{Key: "killSessions", Value: bson.A{}}}
		}},
		{"killAllSessions []", func(*mongo.Session, *testing.T) bson.D {
			return bson.D{{Key: "killAllSessions", Value: bson.A{}}}
		}},
		{"killAllSessionsByPattern by lsid", func(s *mongo.Session, t *testing.T) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "lsid",
				Value: bson.D{{Key: "id", Value: sessionUUID(t, s)}, {Key: "uid", Value: noAuthUID()}}}}}}}
		}},
		{"killAllSessionsByPattern by uid", func(*mongo.Session, *testing.T) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "uid", Value: noAuthUID()}}}}}
		}},
		{"killAllSessionsByPattern []", func(*mongo.Session, *testing.T) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{}}}
		}},
		{"killAllSessionsByPattern users-only kills all", func(*mongo.Session, *testing.T) bson.D {
			return bson.D{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "users", Value: bson.A{}}}}}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startCluster(t, clusterOptions{})
			cl := c.client(t)
			sess := startSession(t, cl)
			curs := openCursors(t, c, cl, sess)
			if err := cl.Database("admin").RunCommand(ctxT(t), tt.cmd(sess, t)).Err(); err != nil {
				t.Fatal(err)
			}
			wantCursorNotFound(t, sess, curs)
			for s, rs := range c.sets {
				for m := range rs.Hosts() {
					if n := rs.Member(m).OpenCursors(); n != 0 {
						t.Fatalf("shard %d member %d still has %d open cursors", s, m, n)
					}
				}
			}
			// The session stays usable.
			ctx := mongo.NewSessionContext(ctxT(t), sess)
			if _, err := cl.Database("kone").Collection("c").InsertOne(ctx, bson.D{}); err != nil {
				t.Fatalf("session unusable after the kill: %v", err)
			}
		})
	}
}

func TestKillSessionsOfAnotherSessionLeavesCursors(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	sess := startSession(t, cl)
	curs := openCursors(t, c, cl, sess)
	other := bson.Binary{Subtype: 4, Data: make([]byte, 16)}
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "killSessions",
		Value: bson.A{bson.D{{Key: "id", Value: other}}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	ctx := mongo.NewSessionContext(ctxT(t), sess)
	for i, cur := range curs {
		n := 0
		for cur.Next(ctx) {
			n++
		}
		if cur.Err() != nil || n != 3 {
			t.Fatalf("cursor %d: %d documents, err %v; an unrelated kill must not touch it", i, n, cur.Err())
		}
	}
}

func TestKillWithStoppedMemberNamesTheHost(t *testing.T) {
	requireMemshard(t, "stops a member")
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	sess := startSession(t, cl)
	curs := openCursors(t, c, cl, sess)[:2] // the primaries' cursors
	// Stop a secondary of the shard that holds neither the secondary cursor nor... any secondary works:
	// its cursors (if any) die with it; the live members' kills must still be applied.
	stopped := 2
	if c.sets[1].Primary() == stopped {
		stopped = 1
	}
	host := c.sets[1].Hosts()[stopped]
	if err := c.sets[1].StopMember(stopped); err != nil {
		t.Fatal(err)
	}
	var reply bson.Raw
	err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Decode(&reply)
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 6 || ce.Message != "Failed to kill sessions on some hosts" {
		t.Fatalf("kill with a member down: %v, want HostUnreachable (6) \"Failed to kill sessions on some hosts\"", err)
	}
	raw, ok := ce.Raw.Lookup("raw").DocumentOK()
	if !ok {
		t.Fatalf("error reply %s has no raw document", ce.Raw)
	}
	failed, err := raw.LookupErr(c.sets[1].Name() + "/" + host)
	if err != nil {
		t.Fatalf("raw %s does not name the stopped host %s", raw, host)
	}
	if code, _ := failed.Document().Lookup("code").AsInt64OK(); code != 6 && code != 89 {
		t.Fatalf("stopped host's entry %s, want a network error code", failed)
	}
	if n := len(mustElements(t, raw)); n != 6 {
		t.Fatalf("raw names %d members, want all 6", n)
	}
	wantCursorNotFound(t, sess, curs)
}

func mustElements(t *testing.T, doc bson.Raw) []bson.RawElement {
	t.Helper()
	els, err := doc.Elements()
	if err != nil {
		t.Fatal(err)
	}
	return els
}

func TestRefreshAndEndSessionsReachEveryShard(t *testing.T) {
	requireMemshard(t, "counts commands and reads each member's session table; TestRealClusterRefreshReachesEveryPrimary is its real-cluster check")
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	id := bson.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}
	var want sessionid.ID
	copy(want.ID[:], id.Data)
	want.UID = sessionid.NoAuthUID
	for _, cmd := range []string{"refreshSessions", "endSessions"} {
		if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: cmd,
			Value: bson.A{bson.D{{Key: "id", Value: id}}}}}).Err(); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		for s, rs := range c.sets {
			primary := rs.Member(rs.Primary())
			if primary.CommandCount(cmd) != 1 {
				t.Fatalf("%s ran %d times on shard %d's primary, want 1", cmd, primary.CommandCount(cmd), s)
			}
			if cmd == "refreshSessions" && !hasSession(primary.Sessions(), want) {
				t.Fatalf("shard %d's primary does not know session {id, uid} after refreshSessions", s)
			}
		}
	}
}

func hasSession(ids []sessionid.ID, want sessionid.ID) bool {
	for _, id := range ids {
		if id == want {
			return true
		}
	}
	return false
}

func TestStartSessionAndListSessions(t *testing.T) {
	requireMemshard(t, "$listSessions right after use: a real mongod writes config.system.sessions on its refresh cycle; TestRealClusterListSessionsMergesShards flushes it first")
	c := startCluster(t, clusterOptions{})
	cl := c.client(t)
	ctx := ctxT(t)
	var started struct {
		ID struct {
			ID bson.Binary `bson:"id"`
		} `bson:"id"`
		TimeoutMinutes int32 `bson:"timeoutMinutes"`
	}
	if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "startSession", Value: 1}}).Decode(&started); err != nil {
		t.Fatal(err)
	}
	if started.ID.ID.Subtype != 4 || len(started.ID.ID.Data) != 16 || started.TimeoutMinutes != 30 {
		t.Fatalf("startSession = %+v", started)
	}
	// Use a driver session on both shards.
	sess := startSession(t, cl)
	sctx := mongo.NewSessionContext(ctx, sess)
	for _, db := range []string{"lone", "ltwo"} {
		if _, err := cl.Database(db).Collection("c").InsertOne(sctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
	used := sessionUUID(t, sess)
	listed := func(db, coll string, stage bson.D) int {
		t.Helper()
		pipeline := bson.A{stage, bson.D{{Key: "$match", Value: bson.D{{Key: "_id.id", Value: used}}}}}
		var cur *mongo.Cursor
		var err error
		if coll == "" {
			cur, err = cl.Database(db).Aggregate(ctx, pipeline)
		} else {
			cur, err = cl.Database(db).Collection(coll).Aggregate(ctx, pipeline)
		}
		if err != nil {
			t.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			t.Fatal(err)
		}
		return len(docs)
	}
	if n := listed("admin", "", bson.D{{Key: "$listLocalSessions", Value: bson.D{}}}); n != 1 {
		t.Fatalf("$listLocalSessions shows the session %d times, want 1", n)
	}
	if n := listed("admin", "", bson.D{{Key: "$listLocalSessions", Value: bson.D{{Key: "allUsers", Value: true}}}}); n != 1 {
		t.Fatalf("$listLocalSessions allUsers shows the session %d times, want 1", n)
	}
	if n := listed("config", "system.sessions", bson.D{{Key: "$listSessions", Value: bson.D{{Key: "allUsers", Value: true}}}}); n != 1 {
		t.Fatalf("$listSessions shows the session %d times (used on two shards), want 1", n)
	}
	_, err := cl.Database("admin").Collection("coll").Aggregate(ctx, bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{}}}})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 73 {
		t.Fatalf("$listLocalSessions on a collection: %v, want InvalidNamespace (73)", err)
	}
}

func TestBadLsidGetsMongodErrors(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 1})
	cl := c.client(t)
	tests := []struct {
		name string
		lsid any
		code int32
	}{
		{"not an object", "x", 14},
		{"missing id", bson.D{}, 40414},
		{"id wrong type", bson.D{{Key: "id", Value: "x"}}, 14},
		{"id wrong subtype", bson.D{{Key: "id", Value: bson.Binary{Subtype: 0, Data: make([]byte, 16)}}}, 14},
		{"id wrong length", bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 5)}}}, 207},
		{"uid wrong length", bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}},
			{Key: "uid", Value: bson.Binary{Subtype: 0, Data: make([]byte, 5)}}}, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cl.Database("test").RunCommand(ctxT(t), bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: tt.lsid}}).Err()
			var ce mongo.CommandError
			if !errors.As(err, &ce) || ce.Code != tt.code {
				t.Fatalf("got %v, want code %d", err, tt.code)
			}
		})
	}
}
