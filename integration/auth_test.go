package integration

import (
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/router"
)

// authCluster starts a router with --auth and three users: alice and bob may read and write
// test, admin is root.
func authCluster(t *testing.T) *cluster { return authClusterWith(t, clusterOptions{}) }

// authClusterWith is authCluster with the cluster's other options.
func authClusterWith(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	return authClusterOf(t, o, []testUser{
		{"alice", "test", "readWrite", "test"}, {"bob", "test", "readWrite", "test"}, {"admin", "admin", "root", "admin"},
	})
}

// testUser is a user of the users file, with one role; its password is its name + "-pw".
type testUser struct{ name, db, role, roleDB string }

// authClusterOf starts a router with --auth and the given users.
func authClusterOf(t *testing.T, o clusterOptions, users []testUser) *cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	for _, u := range users {
		creds, err := auth.NewCredentials(u.name, u.name+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := auth.AddUser(path, auth.UserEntry{User: u.name, DB: u.db,
			Roles: []auth.RoleRef{{Role: u.role, DB: u.roleDB}}, Credentials: creds}); err != nil {
			t.Fatal(err)
		}
	}
	loaded, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	a := auth.NewAuthenticator(loaded, nil, zerolog.Nop())
	o.configure = func(cfg *router.Config) { cfg.Auth = a }
	return startCluster(t, o)
}

func (c *cluster) userClient(t *testing.T, user, db, password string) *mongo.Client {
	t.Helper()
	return c.client(t, options.Client().SetAuth(options.Credential{Username: user, AuthSource: db, Password: password}))
}

func uidOf(user string) bson.Binary {
	sum := sha256.Sum256([]byte(user))
	return bson.Binary{Subtype: 0, Data: sum[:]}
}

func wantCommandError(t *testing.T, err error, code int32) {
	t.Helper()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("got %v, want code %d", err, code)
	}
}

func TestAuthenticationRequired(t *testing.T) {
	c := authCluster(t)
	ctx := ctxT(t)
	err := c.client(t).Database("test").RunCommand(ctx, bson.D{{Key: "find", Value: "c"}}).Err()
	wantCommandError(t, err, 13)
	err = c.userClient(t, "alice", "test", "wrong").Ping(ctx, nil)
	var ae interface{ Unwrap() error }
	if err == nil || !errors.As(err, &ae) {
		t.Fatalf("wrong password: %v, want an authentication failure", err)
	}
	wantCommandError(t, errors.Unwrap(err), 18)
	alice := c.userClient(t, "alice", "test", "alice-pw")
	if _, err := alice.Database("test").Collection("c").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatalf("alice writes test: %v", err)
	}
	_, err = alice.Database("other").Collection("c").InsertOne(ctx, bson.D{})
	wantCommandError(t, err, 13)
}

func TestSessionOwnership(t *testing.T) {
	c := authCluster(t)
	ctx := ctxT(t)
	alice := c.userClient(t, "alice", "test", "alice-pw")
	bob := c.userClient(t, "bob", "test", "bob-pw")
	admin := c.userClient(t, "admin", "admin", "admin-pw")
	shared := bson.Binary{Subtype: 4, Data: []byte("same-uuid-16byte")}

	// The same UUID used by two users is two sessions.
	for _, cl := range []*mongo.Client{alice, bob} {
		if err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "refreshSessions",
			Value: bson.A{bson.D{{Key: "id", Value: shared}}}}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := admin.Database("admin").Aggregate(ctx, bson.A{
		bson.D{{Key: "$listLocalSessions", Value: bson.D{{Key: "allUsers", Value: true}}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "_id.id", Value: shared}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []bson.M
	if err := cur.All(ctx, &recs); err != nil || len(recs) != 2 {
		t.Fatalf("sessions with the shared UUID: %d (%v), want one per user", len(recs), err)
	}

	// A uid that is not the caller's is refused.
	err = alice.Database("admin").RunCommand(ctx, bson.D{{Key: "refreshSessions",
		Value: bson.A{bson.D{{Key: "id", Value: shared}, {Key: "uid", Value: uidOf("bob@test")}}}}}).Err()
	wantCommandError(t, err, 13)

	// Listing other users' sessions needs listSessions.
	_, err = alice.Database("admin").Aggregate(ctx, bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{{Key: "allUsers", Value: true}}}}})
	wantCommandError(t, err, 13)

	// A reader cannot kill others' sessions; an admin can.
	sess := startSession(t, bob)
	sctx := mongo.NewSessionContext(ctx, sess)
	coll := bob.Database("test").Collection("own")
	if _, err := coll.InsertMany(sctx, []any{bson.D{}, bson.D{}, bson.D{}}); err != nil {
		t.Fatal(err)
	}
	bobCursor, err := coll.Find(sctx, bson.D{}, options.Find().SetBatchSize(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Database("admin").RunCommand(ctx, bson.D{{Key: "killSessions",
		Value: bson.A{bson.D{{Key: "id", Value: sessionUUID(t, sess)}}}}}).Err(); err != nil {
		t.Fatalf("alice's killSessions of bob's id: %v (it should succeed and kill nothing)", err)
	}
	// killSessions: [] kills the caller's own sessions only.
	if err := alice.Database("admin").RunCommand(ctx, bson.D{{Key: "killSessions", Value: bson.A{}}}).Err(); err != nil {
		t.Fatalf("alice's killSessions []: %v", err)
	}
	err = alice.Database("admin").RunCommand(ctx, bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err()
	wantCommandError(t, err, 13)
	if !bobCursor.Next(sctx) || !bobCursor.Next(sctx) {
		t.Fatalf("bob's cursor died after alice's attempts: %v", bobCursor.Err())
	}
	if err := admin.Database("admin").RunCommand(ctx, bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err(); err != nil {
		t.Fatal(err)
	}
	for bobCursor.Next(sctx) {
	}
	wantCommandError(t, bobCursor.Err(), 43)
}

// TestCursorOwnership: the shards see every cursor as the router's, so the router enforces what
// mongos does: only the user who opened a cursor may getMore it; killing another user's cursor
// needs killAnyCursor (root has it).
func TestCursorOwnership(t *testing.T) {
	c := authCluster(t)
	ctx := ctxT(t)
	alice := c.userClient(t, "alice", "test", "alice-pw").Database("test")
	bob := c.userClient(t, "bob", "test", "bob-pw").Database("test")
	root := c.userClient(t, "admin", "admin", "admin-pw").Database("test")
	docs := make([]any, 10)
	for i := range docs {
		docs[i] = bson.D{{Key: "i", Value: i}}
	}
	if _, err := alice.Collection("cur").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	open := func() int64 {
		var reply struct {
			Cursor struct{ ID int64 } `bson:"cursor"`
		}
		err := alice.RunCommand(ctx, bson.D{{Key: "find", Value: "cur"}, {Key: "batchSize", Value: 1}}).Decode(&reply)
		if err != nil || reply.Cursor.ID == 0 {
			t.Fatalf("find: %v, cursor %d", err, reply.Cursor.ID)
		}
		return reply.Cursor.ID
	}
	id := open()
	getMore := bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "cur"}, {Key: "batchSize", Value: 1}}
	err := bob.RunCommand(ctx, getMore).Err()
	wantCommandError(t, err, 13)
	if want := "was not created by the authenticated user"; !strings.Contains(err.Error(), want) {
		t.Errorf("bob's getMore: %v, want %q", err, want)
	}
	err = bob.RunCommand(ctx, bson.D{{Key: "killCursors", Value: "cur"}, {Key: "cursors", Value: bson.A{id}}}).Err()
	wantCommandError(t, err, 13)
	if err := alice.RunCommand(ctx, getMore).Err(); err != nil {
		t.Fatalf("alice's own getMore after bob's attempts: %v", err)
	}
	// root may kill any cursor as far as the router is concerned; the shard still refuses a
	// cursor of another session (cursorsUnknown, as mongod), and then it lives on.
	var kill struct {
		Killed  []int64 `bson:"cursorsKilled"`
		Unknown []int64 `bson:"cursorsUnknown"`
	}
	kc := bson.D{{Key: "killCursors", Value: "cur"}, {Key: "cursors", Value: bson.A{id}}}
	if err := root.RunCommand(ctx, kc).Decode(&kill); err != nil || len(kill.Killed)+len(kill.Unknown) != 1 {
		t.Fatalf("root's killCursors: %v, %+v", err, kill)
	}
	if len(kill.Unknown) == 1 {
		if err := alice.RunCommand(ctx, getMore).Err(); err != nil {
			t.Fatalf("alice's getMore after a kill the shard refused: %v", err)
		}
		kill.Killed = nil
		if err := alice.RunCommand(ctx, kc).Decode(&kill); err != nil || len(kill.Killed) != 1 || kill.Killed[0] != id {
			t.Fatalf("alice kills her own cursor: %v, %+v", err, kill)
		}
	}
	wantCommandError(t, alice.RunCommand(ctx, getMore).Err(), 43) // CursorNotFound: it is gone
}
