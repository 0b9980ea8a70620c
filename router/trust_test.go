package router

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	driverauth "go.mongodb.org/mongo-driver/v2/x/mongo/driver/auth"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
	"github.com/mongos-lite/mongos-lite/shards/pool"
)

// The trust boundary between clients and the shards: what a client sends is checked as mongos
// checks it, and what reaches a shard is what was authorized (internal/command).

// commandLog collects what the members of a memshard set receive.
type commandLog struct {
	mu  sync.Mutex
	got []memshard.Received
}

func (l *commandLog) add(r memshard.Received) {
	l.mu.Lock()
	l.got = append(l.got, r)
	l.mu.Unlock()
}

// find returns the last command named name whose body holds marker, or nil.
func (l *commandLog) find(name string, marker int32) bson.Raw {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.got) - 1; i >= 0; i-- {
		b := l.got[i].Body
		first, err := b.IndexErr(0)
		if err != nil || first.Key() != name {
			continue
		}
		if bytes.Contains(b, markerBytes(marker)) {
			return b
		}
	}
	return nil
}

// markerBytes is the encoded element {marker: n}, unique to one test command.
func markerBytes(n int32) []byte { return bsoncore.AppendInt32Element(nil, "marker", n) }

// trustMode is how the router and the shard trust each other in one run of the table.
type trustMode struct {
	name     string
	auth     bool // the router runs with --auth
	keyFile  bool // the router authenticates to the shard as __system (else as a shard user)
	anyShard bool // the shard runs without authentication
}

var trustModes = []trustMode{
	{name: "no auth", anyShard: true},
	{name: "auth, key file", auth: true, keyFile: true},
	{name: "auth, shard user", auth: true},
}

// trustUsers are the router's users: alice may read and write test; imp may also impersonate,
// intern also holds the internal action; rooty is root; updater may only find and update in
// test; bee may read and write b; narrow may only find in test.visible; minekiller may kill any
// cursor in mine and read test.
const trustUsersYAML = `
roles:
  - role: impersonator
    db: admin
    privileges:
      - resource: {cluster: true}
        actions: [impersonate]
  - role: internalClient
    db: admin
    privileges:
      - resource: {cluster: true}
        actions: [internal]
  - role: narrow
    db: admin
    privileges:
      - resource: {db: test, collection: visible}
        actions: [find]
  - role: killMine
    db: admin
    privileges:
      - resource: {db: mine, collection: ""}
        actions: [killAnyCursor, find]
  - role: updateOnly
    db: admin
    privileges:
      - resource: {db: test, collection: ""}
        actions: [find, update]
`

func trustUsers(t testing.TB) *auth.Users {
	t.Helper()
	var file auth.File
	if err := yaml.Unmarshal([]byte(trustUsersYAML), &file); err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		name  string
		roles []auth.RoleRef
	}{
		{"alice", []auth.RoleRef{{Role: "readWrite", DB: "test"}}},
		{"imp", []auth.RoleRef{{Role: "readWrite", DB: "test"}, {Role: "impersonator", DB: "admin"}}},
		{"intern", []auth.RoleRef{{Role: "readWrite", DB: "test"}, {Role: "internalClient", DB: "admin"}}},
		{"rooty", []auth.RoleRef{{Role: "root", DB: "admin"}}},
		{"updater", []auth.RoleRef{{Role: "updateOnly", DB: "admin"}}},
		{"bee", []auth.RoleRef{{Role: "readWrite", DB: "b"}}},
		{"narrow", []auth.RoleRef{{Role: "narrow", DB: "admin"}}},
		{"minekiller", []auth.RoleRef{{Role: "killMine", DB: "admin"}, {Role: "read", DB: "test"}}},
		// the shard user of "auth, shard user": a router's user that may impersonate
		{"router", []auth.RoleRef{{Role: "root", DB: "admin"}, {Role: "impersonator", DB: "admin"}}},
	} {
		creds, err := auth.NewCredentials(u.name, u.name+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		file.Users = append(file.Users, auth.UserEntry{User: u.name, DB: "admin", Roles: u.roles, Credentials: creds})
	}
	data, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.ParseUsers(data)
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// trustCluster is one memshard set that logs what it receives, behind a router in mode m.
func trustCluster(t testing.TB, m trustMode) (addr string, log *commandLog) {
	t.Helper()
	srv, log := trustServer(t, m, nil)
	return srv.Addr(), log
}

// trustServer is trustCluster's router, with routerCfg applied to its configuration.
func trustServer(t testing.TB, m trustMode, routerCfg func(*Config)) (srv *Server, log *commandLog) {
	t.Helper()
	log = &commandLog{}
	users := trustUsers(t)
	setOpts := []memshard.Option{memshard.WithCommandLog(log.add)}
	var shardAuth *shards.Credential
	switch {
	case m.anyShard:
	case m.keyFile:
		path := filepath.Join(t.TempDir(), "keyfile")
		const key = "dHJ1c3QtYm91bmRhcnkta2V5"
		if err := os.WriteFile(path, []byte(key), 0o400); err != nil {
			t.Fatal(err)
		}
		setOpts = append(setOpts, memshard.WithKeyFile(path))
		cred := shards.InternalCredential(key)
		shardAuth = &cred
	default:
		setOpts = append(setOpts, memshard.WithUsers(users))
		shardAuth = &shards.Credential{Username: "router", Password: "router-pw"}
	}
	srv, _ = oneShardServer(t, setOpts, func(c *shards.Config) { c.Auth = shardAuth }, func(c *Config) {
		if m.auth {
			c.Auth = auth.NewAuthenticator(users, nil, zerolog.Nop())
		}
		if routerCfg != nil {
			routerCfg(c)
		}
	})
	return srv, log
}

// rawClient is one connection to the router that sends whole frames, authenticated as user
// (none when empty) by the driver's own handshake.
type rawClient struct {
	p *pool.Pool
	c *pool.Conn
}

func dialRaw(t *testing.T, addr, user string) *rawClient {
	t.Helper()
	var hs func() driver.Handshaker
	if user == "" {
		hs = func() driver.Handshaker { return driverauth.Handshaker(nil, &driverauth.HandshakeOptions{}) }
	} else {
		a, err := driverauth.CreateAuthenticator("SCRAM-SHA-256",
			&driverauth.Cred{Source: "admin", Username: user, Password: user + "-pw", PasswordSet: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		hs = func() driver.Handshaker {
			return driverauth.Handshaker(nil, &driverauth.HandshakeOptions{Authenticator: a})
		}
	}
	p := pool.New(pool.Config{Addr: addr, Handshaker: hs, ConnectTimeout: 10 * time.Second})
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := p.Get(ctx)
	if err != nil {
		t.Fatalf("connecting as %q: %v", user, err)
	}
	return &rawClient{p: p, c: c}
}

// run sends body with seqs and returns the reply body.
func (rc *rawClient) run(t *testing.T, body bsoncore.Document, seqs ...wire.Sequence) bsoncore.Document {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	reply, err := rc.c.RoundTrip(ctx, pool.Msg{RequestID: 1, Body: body, Sequences: seqs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ParseMsg(reply)
	if err != nil {
		t.Fatal(err)
	}
	return m.Body
}

func replyCode(reply bsoncore.Document) mongoerr.Code {
	if e := outcome.ErrOf(reply); e != nil {
		return e.Code
	}
	return 0
}

func mustMarshal(t *testing.T, v any) bsoncore.Document {
	t.Helper()
	b, err := bson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
