package auth

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"strings"

	"github.com/rs/zerolog"
	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Bare assertion codes of mongod's authentication path.
const (
	codeInvalidBase64    mongoerr.Code = 10270   // base64::decode
	codeReauthOtherUser  mongoerr.Code = 5626701 // a second user on one connection, same database
	codeReauthOtherDB    mongoerr.Code = 5626702 // a second user on one connection, another database
	authenticationFailed               = "Authentication failed."
)

// Authenticator verifies SCRAM conversations against a user set and, when a key file is in use,
// the internal user. It is immutable and shared by all connections.
type Authenticator struct {
	users    *Users
	internal *User
	log      zerolog.Logger
	nonce    scram.NonceGeneratorFcn // nil: the library's (24 random bytes); tests fix it
}

// NewAuthenticator authenticates users (may be nil: no users) and internal, the key file's
// __system@local (nil without a key file). Failed logins are logged on log, never with secrets.
func NewAuthenticator(users *Users, internal *User, log zerolog.Logger) *Authenticator {
	return &Authenticator{users: users, internal: internal, log: log}
}

// Lookup finds user@db among the users and the internal user.
func (a *Authenticator) Lookup(user, db string) *User {
	if a.internal != nil && user == a.internal.Name && db == a.internal.DB {
		return a.internal
	}
	return a.users.Lookup(user, db)
}

// Conversation is one client connection's authentication state: the user it authenticated as
// and the SASL conversation under way. It belongs to the connection's goroutine (no locking).
type Conversation struct {
	a      *Authenticator
	remote string
	peer   *tls.ConnectionState // the client's TLS state, nil on a plain connection (SetPeer)
	user   *User

	// The conversation in progress (mongod's AuthenticationSession), zero when none.
	active      bool
	speculative bool
	mech        string
	db          string
	server      *scram.ServerConversation
	step        int
	skipEmpty   bool
	principal   string // the user name the client sent, decoded
	candidate   *User  // who the client claims to be, once looked up
	lookupFault string // why the lookup found no usable credential (for the log)
	asBase64    bool   // the client sent its payload as a base64 string: answer alike
}

// NewConversation starts a connection's authentication state; remote is the client's address
// (for the log).
func (a *Authenticator) NewConversation(remote string) *Conversation {
	return &Conversation{a: a, remote: remote}
}

// User is the authenticated user, nil before a conversation succeeded.
func (c *Conversation) User() *User { return c.user }

// Logout logs the connection's user out when it authenticated on db, as mongod's logout does
// (authentication_commands.cpp, logoutDatabase); logging out of another database does nothing.
func (c *Conversation) Logout(db string) {
	if c.user != nil && c.user.DB == db {
		c.user = nil
	}
}

// saslRequest is a parsed saslStart or saslContinue.
type saslRequest struct {
	mechanism      string
	payload        []byte
	asBase64       bool
	options        bsoncore.Document
	conversationID int32
}

// SaslStart answers saslStart run on db: it abandons any conversation under way and starts a
// new one. It appends conversationId, done and payload to the open reply document dst; on error
// dst is returned unchanged with mongod's error.
func (c *Conversation) SaslStart(dst []byte, db string, cmd bsoncore.Document) ([]byte, error) {
	req, err := parseSasl(cmd, "saslStart", saslStartFields)
	if err != nil {
		return dst, err
	}
	return c.start(dst, db, req, false)
}

// SaslContinue answers saslContinue: the next step of the conversation under way.
func (c *Conversation) SaslContinue(dst []byte, cmd bsoncore.Document) ([]byte, error) {
	req, err := parseSasl(cmd, "saslContinue", saslContinueFields)
	if err != nil {
		return dst, err
	}
	switch {
	case !c.active:
		return dst, mongoerr.New(mongoerr.ProtocolError, "No SASL session state found")
	case req.conversationID != 1:
		c.failed("mismatched conversation id")
		return dst, mongoerr.New(mongoerr.ProtocolError, "sasl: Mismatched conversation id")
	}
	// Like mongod, saslContinue's own database is ignored: the conversation stays on the one
	// saslStart named.
	return c.doStep(dst, req)
}

// start begins a conversation (runSaslStart / doSaslStart).
func (c *Conversation) start(dst []byte, db string, req saslRequest, speculative bool) ([]byte, error) {
	*c = Conversation{a: c.a, remote: c.remote, peer: c.peer, user: c.user, active: true, speculative: speculative,
		mech: req.mechanism, db: db, asBase64: req.asBase64}
	var h scram.HashGeneratorFcn
	switch req.mechanism {
	case MechanismSHA1:
		h = scram.SHA1
	case MechanismSHA256:
		h = scram.SHA256
	default:
		c.failed("mechanism not enabled")
		return dst, mongoerr.New(mongoerr.MechanismUnavailable, "Received authentication for mechanism %s which is not enabled", req.mechanism)
	}
	if db == "$external" {
		c.failed("SCRAM on $external")
		return dst, mongoerr.New(mongoerr.BadValue, "Unsupported mechanism '%s' on authentication database '%s'", req.mechanism, db)
	}
	if req.options != nil {
		if v, err := req.options.LookupErr("skipEmptyExchange"); err == nil {
			skip, ok := v.BooleanOK()
			if !ok {
				c.failed("bad options")
				return dst, mongoerr.New(mongoerr.BadValue, "skipEmptyExchange must be boolean")
			}
			c.skipEmpty = skip
		}
	}
	server, err := h.NewServer(c.lookup)
	if err != nil { // NewServer has no failure path in v1.2.0; kept for the contract
		c.failed("SCRAM server: " + err.Error())
		return dst, mongoerr.New(mongoerr.AuthenticationFailed, authenticationFailed)
	}
	if c.a.nonce != nil {
		server = server.WithNonceGenerator(c.a.nonce)
	}
	c.server = server.NewConversation()
	return c.doStep(dst, req)
}

// lookup is the SCRAM server's credential callback: the client-first message's user name,
// decoded as RFC 5802 and mongod do, on the conversation's database.
func (c *Conversation) lookup(encoded string) (scram.StoredCredentials, error) {
	name := strings.NewReplacer("=2C", ",", "=3D", "=").Replace(encoded)
	c.principal = name
	u := c.a.Lookup(name, c.db)
	switch {
	case u == nil && name == internalUserName && c.db == internalUserDB:
		c.lookupFault = "It is not possible to authenticate as the __system user on servers started without a --keyFile parameter"
	case u == nil:
		c.lookupFault = "user not found"
	}
	if u == nil {
		return scram.StoredCredentials{}, errLookup
	}
	sc, ok := u.creds[c.mech]
	if !ok {
		c.lookupFault = "user has no " + c.mech + " credentials"
		return scram.StoredCredentials{}, errLookup
	}
	c.candidate = u
	return sc, nil
}

var errLookup = mongoerr.New(mongoerr.UserNotFound, "no usable credential")

// doStep runs one step (doSaslStep): a failed step ends the conversation with
// AuthenticationFailed, whatever went wrong, and only the log says what.
func (c *Conversation) doStep(dst []byte, req saslRequest) ([]byte, error) {
	c.step++
	total := 3
	if c.skipEmpty {
		total = 2
	}
	var out string
	done := false
	switch {
	case c.step > total:
		return dst, c.authFailed("step beyond the conversation")
	case c.step == 1:
		resp, err := c.server.Step(string(req.payload))
		if err != nil {
			if c.lookupFault != "" {
				return dst, c.authFailed(c.lookupFault)
			}
			return dst, c.authFailed("malformed client-first message")
		}
		if az := c.server.AuthzID(); az != "" && az != c.principal {
			return dst, c.authFailed("authzid does not match the user name")
		}
		out = resp
	case c.step == 2:
		if bytes.ContainsAny(req.payload, "\r\n") {
			// Go's base64 skips line breaks, so the SCRAM library would accept a proof mongod's
			// strict decoder refuses.
			return dst, c.authFailed("line break in the client-final message")
		}
		resp, err := c.server.Step(string(req.payload))
		switch {
		case resp == scram.ErrInvalidProof:
			return dst, c.authFailed("wrong password (client proof does not match)")
		case err != nil || !c.server.Valid():
			return dst, c.authFailed("malformed or replayed client-final message")
		}
		out, done = resp, c.skipEmpty
	default: // the empty third exchange of clients that do not skip it
		done = true
	}
	if done {
		if err := c.authorize(); err != nil {
			return dst, err
		}
	}
	dst = bsoncore.AppendInt32Element(dst, "conversationId", 1)
	dst = bsoncore.AppendBooleanElement(dst, "done", done)
	if c.asBase64 {
		dst = bsoncore.AppendStringElement(dst, "payload", base64.StdEncoding.EncodeToString([]byte(out)))
	} else {
		dst = bsoncore.AppendBinaryElement(dst, "payload", bson.TypeBinaryGeneric, []byte(out))
	}
	return dst, nil
}

// authorize makes the candidate the connection's user (addAndAuthorizeUser): a connection
// authenticates once; doing it again as the same user is allowed.
func (c *Conversation) authorize() error {
	u := c.candidate
	defer c.reset()
	if prev := c.user; prev != nil && prev != u {
		c.logFailure("connection already authenticated as another user")
		if prev.DB == u.DB {
			return mongoerr.New(codeReauthOtherUser, "Each client connection may only be authenticated once. Previously authenticated as: %s", prev.FullName())
		}
		return mongoerr.New(codeReauthOtherDB, "Client has attempted to authenticate on multiple databases.Already authenticated as: %s", prev.FullName())
	}
	c.user = u
	c.a.log.Info().Str("mechanism", c.mech).Bool("speculative", c.speculative).Str("principalName", u.Name).
		Str("authenticationDatabase", u.DB).Str("remote", c.remote).Msg("Authentication succeeded")
	return nil
}

// authFailed ends the conversation: the client learns only that authentication failed.
func (c *Conversation) authFailed(reason string) error {
	c.failed(reason)
	return mongoerr.New(mongoerr.AuthenticationFailed, authenticationFailed)
}

// failed logs why a conversation failed and ends it.
func (c *Conversation) failed(reason string) {
	c.logFailure(reason)
	c.reset()
}

// logFailure logs a failed login: who and from where, never a payload, proof or key.
func (c *Conversation) logFailure(reason string) {
	c.a.log.Info().Str("mechanism", c.mech).Bool("speculative", c.speculative).
		Str("principalName", c.principal).Str("authenticationDatabase", c.db).Str("remote", c.remote).
		Str("reason", reason).Msg("Authentication failed")
}

// reset ends the conversation under way; the authenticated user stays.
func (c *Conversation) reset() {
	*c = Conversation{a: c.a, remote: c.remote, peer: c.peer, user: c.user}
}
