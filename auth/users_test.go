package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestNewCredentials checks the derivation against the SCRAM definitions computed here
// independently (PBKDF2, HMAC "Client Key"/"Server Key", H(ClientKey)), with mongod's salt
// lengths and iteration counts.
func TestNewCredentials(t *testing.T) {
	creds, err := NewCredentials("alice", "pass word")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cred     *ScramCredential
		h        func() hash.Hash
		password string
		saltLen  int
		iters    int
	}{
		{creds.SHA1, sha1.New, passwordDigest("alice", "pass word"), 16, 10000},
		{creds.SHA256, sha256.New, "pass word", 28, 15000},
	}
	for _, tt := range tests {
		salt, err := base64.StdEncoding.DecodeString(tt.cred.Salt)
		if err != nil || len(salt) != tt.saltLen || tt.cred.IterationCount != tt.iters {
			t.Fatalf("salt %q (%v) iterations %d", tt.cred.Salt, err, tt.cred.IterationCount)
		}
		salted, err := pbkdf2.Key(tt.h, tt.password, salt, tt.iters, tt.h().Size())
		if err != nil {
			t.Fatal(err)
		}
		mac := func(key []byte, msg string) []byte {
			m := hmac.New(tt.h, key)
			m.Write([]byte(msg))
			return m.Sum(nil)
		}
		h := tt.h()
		h.Write(mac(salted, "Client Key"))
		enc := base64.StdEncoding.EncodeToString
		if got, want := tt.cred.StoredKey, enc(h.Sum(nil)); got != want {
			t.Errorf("storedKey %s, want %s", got, want)
		}
		if got, want := tt.cred.ServerKey, enc(mac(salted, "Server Key")); got != want {
			t.Errorf("serverKey %s, want %s", got, want)
		}
	}
	if a, b := creds.SHA256.Salt, mustCreds(t).SHA256.Salt; a == b {
		t.Fatal("two derivations share a salt")
	}
	if _, err := NewCredentials("alice", ""); err == nil {
		t.Fatal("empty password accepted")
	}
	if _, err := NewCredentials("alice", "bad\u0007control"); err == nil {
		t.Fatal("a password SASLprep refuses was accepted")
	}
}

func mustCreds(t *testing.T) Credentials {
	c, err := NewCredentials("alice", "pass word")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseUsersErrors(t *testing.T) {
	good := mustCreds(t)
	cred := func(c *ScramCredential) string {
		return "{iterationCount: " + strconv.Itoa(c.IterationCount) + ", salt: \"" + c.Salt + "\", storedKey: \"" + c.StoredKey + "\", serverKey: \"" + c.ServerKey + "\"}"
	}
	sha256 := cred(good.SHA256)
	user := func(name, db, roles, creds string) string {
		return "- {user: " + name + ", db: " + db + ", roles: " + roles + ", credentials: " + creds + "}\n"
	}
	tests := []struct {
		name    string
		file    string
		wantErr string // "" loads
	}{
		{"valid", "users:\n" + user("a", "admin", "[{role: root, db: admin}]", "{SCRAM-SHA-256: "+sha256+"}"), ""},
		{"empty file", "", ""},
		{"no credentials", "users:\n" + user("a", "admin", "[]", "{}"), "no SCRAM credentials"},
		{"unknown field", "users:\n" + user("a", "admin", "[]", "{SCRAM-SHA-256: "+sha256+"}") + "bogus: 1\n", "field bogus not found"},
		{"misspelt mechanism", "users:\n" + user("a", "admin", "[]", "{SCRAM-SHA256: "+sha256+"}"), "not found"},
		{"bad storedKey", "users:\n" + user("a", "admin", "[]", "{SCRAM-SHA-256: "+strings.Replace(sha256, good.SHA256.StoredKey, "AAAA", 1)+"}"), "storedKey is not 32 base64 bytes"},
		{"sha-1 key in the sha-256 slot", "users:\n" + user("a", "admin", "[]", "{SCRAM-SHA-256: "+cred(good.SHA1)+"}"), "storedKey is not 32 base64 bytes"},
		{"too few iterations", "users:\n" + user("a", "admin", "[]", "{SCRAM-SHA-256: "+strings.Replace(sha256, "iterationCount: 15000", "iterationCount: 100", 1)+"}"), "iterationCount 100 is below 4096"},
		{"unknown role", "users:\n" + user("a", "admin", "[{role: nope, db: admin}]", "{SCRAM-SHA-256: "+sha256+"}"), "no role named nope@admin"},
		{"twice", "users:\n" + user("a", "admin", "[]", "{SCRAM-SHA-256: "+sha256+"}") + user("a", "admin", "[]", "{SCRAM-SHA-256: "+sha256+"}"), "defined twice"},
		{"no db", "users:\n" + user("a", "\"\"", "[]", "{SCRAM-SHA-256: "+sha256+"}"), "needs user and db"},
		{"internal user", "users:\n" + user("__system", "local", "[]", "{SCRAM-SHA-256: "+sha256+"}"), "is the internal user"},
		{"custom role shadowing a built-in", "roles:\n- {role: read, db: test}\n", "role read@test already exists"},
		{"not YAML", "users: [", "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUsers([]byte(tt.file))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestAddUser(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yaml")
	entry := func(name string, roles ...RoleRef) UserEntry {
		c, err := NewCredentials(name, "pw-"+name)
		if err != nil {
			t.Fatal(err)
		}
		return UserEntry{User: name, DB: "admin", Roles: roles, Credentials: c}
	}
	steps := []struct {
		name    string
		entry   UserEntry
		wantErr string
		users   int // users in the file afterwards
	}{
		{"creates the file", entry("alice", RoleRef{"root", "admin"}), "", 1},
		{"appends", entry("bob", RoleRef{"read", "test"}), "", 2},
		{"refuses a duplicate", entry("alice"), "user alice@admin already exists", 2},
		{"refuses an unknown role", entry("carol", RoleRef{"nope", "admin"}), "no role named nope@admin", 2},
	}
	for _, s := range steps {
		err := AddUser(path, s.entry)
		if s.wantErr == "" && err != nil || s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
			t.Fatalf("%s: got %v, want %q", s.name, err, s.wantErr)
		}
		us, err := LoadUsers(path)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if us.Len() != s.users {
			t.Fatalf("%s: %d users, want %d", s.name, us.Len(), s.users)
		}
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "pw-alice") {
		t.Fatal("the file holds a password")
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Fatalf("temporary files left behind: %v", left)
	}
	// A login against what was written.
	us, _ := LoadUsers(path)
	if err := login(t, newAuth(t, us).NewConversation("127.0.0.1:1"), MechanismSHA256, "bob", "pw-bob", true); err != nil {
		t.Fatal(err)
	}
}

func TestUserUID(t *testing.T) {
	creds := mustCreds(t)
	tests := []struct {
		name    string
		wantErr string
	}{
		{"alice", ""},
		{strings.Repeat("u", 9993), ""}, // "user@admin" is 9,999 bytes
		{strings.Repeat("u", 9994), "Username too long to use with logical sessions"},
	}
	for _, tt := range tests {
		u, err := newUser(tt.name, "admin", nil, creds, nil)
		if err != nil {
			t.Fatal(err)
		}
		uid, err := u.UID()
		if tt.wantErr != "" {
			if codeOf(err) != mongoerr.BadValue || msgOf(err) != tt.wantErr {
				t.Fatalf("%d bytes: got %v", len(tt.name), err)
			}
			continue
		}
		if err != nil || uid != sha256.Sum256([]byte(tt.name+"@admin")) {
			t.Fatalf("%d bytes: uid %x, %v", len(tt.name), uid, err)
		}
	}
}
