package memshard

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

const testKey = "bWVtc2hhcmQta2V5LWZvci10ZXN0cw=="

// testUsers: alice may write test, bob may read it, root is root.
func testUsers(t *testing.T) *auth.Users {
	t.Helper()
	f := auth.File{}
	for _, u := range []struct {
		name string
		role auth.RoleRef
	}{
		{"alice", auth.RoleRef{Role: "readWrite", DB: "test"}},
		{"bob", auth.RoleRef{Role: "read", DB: "test"}},
		{"root", auth.RoleRef{Role: "root", DB: "admin"}},
	} {
		creds, err := auth.NewCredentials(u.name, u.name+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		f.Users = append(f.Users, auth.UserEntry{User: u.name, DB: "admin", Roles: []auth.RoleRef{u.role}, Credentials: creds})
	}
	data, err := yaml.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	us, err := auth.ParseUsers(data)
	if err != nil {
		t.Fatal(err)
	}
	return us
}

func keyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func startAuthSet(t *testing.T) *ReplicaSet {
	return startSet(t, 1, WithUsers(testUsers(t)), WithKeyFile(keyFile(t, testKey+"\n", 0o600)))
}

// withCred is a client logging in as user. Its heartbeat is short: after a failed login the driver
// re-checks the server with an awaitable hello on a new monitoring connection, and a Disconnect
// racing that check waits for the hello to time out (maxAwaitTimeMS = the heartbeat interval).
func withCred(user, password, mech, source string) *options.ClientOptions {
	return noCred().SetAuth(options.Credential{Username: user, Password: password, AuthMechanism: mech, AuthSource: source})
}

func noCred() *options.ClientOptions {
	return options.Client().SetHeartbeatInterval(500 * time.Millisecond)
}

// TestAuthDriverLogins: the official driver logs in with each mechanism, speculatively in its
// handshake (so saslStart itself is never sent), and then works under its roles.
func TestAuthDriverLogins(t *testing.T) {
	rs := startAuthSet(t)
	tests := []struct {
		name, user, password, mech, source string
	}{
		{"SCRAM-SHA-256", "alice", "alice-pw", auth.MechanismSHA256, "admin"},
		{"SCRAM-SHA-1", "alice", "alice-pw", auth.MechanismSHA1, "admin"},
		{"negotiated through saslSupportedMechs", "alice", "alice-pw", "", "admin"},
		{"key file internal user, SCRAM-SHA-256", "__system", testKey, auth.MechanismSHA256, "local"},
		{"key file internal user, SCRAM-SHA-1", "__system", testKey, auth.MechanismSHA1, "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := rs.Member(0).CommandCount("saslContinue")
			cl := connect(t, rs.URI(), withCred(tt.user, tt.password, tt.mech, tt.source))
			ctx := ctxT(t)
			if _, err := cl.Database("test").Collection("c").InsertOne(ctx, bson.D{{Key: "by", Value: tt.name}}); err != nil {
				t.Fatal(err)
			}
			if n, err := cl.Database("test").Collection("c").CountDocuments(ctx, bson.D{{Key: "by", Value: tt.name}}); err != nil || n != 1 {
				t.Fatalf("count %d, %v", n, err)
			}
			if rs.Member(0).CommandCount("saslContinue") == before {
				t.Fatal("no saslContinue: the driver did not authenticate")
			}
			if n := rs.Member(0).CommandCount("saslStart"); n != 0 {
				t.Fatalf("%d saslStart: speculative authentication was not used", n)
			}
		})
	}
}

func TestAuthDriverRefusals(t *testing.T) {
	rs := startAuthSet(t)
	tests := []struct {
		name     string
		cred     *options.ClientOptions
		run      func(context.Context, *mongo.Client) error
		wantCode int32
		wantMsg  string
	}{
		{"wrong password", withCred("alice", "nope", auth.MechanismSHA256, "admin"), ping, 18, "Authentication failed."},
		{"wrong password, SCRAM-SHA-1", withCred("alice", "nope", auth.MechanismSHA1, "admin"), ping, 18, "Authentication failed."},
		{"unknown user", withCred("mallory", "x", "", "admin"), ping, 18, "Authentication failed."},
		{"wrong key", withCred("__system", testKey+"x", auth.MechanismSHA256, "local"), ping, 18, "Authentication failed."},
		{"no credentials: ping is allowed", noCred(), ping, 0, ""},
		{"no credentials: find needs authentication", noCred(), func(ctx context.Context, cl *mongo.Client) error {
			return cl.Database("test").Collection("c").FindOne(ctx, bson.D{}).Err()
		}, 13, "command find requires authentication"},
		{"a reader may not insert", withCred("bob", "bob-pw", "", "admin"), func(ctx context.Context, cl *mongo.Client) error {
			_, err := cl.Database("test").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}})
			return err
		}, 13, "not authorized on test to execute command { insert: \"c\""},
		{"a reader may read", withCred("bob", "bob-pw", "", "admin"), func(ctx context.Context, cl *mongo.Client) error {
			err := cl.Database("test").Collection("c").FindOne(ctx, bson.D{}).Err()
			if errors.Is(err, mongo.ErrNoDocuments) {
				return nil
			}
			return err
		}, 0, ""},
		{"a reader may not list all sessions", withCred("bob", "bob-pw", "", "admin"), func(ctx context.Context, cl *mongo.Client) error {
			return cl.Database("admin").RunCommand(ctx, bson.D{{Key: "aggregate", Value: 1},
				{Key: "pipeline", Value: bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{{Key: "allUsers", Value: true}}}}}},
				{Key: "cursor", Value: bson.D{}}}).Err()
		}, 13, "not authorized on admin to execute command { aggregate: 1, pipeline: [ { $listLocalSessions: { allUsers: true } } ]"},
		{"root may not impersonate", withCred("root", "root-pw", "", "admin"), func(ctx context.Context, cl *mongo.Client) error {
			return cl.Database("admin").RunCommand(ctx, bson.D{{Key: "killAllSessionsByPattern",
				Value: bson.A{bson.D{{Key: "users", Value: bson.A{}}}}}}).Err()
		}, 13, "Not authorized to impersonate in killAllSessionsByPattern"},
		{"the internal user may", withCred("__system", testKey, "", "local"), func(ctx context.Context, cl *mongo.Client) error {
			return cl.Database("admin").RunCommand(ctx, bson.D{{Key: "killAllSessionsByPattern",
				Value: bson.A{bson.D{{Key: "users", Value: bson.A{}}}}}}).Err()
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := connect(t, rs.URI(), tt.cred)
			err := tt.run(ctxT(t), cl)
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se mongo.ServerError
			if !errors.As(err, &se) || !se.HasErrorCode(int(tt.wantCode)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("got %v, want code %d %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func ping(ctx context.Context, cl *mongo.Client) error {
	return cl.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
}

// rawLogin authenticates a raw connection with SCRAM-SHA-256 as drivers do, skipping the empty
// exchange.
func rawLogin(t *testing.T, c *rawClient, user, password, db string) {
	t.Helper()
	client, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	first, _ := conv.Step("")
	reply := mustOK(t, c.run(bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: auth.MechanismSHA256},
		{Key: "payload", Value: bson.Binary{Data: []byte(first)}}, {Key: "options", Value: bson.D{{Key: "skipEmptyExchange", Value: true}}},
		{Key: "$db", Value: db}}))
	_, payload := reply.Lookup("payload").Binary()
	final, err := conv.Step(string(payload))
	if err != nil {
		t.Fatal(err)
	}
	reply = mustOK(t, c.run(bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: int32(1)},
		{Key: "payload", Value: bson.Binary{Data: []byte(final)}}, {Key: "$db", Value: db}}))
	if done, _ := reply.Lookup("done").BooleanOK(); !done {
		t.Fatalf("not done: %s", reply)
	}
}

func uidOf(user, db string) sessionid.UID { return sha256.Sum256([]byte(user + "@" + db)) }

// TestAuthSessionOwnership: sessions belong to the user (uid = SHA-256("user@db")); the same id
// used by two users is two sessions; only the internal user may name another user's uid.
func TestAuthSessionOwnership(t *testing.T) {
	rs := startAuthSet(t)
	m := rs.Member(0)
	shared := newLSID()
	spoofed := sessionid.ID{ID: shared.ID, UID: uidOf("bob", "admin")}
	spoofDoc := bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: spoofed.ID[:]}}, {Key: "uid", Value: bson.Binary{Data: spoofed.UID[:]}}}

	alice, bob, system := dialRaw(t, m.host), dialRaw(t, m.host), dialRaw(t, m.host)
	rawLogin(t, alice, "alice", "alice-pw", "admin")
	rawLogin(t, bob, "bob", "bob-pw", "admin")
	rawLogin(t, system, "__system", testKey, "local")

	for _, c := range []*rawClient{alice, bob} {
		mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: lsidDoc(shared)}, {Key: "$db", Value: "test"}}))
	}
	want := map[sessionid.ID]bool{
		{ID: shared.ID, UID: uidOf("alice", "admin")}: true,
		{ID: shared.ID, UID: uidOf("bob", "admin")}:   true,
	}
	if got := m.Sessions(); len(got) != 2 || !want[got[0]] || !want[got[1]] {
		t.Fatalf("sessions %v, want alice's and bob's under one id", got)
	}

	wantCode(t, alice.run(bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: spoofDoc}, {Key: "$db", Value: "test"}}),
		mongoerr.Unauthorized, "Unauthorized to set user digest in LogicalSessionId")
	wantCode(t, alice.run(bson.D{{Key: "refreshSessions", Value: bson.A{spoofDoc}}, {Key: "$db", Value: "admin"}}),
		mongoerr.Unauthorized, "Unauthorized to set user digest in LogicalSessionId")
	// A router forwarding a client's session authenticates as __system.
	mustOK(t, system.run(bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: spoofDoc}, {Key: "$db", Value: "test"}}))

	// killSessions: [] kills the caller's sessions only; startSession belongs to the caller.
	started := mustOK(t, alice.run(bson.D{{Key: "startSession", Value: 1}, {Key: "$db", Value: "admin"}}))
	_, idBytes := started.Lookup("id", "id").Binary()
	var startedID sessionid.ID
	copy(startedID.ID[:], idBytes)
	startedID.UID = uidOf("alice", "admin")
	found := false
	for _, s := range m.Sessions() {
		found = found || s == startedID
	}
	if !found {
		t.Fatalf("startSession's session %v is not alice's: %v", startedID, m.Sessions())
	}
	wantCode(t, bob.run(bson.D{{Key: "killAllSessions", Value: bson.A{}}, {Key: "$db", Value: "admin"}}),
		mongoerr.Unauthorized, `not authorized on admin to execute command { killAllSessions: [], $db: "admin" }`)
}

func TestAuthUnauthenticatedRaw(t *testing.T) {
	rs := startAuthSet(t)
	c := dialRaw(t, rs.Member(0).host)
	mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}))
	mustOK(t, c.run(bson.D{{Key: "buildInfo", Value: 1}, {Key: "$db", Value: "admin"}}))
	wantCode(t, c.run(bson.D{{Key: "startSession", Value: 1}, {Key: "$db", Value: "admin"}}),
		mongoerr.Unauthorized, "command startSession requires authentication")
	wantCode(t, c.run(bson.D{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: int32(1)},
		{Key: "payload", Value: bson.Binary{}}, {Key: "$db", Value: "admin"}}),
		mongoerr.ProtocolError, "No SASL session state found")
	wantCode(t, c.run(bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: "PLAIN"},
		{Key: "payload", Value: bson.Binary{}}, {Key: "$db", Value: "admin"}}),
		mongoerr.MechanismUnavailable, "Received authentication for mechanism PLAIN which is not enabled")
	if n := len(rs.Member(0).Sessions()); n != 0 {
		t.Fatalf("%d sessions created by unauthenticated commands", n)
	}
	// saslSupportedMechs in hello.
	reply := mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "saslSupportedMechs", Value: "local.__system"}, {Key: "$db", Value: "admin"}}))
	if mechs := reply.Lookup("saslSupportedMechs").String(); mechs != `["SCRAM-SHA-1","SCRAM-SHA-256"]` {
		t.Fatalf("saslSupportedMechs %s", mechs)
	}
}

// TestAuthOff: without users or key file every command runs and a client may name any uid, as
// mongod without --auth.
func TestAuthOff(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Member(0).host)
	other := sessionid.ID{ID: newLSID().ID, UID: uidOf("x", "y")}
	mustOK(t, c.run(bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: bson.D{
		{Key: "id", Value: bson.Binary{Subtype: 4, Data: other.ID[:]}}, {Key: "uid", Value: bson.Binary{Data: other.UID[:]}}}},
		{Key: "$db", Value: "test"}}))
	wantCode(t, c.run(bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: auth.MechanismSHA256},
		{Key: "payload", Value: bson.Binary{Data: []byte("n,,n=alice,r=0123456789")}}, {Key: "$db", Value: "admin"}}),
		mongoerr.AuthenticationFailed, "Authentication failed.")
}

func TestAuthBadKeyFile(t *testing.T) {
	tests := []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"open permissions", testKey, 0o644, "are too open"},
		{"too short", "abc", 0o600, "must be between 6 and 1024 chars"},
		{"invalid character", "abc*defgh", 0o600, "invalid char in key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := StartReplicaSet("rs0", 1, WithKeyFile(keyFile(t, tt.content, tt.mode)))
			if err == nil {
				_ = rs.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// connectionStatus shows who the connection logged in as and, with showPrivileges, what it may
// do: a router reads there whether it may advance the set's cluster time.
func TestAuthConnectionStatus(t *testing.T) {
	rs := startAuthSet(t)
	for _, tt := range []struct {
		user, password, source string
		role                   string
		advances               bool // advanceClusterTime on the cluster, or anyAction on anyResource
	}{
		{"alice", "alice-pw", "admin", "readWrite@test", false},
		{"__system", testKey, "local", "__system@admin", true},
	} {
		t.Run(tt.user, func(t *testing.T) {
			cl := connect(t, rs.URI(), withCred(tt.user, tt.password, "", tt.source))
			var reply struct {
				AuthInfo struct {
					Users      []struct{ User, DB string } `bson:"authenticatedUsers"`
					Roles      []struct{ Role, DB string } `bson:"authenticatedUserRoles"`
					Privileges []struct {
						Resource bson.M
						Actions  []string
					} `bson:"authenticatedUserPrivileges"`
				} `bson:"authInfo"`
			}
			if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "connectionStatus", Value: 1}, {Key: "showPrivileges", Value: true}}).Decode(&reply); err != nil {
				t.Fatal(err)
			}
			info := reply.AuthInfo
			if len(info.Users) != 1 || info.Users[0].User != tt.user || info.Users[0].DB != tt.source ||
				len(info.Roles) != 1 || info.Roles[0].Role+"@"+info.Roles[0].DB != tt.role {
				t.Fatalf("users %+v roles %s", info.Users, info.Roles)
			}
			advances := false
			for _, p := range info.Privileges {
				for _, a := range p.Actions {
					advances = advances || a == "advanceClusterTime" && p.Resource["cluster"] == true ||
						a == "anyAction" && p.Resource["anyResource"] == true
				}
			}
			if len(info.Privileges) == 0 || advances != tt.advances {
				t.Fatalf("privileges %+v: advances %v, want %v", info.Privileges, advances, tt.advances)
			}
		})
	}
}
