package shards

import (
	"cmp"
	"errors"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	driverauth "go.mongodb.org/mongo-driver/v2/x/mongo/driver/auth"
)

// Internal authentication, as mongos does it with --keyFile: the user __system@local whose
// password is the key file's contents (auth.ReadKeyFile reads it by mongod's rules).
const (
	InternalUser   = "__system"
	InternalSource = "local"
)

// Credential is who the router authenticates as on every pooled connection to a shard's members
// (the driver runs the conversation in each connection's handshake; monitoring connections only
// say hello, which needs no authentication).
type Credential struct {
	Username string
	Password string
	// Source is the database that holds the user; empty means "admin".
	Source string
	// Mechanism is SCRAM-SHA-256 or SCRAM-SHA-1; empty negotiates with saslSupportedMechs
	// (SCRAM-SHA-256 when the member offers it), as mongod's internal client does.
	Mechanism string
}

// InternalCredential is the key file's internal user: a shard that runs with the same key file
// accepts it with every privilege, impersonate among them, so it honours the uids the router
// forwards in lsids.
func InternalCredential(key string) Credential {
	return Credential{Username: InternalUser, Password: key, Source: InternalSource}
}

// fullName is "user@db" of the credential, empty for none.
func (c *Credential) fullName() string {
	if c == nil {
		return ""
	}
	return c.Username + "@" + cmp.Or(c.Source, "admin")
}

// handshaker makes, per new connection, the handshake the driver would run: hello with the
// router's application name, then the credential's authentication (speculative when the member
// supports it, with mechanism negotiation when none is named).
func (cfg *Config) handshaker() (func() driver.Handshaker, error) {
	c := cfg.Auth
	if c == nil {
		opts := &driverauth.HandshakeOptions{AppName: AppName} // hello only
		return func() driver.Handshaker { return driverauth.Handshaker(nil, opts) }, nil
	}
	if c.Username == "" || c.Password == "" {
		return nil, errors.New("authentication needs a username and a password")
	}
	source := c.Source
	if source == "" {
		source = "admin"
	}
	authenticator, err := driverauth.CreateAuthenticator(c.Mechanism,
		&driverauth.Cred{Source: source, Username: c.Username, Password: c.Password, PasswordSet: true}, nil)
	if err != nil {
		return nil, err
	}
	opts := &driverauth.HandshakeOptions{AppName: AppName, Authenticator: authenticator}
	if c.Mechanism == "" {
		opts.DBUser = source + "." + c.Username // asks hello for saslSupportedMechs
	}
	return func() driver.Handshaker { return driverauth.Handshaker(nil, opts) }, nil
}
