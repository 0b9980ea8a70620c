package pool

import (
	"crypto/tls"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	driverauth "go.mongodb.org/mongo-driver/v2/x/mongo/driver/auth"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/deadline"
	"github.com/mongos-lite/mongos-lite/internal/testcerts"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// scram is the handshaker package shards makes for a user of the admin database.
func scram(t *testing.T, user, password string) func() driver.Handshaker {
	t.Helper()
	a, err := driverauth.CreateAuthenticator("",
		&driverauth.Cred{Source: "admin", Username: user, Password: password, PasswordSet: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := &driverauth.HandshakeOptions{AppName: appName, Authenticator: a, DBUser: "admin." + user}
	return func() driver.Handshaker { return driverauth.Handshaker(nil, opts) }
}

// withUser makes a member whose only user is app/app-pw with readWrite on test.
func withUser(t *testing.T) memshard.Option {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	creds, err := auth.NewCredentials("app", "app-pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.AddUser(path, auth.UserEntry{User: "app", DB: "admin",
		Roles: []auth.RoleRef{{Role: "readWrite", DB: "test"}}, Credentials: creds}); err != nil {
		t.Fatal(err)
	}
	users, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	return memshard.WithUsers(users)
}

// TestDialFailures: a connection that cannot be made, secured or authenticated fails Get, counts
// as a connection failure, and gives its slot back.
func TestDialFailures(t *testing.T) {
	certs := testcerts.New(t)
	plain := startSet(t)
	secure := startSet(t, memshard.WithTLS(certs.ServerConfig()))
	authSet := startSet(t, withUser(t))
	muteMember := startFake(t, mute)
	for _, tc := range []struct {
		name  string
		cfg   Config
		check func(error) bool // nil: any error
	}{
		{name: "refused", cfg: Config{Addr: refusedAddr(t)},
			check: func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		{name: "no hello reply", cfg: Config{Addr: muteMember.addr(), ConnectTimeout: 100 * time.Millisecond},
			check: isTimeoutOrDeadline},
		{name: "TLS client, plain member", cfg: Config{Addr: plain.Hosts()[0], TLS: certs.ClientConfig(false)}},
		{name: "plain client, TLS member", cfg: Config{Addr: secure.Hosts()[0]}},
		{name: "untrusted member certificate", cfg: Config{Addr: secure.Hosts()[0], TLS: testcerts.New(t).ClientConfig(false)},
			check: func(err error) bool { return strings.Contains(err.Error(), "certificate") }},
		{name: "wrong password", cfg: Config{Addr: authSet.Hosts()[0], Handshaker: scram(t, "app", "nope")},
			check: func(err error) bool { return strings.Contains(err.Error(), "Authentication failed") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.MaxSize = 1
			if tc.cfg.ConnectTimeout == 0 {
				tc.cfg.ConnectTimeout = 20 * time.Second
			}
			p := newPool(t, tc.cfg)
			for range 2 { // with MaxSize 1, the second Get finds the first's slot given back
				c, err := p.Get(testCtx(t))
				if err == nil {
					p.Put(c)
					t.Fatal("Get succeeded")
				}
				if tc.check != nil && !tc.check(err) {
					t.Fatalf("Get: %v", err)
				}
			}
			checkStats(t, p, Stats{FailedConnection: 2}) // the driver's name for a failed handshake, timed out or not
			if p.Describer().Stale() {
				t.Fatal("a failed dial made the pool stale")
			}
		})
	}
}

// TestDialWithinContext: the caller's deadline bounds a handshake too, when it is shorter
// than ConnectTimeout.
func TestDialWithinContext(t *testing.T) {
	f := startFake(t, mute)
	p := newPool(t, Config{Addr: f.addr(), ConnectTimeout: time.Minute})
	ctx := deadline.After(100 * time.Millisecond)
	defer ctx.Release()
	start := time.Now()
	if _, err := p.Get(ctx); err == nil {
		t.Fatal("Get succeeded against a member that does not answer hello")
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Get took %v with a 100ms deadline", d)
	}
	if s := p.Stats(); s.Open != 0 || s.InUse != 0 || s.FailedConnection+s.FailedTimeout != 1 {
		t.Fatalf("Stats = %+v, want one failure and nothing open", s)
	}
}

func TestTLS(t *testing.T) {
	certs := testcerts.New(t)
	rs := startSet(t, memshard.WithTLS(certs.ServerConfig()))
	clientTLS := certs.ClientConfig(true)
	p := newPool(t, Config{Addr: rs.Hosts()[0], TLS: clientTLS})
	c := mustGet(t, p)
	defer p.Put(c)
	roundTrip(t, c)
	if _, ok := c.nc.(*tls.Conn); !ok {
		t.Fatalf("connection is a %T, want *tls.Conn", c.nc)
	}
	if clientTLS.ServerName != "" {
		t.Fatalf("the pool wrote ServerName %q into the caller's TLS config", clientTLS.ServerName)
	}
}

// TestAuthentication: the handshake authenticates the connection, so commands that need a user
// run on it; without credentials they are refused.
func TestAuthentication(t *testing.T) {
	rs := startSet(t, withUser(t))
	for _, tc := range []struct {
		name       string
		handshaker func() driver.Handshaker
		ok         float64
	}{
		{"authenticated", scram(t, "app", "app-pw"), 1},
		{"hello only", helloOnly, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, Config{Addr: rs.Hosts()[0], Handshaker: tc.handshaker})
			c := mustGet(t, p)
			defer p.Put(c)
			msg, reqID := command(t, 0, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}})
			reply, err := c.RoundTrip(testCtx(t), msg, nil)
			if err != nil {
				t.Fatalf("RoundTrip: %v", err)
			}
			body, err := replyBody(reply, reqID)
			if err != nil {
				t.Fatal(err)
			}
			if ok, _ := body.Lookup("ok").AsFloat64OK(); ok != tc.ok {
				t.Fatalf("find: %s, want ok: %v", body, tc.ok)
			}
		})
	}
}
