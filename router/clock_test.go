package router

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// clockDrift is the drift limit of the routers and the shard in these tests: an hour keeps the
// arithmetic readable.
const clockDrift = 3600

// clockKey is the key file shared by the shard and the routers; otherKey is another cluster's.
const (
	clockKey = "c2hhcmVkLWtleS1maWxlLWZvci1jbHVzdGVyLXRpbWU="
	otherKey = "YW5vdGhlci1jbHVzdGVyJ3Mta2V5LWZpbGU="
)

// clockFixture is one memshard set (key file, users) behind two routers, a and b, as a cluster
// with two mongos. With auth, the routers require logins and sign cluster times with keys from
// the key file (b from otherKey when asked).
type clockFixture struct {
	a, b *Server
}

type clockSetup struct {
	auth      bool
	otherKey  bool // router b's keys come from another key file
	shardUser bool // the routers log in to the shard as "forwarder", a user that may not advance its clock
}

// clockUsers: plain may read and write test; trusted may also advance the cluster time;
// forwarder is a shard user that may impersonate (the routers' shard login in shardUser setups).
func clockUsers(t *testing.T) *auth.Users {
	t.Helper()
	return usersFile(t, []auth.RoleDef{
		{Role: "clock", DB: "admin", Privileges: []auth.PrivilegeSpec{{Resource: auth.ResourceSpec{Cluster: true},
			Actions: []string{"advanceClusterTime"}}}, Roles: []auth.RoleRef{{Role: "readWrite", DB: "test"}}},
		{Role: "forward", DB: "admin", Privileges: []auth.PrivilegeSpec{{Resource: auth.ResourceSpec{Cluster: true},
			Actions: []string{auth.ActionImpersonate}}}, Roles: []auth.RoleRef{{Role: "readWrite", DB: "test"}}},
	}, testUser{"plain", "readWrite", "test"}, testUser{"trusted", "clock", "admin"}, testUser{"forwarder", "forward", "admin"})
}

func startClockFixture(t *testing.T, s clockSetup) *clockFixture {
	t.Helper()
	users := clockUsers(t)
	keyPath := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyPath, []byte(clockKey), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := memshard.StartReplicaSet("rs0", 1, memshard.WithKeyFile(keyPath), memshard.WithUsers(users),
		memshard.WithMaxClockDrift(clockDrift))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	cred := shards.InternalCredential(clockKey)
	if s.shardUser {
		cred = shards.Credential{Username: "forwarder", Password: "forwarder-pw"}
	}
	sh := openShard(t, shards.Config{Name: "s0", SetName: "rs0", Hosts: rs.Hosts(), Auth: &cred,
		ServerSelectionTimeout: 15 * time.Second, HeartbeatInterval: 500 * time.Millisecond, Logger: zerolog.Nop()})
	router := func(key string) *Server {
		cfg := Config{Logger: zerolog.Nop(), MaxClockDriftSecs: clockDrift}
		if s.auth {
			cfg.Auth = auth.NewAuthenticator(users, nil, zerolog.Nop())
			cfg.ClusterTimeKeys = clustertime.NewKeys([]byte(key))
		}
		return serveRouter(t, cfg, sh)
	}
	f := &clockFixture{a: router(clockKey)}
	if s.otherKey {
		f.b = router(otherKey)
	} else {
		f.b = router(clockKey)
	}
	return f
}

// client is the official driver logged in to srv as user ("": no login).
func (f *clockFixture) client(t *testing.T, srv *Server, user string) *mongo.Client {
	t.Helper()
	opts := options.Client().ApplyURI("mongodb://" + srv.Addr() + "/").SetServerSelectionTimeout(15 * time.Second)
	if user != "" {
		opts.SetAuth(options.Credential{Username: user, Password: user + "-pw", AuthSource: "admin"})
	}
	cl, err := mongo.Connect(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cl.Disconnect(ctx)
	})
	return cl
}

// findWith runs a find in a causally consistent session whose cluster time is ct, as a driver
// that got ct from another router sends it. It returns the reply's $clusterTime.
func findWith(t *testing.T, cl *mongo.Client, ct clustertime.Signed) (clustertime.Signed, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	idx, doc := bsoncore.AppendDocumentStart(nil) // a session holds {$clusterTime: ...}, as a reply has it
	doc, _ = bsoncore.AppendDocumentEnd(clustertime.AppendElement(doc, ct), idx)
	if err := sess.AdvanceClusterTime(bson.Raw(doc)); err != nil {
		t.Fatal(err)
	}
	res := cl.Database("test").RunCommand(mongo.NewSessionContext(ctx, sess), bson.D{{Key: "find", Value: "c"}})
	raw, err := res.Raw()
	if err != nil {
		return clustertime.Signed{}, err
	}
	back, _, err := clustertime.Parse("reply", bsoncore.Document(raw))
	if err != nil {
		t.Fatalf("the reply's $clusterTime: %v", err)
	}
	return back, nil
}

// insertThrough writes through srv and returns the cluster time the client was given.
func (f *clockFixture) insertThrough(t *testing.T, srv *Server, user string) clustertime.Signed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := f.client(t, srv, user)
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if _, err := cl.Database("test").Collection("c").InsertOne(mongo.NewSessionContext(ctx, sess), bson.D{}); err != nil {
		t.Fatal(err)
	}
	s, present, err := clustertime.Parse("session", bsoncore.Document(sess.ClusterTime()))
	if err != nil || !present {
		t.Fatalf("the session's cluster time %v: %v", sess.ClusterTime(), err)
	}
	return s
}

// clockOf is the router's cluster time (zero before it has one).
func clockOf(srv *Server) bson.Timestamp {
	if ct := srv.clock.load(); ct != nil {
		return ct.ts
	}
	return bson.Timestamp{}
}

// aheadOfB is a time router b has not seen: a write through a moves the shard's clock past
// everything b knows (b first reads, to have a clock to compare with).
func aheadOfB(t *testing.T, f *clockFixture, user string) clustertime.Signed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.client(t, f.b, user).Database("test").Collection("c").FindOne(ctx, bson.D{}).Err(); err != nil &&
		!errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatal(err)
	}
	s := f.insertThrough(t, f.a, user) // the shard's clock ticks on every write
	if !s.Time.After(clockOf(f.b)) {
		t.Fatalf("router a's time %v is not ahead of router b's %v", s.Time, clockOf(f.b))
	}
	return s
}

func nowPlus(secs int64) bson.Timestamp {
	return bson.Timestamp{T: uint32(time.Now().Unix() + secs), I: 1}
}

// TestClusterTimeGossip is the table of issue 19: what a client may gossip to a router.
func TestClusterTimeGossip(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name  string
		setup clockSetup
		user  string // the client's login on router b
		send  func(t *testing.T, f *clockFixture) clustertime.Signed
		code  int32 // 0: accepted, and b's clock reaches the time
	}{
		{name: "far future: rate limiter", user: "",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: bson.Timestamp{T: 4102444800, I: 1}} // the year 2100, zero signature
			}, code: int32(mongoerr.ClusterTimeFailsRateLimiter)},
		{name: "just past the limit", user: "",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: nowPlus(clockDrift + 60)}
			}, code: int32(mongoerr.ClusterTimeFailsRateLimiter)},
		{name: "just inside the limit", user: "",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: nowPlus(clockDrift - 60)}
			}},
		{name: "auth: far future from a user with advanceClusterTime", setup: clockSetup{auth: true}, user: "trusted",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: nowPlus(2 * clockDrift)}
			}, code: int32(mongoerr.ClusterTimeFailsRateLimiter)},
		{name: "auth: just inside the limit, signed with the cluster's key", setup: clockSetup{auth: true}, user: "plain",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				ts := nowPlus(clockDrift - 60)
				return clustertime.Signed{Time: ts, Signature: clustertime.NewKeys([]byte(clockKey)).Sign(ts)}
			}},
		{name: "auth: signed by router a, sent to router b", setup: clockSetup{auth: true}, user: "plain",
			send: func(t *testing.T, f *clockFixture) clustertime.Signed { return aheadOfB(t, f, "plain") }},
		{name: "auth: signed by a router with another key file", setup: clockSetup{auth: true, otherKey: true}, user: "plain",
			send: func(t *testing.T, f *clockFixture) clustertime.Signed { return aheadOfB(t, f, "plain") },
			code: int32(mongoerr.TimeProofMismatch)},
		{name: "auth: router a's signature on a later time", setup: clockSetup{auth: true}, user: "plain",
			send: func(t *testing.T, f *clockFixture) clustertime.Signed {
				s := aheadOfB(t, f, "plain")
				s.Time.T++
				return s
			}, code: int32(mongoerr.TimeProofMismatch)},
		{name: "auth: forged hash", setup: clockSetup{auth: true}, user: "plain",
			send: func(t *testing.T, f *clockFixture) clustertime.Signed {
				s := aheadOfB(t, f, "plain")
				s.Hash[0] ^= 1
				return s
			}, code: int32(mongoerr.TimeProofMismatch)},
		{name: "auth: zero signature", setup: clockSetup{auth: true}, user: "plain",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: nowPlus(60)}
			}, code: int32(mongoerr.KeyNotFound)},
		{name: "auth: zero signature on a far-future time is refused for the signature first", setup: clockSetup{auth: true}, user: "plain",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: bson.Timestamp{T: 4102444800, I: 1}}
			}, code: int32(mongoerr.KeyNotFound)},
		{name: "auth: unsigned time from a user with advanceClusterTime", setup: clockSetup{auth: true}, user: "trusted",
			send: func(*testing.T, *clockFixture) clustertime.Signed {
				return clustertime.Signed{Time: nowPlus(60)}
			}},
		{name: "auth: the shard signs its replies to the router with a key of its own", setup: clockSetup{auth: true, shardUser: true}, user: "plain",
			send: func(t *testing.T, f *clockFixture) clustertime.Signed { return aheadOfB(t, f, "plain") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startClockFixture(t, tt.setup)
			cl := f.client(t, f.b, tt.user)
			sent := tt.send(t, f)
			before := clockOf(f.b)
			if !sent.Time.After(before) {
				t.Fatalf("the time sent, %v, is not ahead of router b's %v: the case proves nothing", sent.Time, before)
			}
			back, err := findWith(t, cl, sent)
			if tt.code != 0 {
				var se mongo.ServerError
				if !errors.As(err, &se) || !se.HasErrorCode(int(tt.code)) {
					t.Fatalf("find = %v, want code %d", err, tt.code)
				}
				if after := clockOf(f.b); after != before {
					t.Fatalf("a refused time moved the clock from %v to %v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("find: %v", err)
			}
			if got := clockOf(f.b); got.Before(sent.Time) {
				t.Fatalf("router b's clock %v did not reach the accepted %v", got, sent.Time)
			}
			checkOwnSignature(t, tt.setup, tt.user, back)
		})
	}
}

// checkOwnSignature: what a router returns carries its own signature, one that every router of
// the cluster checks, never a shard's; a client that may advance the clock gets the dummy one.
func checkOwnSignature(t *testing.T, setup clockSetup, user string, back clustertime.Signed) {
	t.Helper()
	if !setup.auth || user == "trusted" {
		if back.Signature != (clustertime.Signature{}) {
			t.Fatalf("a client that may advance the clock got signature %+v, want the dummy one", back.Signature)
		}
		return
	}
	if back.Dummy() {
		t.Fatalf("a user got an unsigned cluster time %v", back.Time)
	}
	key := clockKey
	if setup.otherKey {
		key = otherKey
	}
	if err := clustertime.NewKeys([]byte(key)).Verify(back); err != nil {
		t.Fatalf("the reply's signature is not the router's: %v", err)
	}
}

// A shard reply whose cluster time fails the rate limiter fails the command, as on mongos, and
// the clock does not take it; nor does a client's refused time change anything.
func TestClusterClockObserve(t *testing.T) {
	k := newClusterClock(Config{MaxClockDriftSecs: clockDrift})
	reply := func(ts bson.Timestamp) bsoncore.Document {
		return bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).
			AppendDocument(clustertime.Field, clustertime.AppendDoc(nil, clustertime.Signed{Time: ts})).Build()
	}
	observe := func(reply bsoncore.Document) error { return k.observe(outcome.Read(reply).ClusterTime) }
	now := nowPlus(0)
	if err := observe(reply(now)); err != nil || k.load().ts != now {
		t.Fatalf("observe(now) = %v, clock %v", err, k.load().ts)
	}
	err := observe(reply(nowPlus(2 * clockDrift)))
	if e := mongoerr.As(err); err == nil || e.Code != mongoerr.ClusterTimeFailsRateLimiter {
		t.Fatalf("observe(far future) = %v, want 205", err)
	}
	if k.load().ts != now {
		t.Fatalf("the clock moved to %v", k.load().ts)
	}
	for _, bad := range []bsoncore.Document{
		bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build(),
		bsoncore.NewDocumentBuilder().AppendString(clustertime.Field, "x").Build(),
		bsoncore.NewDocumentBuilder().AppendDocument(clustertime.Field, bsoncore.NewDocumentBuilder().AppendInt32("clusterTime", 1).Build()).Build(),
	} {
		if err := observe(bad); err != nil || k.load().ts != now {
			t.Fatalf("observe(%v) = %v, clock %v", bad, err, k.load().ts)
		}
	}
}

// getParameter reports the drift limit as mongod does: a long.
func TestGetParameterClockDrift(t *testing.T) {
	checkLeaks(t)
	c := startBenchCluster(t, 1, 1, func(cfg *Config) { cfg.MaxClockDriftSecs = 1234 })
	cl := dialBench(t, c.srv.Addr())
	reply := cl.run(t, marshalBench(t, bson.D{{Key: "getParameter", Value: 1},
		{Key: "maxAcceptableLogicalClockDriftSecs", Value: 1}, {Key: "$db", Value: "admin"}}))
	if v, ok := reply.Lookup("maxAcceptableLogicalClockDriftSecs").Int64OK(); !ok || v != 1234 {
		t.Fatalf("getParameter: %v", reply)
	}
	def := startBenchCluster(t, 1, 1, nil)
	reply = dialBench(t, def.srv.Addr()).run(t, marshalBench(t, bson.D{{Key: "getParameter", Value: "*"}, {Key: "$db", Value: "admin"}}))
	if v, ok := reply.Lookup("maxAcceptableLogicalClockDriftSecs").Int64OK(); !ok || v != 365*24*3600 {
		t.Fatalf("getParameter '*': %v", reply)
	}
}

// FuzzClusterTimeGossip: random $clusterTime documents, from clients of every standing and in
// shard replies, never panic and never move the clock past the rate limiter's bound; one that is
// refused leaves the clock as it was.
func FuzzClusterTimeGossip(f *testing.F) {
	f.Add([]byte{5, 0, 0, 0, 0}, int64(0), uint32(1), make([]byte, 20), int64(0), uint8(0))
	f.Add(clustertime.AppendDoc(nil, clustertime.Signed{Time: bson.Timestamp{T: 4102444800, I: 1}}),
		int64(clockDrift+1), uint32(1), make([]byte, 20), int64(0), uint8(7))
	f.Add([]byte{12, 0, 0, 0, 17, 'c', 0, 1, 0, 0, 0, 0}, int64(clockDrift), uint32(1<<31), []byte{1}, int64(-1), uint8(5))
	keys := clustertime.NewKeys([]byte(clockKey))
	f.Fuzz(func(t *testing.T, raw []byte, secs int64, inc uint32, hash []byte, keyID int64, how uint8) {
		k := &clusterClock{gossip: clustertime.Gossip{
			Limit: clustertime.Limit{MaxDriftSecs: clockDrift, Now: time.Now}, Keys: keys}}
		who := clustertime.Sender{AuthOn: how&1 != 0, Authenticated: how&2 != 0, MayAdvance: how&4 != 0}
		ts := bson.Timestamp{T: uint32(time.Now().Unix() + secs), I: inc}
		sig := bsoncore.NewDocumentBuilder().AppendBinary("hash", 0, hash).AppendInt64("keyId", keyID).Build()
		if how&8 != 0 { // a real signature of the cluster's key
			s := keys.Sign(ts)
			sig = bsoncore.NewDocumentBuilder().AppendBinary("hash", 0, s.Hash[:]).AppendInt64("keyId", s.KeyID).Build()
		}
		shaped := bsoncore.NewDocumentBuilder().AppendTimestamp("clusterTime", ts.T, ts.I).AppendDocument("signature", sig).Build()
		for _, ct := range [][]byte{raw, shaped} {
			idx, body := bsoncore.AppendDocumentStart(nil)
			body = bsoncore.AppendStringElement(body, "find", "c")
			body = append(bsoncore.AppendHeader(body, bsoncore.TypeEmbeddedDocument, clustertime.Field), ct...)
			body, _ = bsoncore.AppendDocumentEnd(body, idx)
			before := k.load()
			err := k.gossipIn("find", body, who)
			checkClockBound(t, k, before, err)
			before = k.load()
			err = k.observe(body)
			checkClockBound(t, k, before, err)
		}
	})
}

func checkClockBound(t *testing.T, k *clusterClock, before *clusterTime, err error) {
	t.Helper()
	cur := k.load()
	if err != nil && cur != before {
		t.Fatalf("a refused time (%v) moved the clock from %v to %v", err, before, cur)
	}
	if cur == nil {
		return
	}
	if limit := time.Now().Unix() + clockDrift; int64(cur.ts.T) > limit || cur.ts.T > 1<<31-1 || cur.ts.I > 1<<31-1 {
		t.Fatalf("the clock reached %v, past the bound (seconds %d)", cur.ts, limit)
	}
}

// BenchmarkClusterTimeGossip is BenchmarkHandle's ping carrying the $clusterTime a driver sends
// back: without auth (the time is taken, the reply gets the dummy signature) and with auth for a
// client not logged in (the time is one the router signed, the reply is signed again).
func BenchmarkClusterTimeGossip(b *testing.B) {
	ts := bson.Timestamp{T: uint32(time.Now().Unix()), I: 1}
	keys := clustertime.NewKeys([]byte(clockKey))
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		sig  clustertime.Signature
	}{
		{"auth off", nil, clustertime.Signature{}},
		{"auth, signed", func(cfg *Config) {
			cfg.Auth = auth.NewAuthenticator(nil, nil, zerolog.Nop())
			cfg.ClusterTimeKeys = keys
		}, keys.Sign(ts)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := startBenchCluster(b, 1, 1, tc.cfg)
			server, client := net.Pipe()
			defer server.Close()
			defer client.Close()
			idx, body := bsoncore.AppendDocumentStart(nil)
			body = bsoncore.AppendInt32Element(body, "ping", 1)
			body = clustertime.AppendElement(body, clustertime.Signed{Time: ts, Signature: tc.sig})
			body = bsoncore.AppendStringElement(body, "$db", "admin")
			body, _ = bsoncore.AppendDocumentEnd(body, idx)
			benchHandle(b, c.srv.newConn(server), body)
		})
	}
}
