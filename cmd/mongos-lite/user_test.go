package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/auth"
)

func TestUserAdd(t *testing.T) {
	const x509User = "CN=app,OU=Apps,O=Example"
	path := filepath.Join(t.TempDir(), "users.yaml")
	steps := []struct {
		name    string
		args    []string
		stdin   string
		wantOut string
		wantErr string
		users   int // users in the file afterwards
	}{
		{"root with a bare role on its database", []string{"--user", "admin", "--role", "root"}, "s3cret\n",
			"added admin@admin (roles: root@admin) to " + path, "", 1},
		{"several roles on other databases", []string{"--user", "app", "--db", "test", "--role", "readWrite", "--role", "read@reports"}, "pw\r\n",
			"added app@test (roles: readWrite@test, read@reports)", "", 2},
		{"no --password-stdin", []string{"--user", "x", "--role", "root"}, "pw",
			"", "pass --password-stdin", 2},
		{"empty password", []string{"--user", "x", "--password-stdin"}, "\n", "", "empty password", 2},
		{"unknown role", []string{"--user", "x", "--role", "nope@admin", "--password-stdin"}, "pw", "", "no role named nope@admin", 2},
		{"malformed role", []string{"--user", "x", "--role", "@admin", "--password-stdin"}, "pw", "", "want role or role@db", 2},
		{"duplicate", []string{"--user", "admin", "--password-stdin"}, "pw", "", "user admin@admin already exists", 2},
		{"MONGODB-X509 user on $external, no password", []string{"--user", x509User, "--db", "$external", "--role", "readWrite@test"}, "",
			"added " + x509User + "@$external (roles: readWrite@test)", "", 3},
		{"a password for $external", []string{"--user", "CN=other", "--db", "$external", "--password-stdin"}, "pw",
			"", "users on $external have no password", 3},
	}
	for _, s := range steps {
		app := newApp()
		var out bytes.Buffer
		app.Writer, app.ErrWriter, app.Reader = &out, &out, strings.NewReader(s.stdin)
		args := append([]string{"mongos-lite", "user", "add", "--users-file", path}, s.args...)
		if s.wantErr == "" && !strings.Contains(strings.Join(args, " "), "--password-stdin") && !slices.Contains(args, "$external") {
			args = append(args, "--password-stdin")
		}
		err := app.Run(args)
		switch {
		case s.wantErr == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
			t.Fatalf("%s: got %v, want %q", s.name, err, s.wantErr)
		case !strings.Contains(out.String(), s.wantOut):
			t.Fatalf("%s: output %q, want %q", s.name, out.String(), s.wantOut)
		}
		us, err := auth.LoadUsers(path)
		if err != nil || us.Len() != s.users {
			t.Fatalf("%s: %v users (%v), want %d", s.name, us.Len(), err, s.users)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("s3cret")) {
		t.Fatal("the users file holds a password")
	}
	us, _ := auth.LoadUsers(path)
	if u := us.Lookup("app", "test"); u == nil || !u.Can("insert", auth.NSResource("test", "c")) || u.Can("insert", auth.NSResource("reports", "c")) {
		t.Fatalf("app@test has the wrong privileges: %+v", u)
	}
	if u := us.Lookup(x509User, "$external"); u == nil || !u.Can("insert", auth.NSResource("test", "c")) || len(u.Mechanisms()) != 0 {
		t.Fatalf("%s@$external: %+v", x509User, u)
	}
}
