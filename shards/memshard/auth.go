package memshard

import (
	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	clientcmd "github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// authOptions is memshard's --auth: off unless users or a key file are given. With it on,
// commands other than the handshake, authentication and a few probes need an authenticated
// user with the privileges mongod would ask for, and a client-supplied lsid uid is accepted only
// from a user holding impersonate (the key file's __system@local: a router).
type authOptions struct {
	users   *auth.Users
	keyFile string
	on      bool
	a       *auth.Authenticator // built by init; verifies logins even with auth off, as mongod does
}

// WithUsers turns authentication on with these users (auth.LoadUsers / auth.ParseUsers).
func WithUsers(us *auth.Users) Option {
	return func(o *setOptions) { o.auth.users, o.auth.on = us, true }
}

// WithKeyFile turns authentication on and adds the internal user __system@local, whose password
// is the key file's contents (read by mongod's rules when the set starts).
func WithKeyFile(path string) Option {
	return func(o *setOptions) { o.auth.keyFile, o.auth.on = path, true }
}

func (ao *authOptions) init(log zerolog.Logger) error {
	var internal *auth.User
	if ao.keyFile != "" {
		key, err := auth.ReadKeyFile(ao.keyFile)
		if err != nil {
			return err
		}
		if internal, err = auth.InternalUser(key); err != nil {
			return err
		}
	}
	ao.a = auth.NewAuthenticator(ao.users, internal, log.With().Str("component", "auth").Logger())
	return nil
}

// conversation is the connection's authentication state, made on first use.
func (c *conn) conversation() *auth.Conversation {
	if c.auth == nil {
		c.auth = c.m.rs.opts.auth.a.NewConversation(c.nc.RemoteAddr().String())
	}
	return c.auth
}

// user is who the connection authenticated as, nil if nobody.
func (r *request) user() *auth.User {
	if r.c.auth == nil {
		return nil
	}
	return r.c.auth.User()
}

// authorize refuses a command the connection may not run (auth on): not authenticated, missing
// privileges, or session fields from a user whose name is too long to have a session digest.
func (r *request) authorize() error {
	if !r.m.rs.opts.auth.on {
		return nil
	}
	if err := r.checkImpersonation(); err != nil { // impersonation.go
		return err
	}
	u := r.user()
	if r.name == "killOp" && r.killsOwnOp() { // killop.go
		return nil
	}
	cmd := clientcmd.Command{Name: []byte(r.name), DB: []byte(r.db), Body: r.body, Sequences: r.seqs}
	if err := auth.Authorize(u, &cmd); err != nil || u == nil {
		return err
	}
	if _, err := u.UID(); err != nil && (r.cmd.flags&cNoAttach != 0 || hasField(r.body, "lsid")) {
		return err
	}
	return nil
}

func hasField(doc bsoncore.Document, key string) bool {
	_, err := doc.LookupErr(key)
	return err == nil
}

// caller is the session digest of the connection's user: SHA-256("") with auth off.
func (r *request) caller() sessionid.UID {
	if u := r.user(); u != nil && r.m.rs.opts.auth.on {
		if uid, err := u.UID(); err == nil {
			return uid
		}
	}
	return sessionid.NoAuthUID
}

// mayImpersonate: whether a client-supplied lsid uid other than the caller's is accepted. With
// auth off every privilege check passes (src/mongo/db/logical_session_id_helpers.cpp).
func (r *request) mayImpersonate() bool {
	u := r.user()
	return !r.m.rs.opts.auth.on || u != nil && u.Can(auth.ActionImpersonate, auth.ClusterResource())
}

func cmdSaslStart(r *request) error {
	out, err := r.c.conversation().SaslStart(r.out, r.db, r.body)
	r.out = out
	return err
}

func cmdSaslContinue(r *request) error {
	out, err := r.c.conversation().SaslContinue(r.out, r.body)
	r.out = out
	return err
}

// appendAuthHello adds hello's authentication fields: saslSupportedMechs for a user the client
// names, and the first reply of a speculative saslStart.
func (r *request) appendAuthHello() error {
	out, err := r.m.rs.opts.auth.a.AppendSaslSupportedMechs(r.out, r.body)
	if err != nil || !hasField(r.body, "speculativeAuthenticate") {
		r.out = out
		return err
	}
	r.out, err = r.c.conversation().AppendSpeculative(out, r.body)
	return err
}
