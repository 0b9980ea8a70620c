package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestReadKeyFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		content  string
		mode     os.FileMode
		want     string
		wantCode mongoerr.Code
		wantMsg  string // substring; "F" stands for the path
	}{
		{"plain", "c2VjcmV0a2V5", 0o600, "c2VjcmV0a2V5", 0, ""},
		{"whitespace and padding", " abc+/\n\tdef==\r\n", 0o400, "abc+/def==", 0, ""},
		{"six characters", "abcdef", 0o600, "abcdef", 0, ""},
		{"1024 characters", strings.Repeat("a", 1024) + "\n", 0o600, strings.Repeat("a", 1024), 0, ""},
		{"group readable", "abcdefgh", 0o640, "", mongoerr.InvalidPath, "permissions on F are too open"},
		{"world readable", "abcdefgh", 0o604, "", mongoerr.InvalidPath, "permissions on F are too open"},
		{"invalid character", "abc-defgh", 0o600, "", mongoerr.UnsupportedFormat, "invalid char in key file F: -"},
		{"too short", "abc de", 0o600, "", mongoerr.BadValue, "security key in F has length 5, must be between 6 and 1024 chars"},
		{"too long", strings.Repeat("a", 1025), 0o600, "", mongoerr.BadValue, "has length 1025, must be between 6 and 1024 chars"},
		{"empty", "", 0o600, "", mongoerr.BadValue, "has length 0"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "key"+string(rune('a'+i)))
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			key, err := ReadKeyFile(path)
			if codeOf(err) != tt.wantCode || !strings.Contains(msgOf(err), strings.ReplaceAll(tt.wantMsg, "F", path)) {
				t.Fatalf("got %v, want %d %q", err, tt.wantCode, tt.wantMsg)
			}
			if key != tt.want {
				t.Fatalf("key %q, want %q", key, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(dir, "nope")
		_, err := ReadKeyFile(path)
		if codeOf(err) != mongoerr.InvalidPath || msgOf(err) != "Error reading file "+path+": no such file or directory" {
			t.Fatalf("got %v", err)
		}
	})
}

// TestInternalUserLogin: the key is the password, as drivers send it for __system@local with
// either mechanism (the SCRAM-SHA-1 digest is computed by the client).
func TestInternalUserLogin(t *testing.T) {
	const key = "c2VjcmV0a2V5Zm9ydGVzdHM="
	internal, err := InternalUser(key)
	if err != nil {
		t.Fatal(err)
	}
	if !internal.Can(ActionImpersonate, ClusterResource()) || internal.FullName() != "__system@local" {
		t.Fatalf("internal user %s without impersonate", internal.FullName())
	}
	a := NewAuthenticator(nil, internal, newAuth(t, nil).log)
	for _, mech := range []string{MechanismSHA256, MechanismSHA1} {
		for _, tt := range []struct {
			password string
			ok       bool
		}{{key, true}, {key + "x", false}} {
			c := a.NewConversation("127.0.0.1:1")
			cc := clientFor(t, mech, "__system", tt.password)
			first, _ := cc.Step("")
			out, err := c.SaslStart(nil, "local", saslStartCmd(mech, []byte(first), true))
			if err != nil {
				t.Fatal(err)
			}
			final, _ := cc.Step(string(replyOf(t, out).payload))
			_, err = c.SaslContinue(nil, saslContinueCmd([]byte(final)))
			if (err == nil) != tt.ok {
				t.Fatalf("%s with password ok=%v: %v", mech, tt.ok, err)
			}
		}
	}
	if _, err := InternalUser("short"); codeOf(err) != mongoerr.BadValue {
		t.Fatalf("short key: %v", err)
	}
}
