package shards

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// secure adds the credential and TLS configuration to the driver options.
func (cfg *Config) secure(opts *options.ClientOptions) error {
	if c := cfg.Auth; c != nil {
		if c.Username == "" || c.Password == "" {
			return errors.New("authentication needs a username and a password")
		}
		source := c.Source
		if source == "" {
			source = "admin"
		}
		opts.SetAuth(options.Credential{AuthMechanism: c.Mechanism, AuthSource: source,
			Username: c.Username, Password: c.Password, PasswordSet: true})
	}
	if cfg.TLS != nil {
		// The driver clones it per connection and sets ServerName to the member's host.
		opts.SetTLSConfig(cfg.TLS)
	}
	return nil
}
