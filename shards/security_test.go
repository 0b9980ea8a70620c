package shards

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/testcerts"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// tryPing opens a shard with mutate applied and pings its primary once; the error is what a
// router would get.
func tryPing(t *testing.T, rs *memshard.ReplicaSet, mutate func(*Config)) error {
	t.Helper()
	s := openShard(t, rs.Hosts(), func(cfg *Config) {
		cfg.ServerSelectionTimeout = 2 * time.Second
		mutate(cfg)
	})
	msg := command(0, insertDoc(1))
	reply, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
	if err != nil {
		return err
	}
	body := replyBody(t, reply)
	if e := outcome.ErrOf(bsoncore.Document(body)); e != nil {
		return e
	}
	return nil
}

func TestShardTLS(t *testing.T) {
	certs := testcerts.New(t)
	requireCert := certs.ServerConfig()
	requireCert.ClientAuth = tls.RequireAndVerifyClientCert
	untrusted := testcerts.New(t) // another CA: neither side trusts the other's certificates
	for _, tc := range []struct {
		name   string
		server *tls.Config
		client *tls.Config
		ok     bool
	}{
		{"tls", certs.ServerConfig(), certs.ClientConfig(false), true},
		{"client certificate", requireCert, certs.ClientConfig(true), true},
		{"missing client certificate", requireCert, certs.ClientConfig(false), false},
		{"plain client, TLS shard", certs.ServerConfig(), nil, false},
		{"TLS client, plain shard", nil, certs.ClientConfig(false), false},
		{"untrusted shard certificate", certs.ServerConfig(), untrusted.ClientConfig(false), false},
		{"untrusted client certificate", requireCert, untrusted.ClientConfig(true), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []memshard.Option
			if tc.server != nil {
				opts = append(opts, memshard.WithTLS(tc.server))
			}
			rs := startSet(t, opts...)
			err := tryPing(t, rs, func(cfg *Config) { cfg.TLS = tc.client })
			if tc.ok && err != nil {
				t.Fatalf("insert: %v", err)
			}
			if !tc.ok && codeOf(err) != mongoerr.FailedToSatisfyReadPreference && codeOf(err) != mongoerr.HostUnreachable {
				t.Fatalf("insert: %v (code %d), want no member reachable", err, codeOf(err))
			}
		})
	}
}

// usersFile writes one readWrite user and a root user and loads them.
func usersFile(t *testing.T) *auth.Users {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	for _, u := range []struct{ name, role, roleDB string }{{"app", "readWrite", "test"}, {"boss", "root", "admin"}} {
		creds, err := auth.NewCredentials(u.name, u.name+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := auth.AddUser(path, auth.UserEntry{User: u.name, DB: "admin",
			Roles: []auth.RoleRef{{Role: u.role, DB: u.roleDB}}, Credentials: creds}); err != nil {
			t.Fatal(err)
		}
	}
	users, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// keyFile writes a key file mongod would accept and returns its path and the key.
func keyFile(t *testing.T, contents string) (path, key string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "keyfile")
	if err := os.WriteFile(path, []byte(contents), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := auth.ReadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, key
}

func TestShardAuthentication(t *testing.T) {
	// Whitespace in the file is not part of the key: both sides read it by mongod's rules.
	path, key := keyFile(t, "c2VjcmV0LWtl\neS1mb3ItdGVzdHM=\n")
	_, otherKey := keyFile(t, "YW5vdGhlci1rZXk=")
	rs := startSet(t, memshard.WithUsers(usersFile(t)), memshard.WithKeyFile(path))
	internal := InternalCredential(key)
	internalSHA1 := internal
	internalSHA1.Mechanism = auth.MechanismSHA1
	for _, tc := range []struct {
		name string
		cred *Credential
		code mongoerr.Code // 0: the insert succeeds
	}{
		{"user, negotiated", &Credential{Username: "app", Password: "app-pw"}, 0},
		{"user, SCRAM-SHA-1", &Credential{Username: "app", Password: "app-pw", Mechanism: auth.MechanismSHA1}, 0},
		{"user, SCRAM-SHA-256", &Credential{Username: "app", Password: "app-pw", Source: "admin", Mechanism: auth.MechanismSHA256}, 0},
		{"key file", &internal, 0},
		{"key file, SCRAM-SHA-1", &internalSHA1, 0},
		{"no credentials", nil, mongoerr.Unauthorized},
		{"wrong password", &Credential{Username: "app", Password: "nope"}, mongoerr.HostUnreachable},
		{"wrong key", func() *Credential { c := InternalCredential(otherKey); return &c }(), mongoerr.HostUnreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tryPing(t, rs, func(cfg *Config) { cfg.Auth = tc.cred })
			if got := codeOf(err); got != tc.code {
				t.Fatalf("insert: %v (code %d), want code %d", err, got, tc.code)
			}
			if tc.code == mongoerr.HostUnreachable && !strings.Contains(err.Error(), "Authentication failed") {
				t.Fatalf("error %q does not say authentication failed", err)
			}
		})
	}
}

// TestShardInternalUserForwardsUIDs: with the key file the router may send lsids carrying its
// clients' uids (impersonate); a plain readWrite user may not.
func TestShardInternalUserForwardsUIDs(t *testing.T) {
	path, key := keyFile(t, "Zm9yd2FyZGVkLXVpZHM=")
	rs := startSet(t, memshard.WithUsers(usersFile(t)), memshard.WithKeyFile(path))
	uid, err := sessionid.UserDigest("alice", "test")
	if err != nil {
		t.Fatal(err)
	}
	lsid := sessionid.NewID(uid)
	body := append(insertDoc(2), bson.E{Key: "lsid", Value: bson.Raw(lsid.AppendDoc(nil))})
	for _, tc := range []struct {
		name string
		cred Credential
		code mongoerr.Code
	}{
		{"internal user", InternalCredential(key), 0},
		{"readWrite user", Credential{Username: "app", Password: "app-pw"}, mongoerr.Unauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openShard(t, rs.Hosts(), func(cfg *Config) { cfg.Auth = &tc.cred })
			msg := command(0, body)
			reply, _, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), msg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got mongoerr.Code
			if e := outcome.ErrOf(bsoncore.Document(replyBody(t, reply))); e != nil {
				got = e.Code
			}
			if got != tc.code {
				t.Fatalf("insert with a forwarded uid: code %d, want %d", got, tc.code)
			}
		})
	}
	if sessions := rs.Member(rs.Primary()).Sessions(); len(sessions) != 1 || sessions[0] != lsid {
		t.Fatalf("primary's sessions %v, want only %v", sessions, lsid)
	}
}

func TestShardCredentialRefused(t *testing.T) {
	for _, c := range []Credential{{Username: "app"}, {Password: "pw"}} {
		_, err := Open(Config{Name: "s1", SetName: "rs0", Hosts: []string{"127.0.0.1:1"}, Auth: &c})
		if err == nil || !strings.Contains(err.Error(), "username and a password") {
			t.Fatalf("Open with %+v: %v, want refused", c, err)
		}
	}
	_, err := Open(Config{Name: "s1", SetName: "rs0", Hosts: []string{"127.0.0.1:1"},
		Auth: &Credential{Username: "app", Password: "pw", Mechanism: "PLAINTEXT"}})
	if err == nil || !strings.Contains(err.Error(), "PLAINTEXT") {
		t.Fatalf("Open with an unknown mechanism: %v, want refused", err)
	}
}
