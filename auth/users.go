// Package auth is client authentication and authorization as mongod does them: users and roles
// from a YAML users file with salted SCRAM credentials, the server side of SCRAM-SHA-256 and
// SCRAM-SHA-1 conversations (saslStart, saslContinue, speculative authentication in hello),
// roles resolved to privileges and the privileges each command needs, and the key file whose
// contents are the password of the internal user __system@local.
package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// RoleRef names a role held by a user or inherited by a role: {role, db}.
type RoleRef struct {
	Role string `yaml:"role"`
	DB   string `yaml:"db"`
}

func (r RoleRef) String() string { return roleKey(r.Role, r.DB) }

// UserEntry is one user of the users file.
type UserEntry struct {
	User        string      `yaml:"user"`
	DB          string      `yaml:"db"`
	Roles       []RoleRef   `yaml:"roles"`
	Credentials Credentials `yaml:"credentials,omitempty"`
}

// File is the users file: users and custom roles.
type File struct {
	Users []UserEntry `yaml:"users"`
	Roles []RoleDef   `yaml:"roles,omitempty"`
}

// User is an authenticated principal: its credentials and the privileges of its roles.
type User struct {
	Name  string
	DB    string
	Roles []RoleRef

	creds  map[string]scram.StoredCredentials // by mechanism
	privs  privileges
	uid    sessionid.UID
	uidErr error
	audit  bsoncore.Document // what a shard is told of this user ($audit)
	// roleNames are its roles and those they inherit (connstatus.go)
	roleNames []RoleRef
}

// FullName is user@db, as mongod prints a user.
func (u *User) FullName() string { return u.Name + "@" + u.DB }

// UID is the user's logical session digest SHA-256("user@db"); a user name of 10,000 bytes or
// more has none: BadValue "Username too long to use with logical sessions", as in mongod.
func (u *User) UID() (sessionid.UID, error) { return u.uid, u.uidErr }

// Can reports whether the user's roles grant action on r.
func (u *User) Can(action string, r Resource) bool { return u.privs.can(action, r) }

// Mechanisms lists the SASL mechanisms the user has credentials for, in mongod's order.
func (u *User) Mechanisms() []string {
	var out []string
	for _, m := range mechanisms {
		if _, ok := u.creds[m]; ok {
			out = append(out, m)
		}
	}
	return out
}

func newUser(name, db string, roles []RoleRef, creds Credentials, privs privileges) (*User, error) {
	u := &User{Name: name, DB: db, Roles: roles, privs: privs, creds: map[string]scram.StoredCredentials{}}
	for _, c := range []struct {
		mech string
		h    scram.HashGeneratorFcn
		cred *ScramCredential
	}{{MechanismSHA1, scram.SHA1, creds.SHA1}, {MechanismSHA256, scram.SHA256, creds.SHA256}} {
		if c.cred == nil {
			continue
		}
		sc, err := c.cred.stored(c.h)
		if err != nil {
			return nil, fmt.Errorf("%s credentials: %w", c.mech, err)
		}
		u.creds[c.mech] = sc
	}
	// $external users authenticate outside the file (MONGODB-X509): no credential of theirs could
	// ever be used, as mongod refuses SCRAM on $external.
	switch {
	case db == ExternalDB && len(u.creds) > 0:
		return nil, errors.New("users on $external authenticate with MONGODB-X509 and have no SCRAM credentials")
	case db != ExternalDB && len(u.creds) == 0:
		return nil, errors.New("no SCRAM credentials")
	}
	u.uid, u.uidErr = sessionid.UserDigest(name, db)
	return u, nil
}

// Users is the set of users a router or memshard authenticates against. It is immutable once
// loaded, so connections share it without locks.
type Users struct {
	byName map[string]*User // by user@db
}

// LoadUsers reads a users file.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	us, err := ParseUsers(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return us, nil
}

// ParseUsers parses and validates the contents of a users file: every user has valid SCRAM
// credentials (none on $external) and roles that exist, every custom role's privileges name
// known actions.
func ParseUsers(data []byte) (*Users, error) {
	f, err := parseFile(data)
	if err != nil {
		return nil, err
	}
	custom := map[string]*RoleDef{}
	for i := range f.Roles {
		r := &f.Roles[i]
		key := roleKey(r.Role, r.DB)
		if r.Role == "" || r.DB == "" {
			return nil, fmt.Errorf("role %d: role and db are required", i)
		}
		if _, builtin := builtinRole(r.Role, r.DB); builtin || custom[key] != nil {
			return nil, fmt.Errorf("role %s already exists", key)
		}
		custom[key] = r
	}
	us := &Users{byName: map[string]*User{}}
	for _, e := range f.Users {
		if e.User == "" || e.DB == "" {
			return nil, errors.New("a user needs user and db")
		}
		key := e.User + "@" + e.DB
		if us.byName[key] != nil {
			return nil, fmt.Errorf("user %s is defined twice", key)
		}
		if key == internalUserName+"@"+internalUserDB {
			return nil, fmt.Errorf("user %s is the internal user: its password is the key file", key)
		}
		privs, reached, err := resolveRoles(e.Roles, custom)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", key, err)
		}
		u, err := newUser(e.User, e.DB, e.Roles, e.Credentials, privs)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", key, err)
		}
		u.roleNames, u.audit = reached, auditMetadata(u.Name, u.DB, reached)
		us.byName[key] = u
	}
	return us, nil
}

// parseFile decodes a users file strictly: a misspelt field is an error, not a silently
// missing credential or role.
func parseFile(data []byte) (File, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return File{}, err
	}
	return f, nil
}

// Lookup finds user@db; nil if there is no such user.
func (us *Users) Lookup(user, db string) *User {
	if us == nil {
		return nil
	}
	return us.byName[user+"@"+db]
}

// Len is the number of users.
func (us *Users) Len() int {
	if us == nil {
		return 0
	}
	return len(us.byName)
}

// AddUser adds an entry to the users file at path (created if missing) and writes it back
// atomically with mode 0600. The result must load: roles must exist; an existing user@db is an
// error, as createUser's.
func AddUser(path string, e UserEntry) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := parseFile(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if slices.ContainsFunc(f.Users, func(u UserEntry) bool { return u.User == e.User && u.DB == e.DB }) {
		return fmt.Errorf("user %s@%s already exists", e.User, e.DB)
	}
	f.Users = append(f.Users, e)
	out, err := yaml.Marshal(&f)
	if err != nil {
		return err
	}
	if _, err := ParseUsers(out); err != nil {
		return err
	}
	return writeFileAtomic(path, out, 0o600)
}

// writeFileAtomic replaces path with data: a reader sees the old file or the new one, never a
// part, and a crash leaves at most a stray temporary file.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
