package auth

import (
	"os"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The internal user: cluster members authenticate as __system@local with the key file's contents
// as password, and hold every privilege (impersonate among them, so shards accept the uids a
// router forwards).
const (
	internalUserName = "__system"
	internalUserDB   = "local"
)

// Key lengths mongod accepts (security_key.cpp), counted without whitespace.
const (
	minKeyLength = 6
	maxKeyLength = 1024
)

// ReadKeyFile reads a key file by mongod's rules (security_file.cpp, security_key.cpp): the file
// must not be readable, writable or executable by group or others; whitespace is ignored; every
// other character must be of the base64 alphabet (with '='); what remains is 6 to 1024
// characters. The result is the key: the internal user's password.
func ReadKeyFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", mongoerr.New(mongoerr.InvalidPath, "Error reading file %s: %s", path, errText(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", mongoerr.New(mongoerr.InvalidPath, "permissions on %s are too open", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", mongoerr.New(mongoerr.InvalidPath, "error opening file: %s: %s", path, errText(err))
	}
	key := make([]byte, 0, len(data))
	for _, b := range data {
		switch {
		case b >= '\t' && b <= '\r' || b == ' ':
			continue
		case b >= 'A' && b <= 'Z', b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '+', b == '/', b == '=':
			key = append(key, b)
		default:
			return "", mongoerr.New(mongoerr.UnsupportedFormat, "invalid char in key file %s: %c", path, b)
		}
	}
	if len(key) < minKeyLength || len(key) > maxKeyLength {
		return "", mongoerr.New(mongoerr.BadValue, "security key in %s has length %d, must be between %d and %d chars",
			path, len(key), minKeyLength, maxKeyLength)
	}
	return string(key), nil
}

// errText is an os error's reason without the operation and path Go prefixes (mongod prints
// strerror).
func errText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// InternalUser is __system@local with key as password, credentials derived as mongod derives
// them from its key file: SCRAM-SHA-1 from the password digest of ("__system", key), SCRAM-SHA-256
// from the SASLprep'd key. A client authenticates with Username "__system", AuthSource "local"
// and the key as Password (drivers compute the digest themselves).
func InternalUser(key string) (*User, error) {
	if len(key) < minKeyLength || len(key) > maxKeyLength {
		return nil, mongoerr.New(mongoerr.BadValue, "security key has length %d, must be between %d and %d chars",
			len(key), minKeyLength, maxKeyLength)
	}
	creds, err := NewCredentials(internalUserName, key)
	if err != nil {
		return nil, err
	}
	roles := []RoleRef{{Role: internalUserName, DB: "admin"}}
	u, err := newUser(internalUserName, internalUserDB, roles, creds, systemPrivileges)
	if err != nil {
		return nil, err
	}
	u.roleNames, u.audit = roles, auditMetadata(internalUserName, internalUserDB, roles)
	return u, nil
}
