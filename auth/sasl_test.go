package auth

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The SCRAM examples of MongoDB's driver authentication specification (SCRAM-SHA-1, over the
// password digest of user/pencil) and of RFC 7677 (SCRAM-SHA-256): fixed salt and nonces, so
// every byte the server sends is known.
func TestConversationKnownAnswers(t *testing.T) {
	tests := []struct {
		mech        string
		cred        func() (ScramCredential, error)
		serverNonce string
		clientFirst string
		serverFirst string
		clientFinal string
		serverFinal string
	}{
		{
			mech: MechanismSHA1,
			cred: func() (ScramCredential, error) {
				salt, _ := base64.StdEncoding.DecodeString("rQ9ZY3MntBeuP3E1TDVC4w==")
				return derive(scram.SHA1, passwordDigest("user", "pencil"), salt, 10000)
			},
			serverNonce: "Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE",
			clientFirst: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			serverFirst: "r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,s=rQ9ZY3MntBeuP3E1TDVC4w==,i=10000",
			clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY=",
			serverFinal: "v=UMWeI25JD1yNYZRMpZ4VHvhZ9e0=",
		},
		{
			mech: MechanismSHA256,
			cred: func() (ScramCredential, error) {
				salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
				return derive(scram.SHA256, "pencil", salt, 4096)
			},
			serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
			clientFirst: "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.mech, func(t *testing.T) {
			cred, err := tt.cred()
			if err != nil {
				t.Fatal(err)
			}
			var creds Credentials
			if tt.mech == MechanismSHA1 {
				creds.SHA1 = &cred
			} else {
				creds.SHA256 = &cred
			}
			u, err := newUser("user", "admin", nil, creds, nil)
			if err != nil {
				t.Fatal(err)
			}
			a := &Authenticator{users: &Users{byName: map[string]*User{"user@admin": u}}, log: zerolog.Nop(),
				nonce: func() string { return tt.serverNonce }}
			conv := a.NewConversation("127.0.0.1:1")
			steps := []struct {
				run  func() ([]byte, error)
				want string
				done bool
			}{
				{func() ([]byte, error) {
					return conv.SaslStart(nil, "admin", saslStartCmd(tt.mech, []byte(tt.clientFirst), false))
				}, tt.serverFirst, false},
				{func() ([]byte, error) { return conv.SaslContinue(nil, saslContinueCmd([]byte(tt.clientFinal))) }, tt.serverFinal, false},
				{func() ([]byte, error) { return conv.SaslContinue(nil, saslContinueCmd(nil)) }, "", true},
			}
			for i, s := range steps {
				out, err := s.run()
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				r := replyOf(t, out)
				if string(r.payload) != s.want || r.done != s.done || r.conversationID != 1 {
					t.Fatalf("step %d: got %+v (payload %q), want payload %q done %v", i+1, r, r.payload, s.want, s.done)
				}
			}
			if conv.User() != u {
				t.Fatalf("authenticated as %v, want %v", conv.User(), u)
			}
		})
	}
}

func TestConversationLogins(t *testing.T) {
	us := usersFrom(t, nil, alice, bob, carol)
	tests := []struct {
		name      string
		mech      string
		user      string
		password  string
		skipEmpty bool
		wantCode  mongoerr.Code
	}{
		{"SCRAM-SHA-256", MechanismSHA256, "alice", "alice-secret", false, 0},
		{"SCRAM-SHA-256 skipping the empty exchange", MechanismSHA256, "alice", "alice-secret", true, 0},
		{"SCRAM-SHA-1", MechanismSHA1, "alice", "alice-secret", false, 0},
		{"SCRAM-SHA-1 skipping the empty exchange", MechanismSHA1, "alice", "alice-secret", true, 0},
		{"wrong password", MechanismSHA256, "alice", "guess", true, mongoerr.AuthenticationFailed},
		{"wrong password SCRAM-SHA-1", MechanismSHA1, "alice", "guess", false, mongoerr.AuthenticationFailed},
		{"unknown user", MechanismSHA256, "mallory", "x", true, mongoerr.AuthenticationFailed},
		{"user of another database", MechanismSHA256, "bob", "bob-secret", true, mongoerr.AuthenticationFailed},
		{"no credentials for the mechanism", MechanismSHA1, "bob", "bob-secret", true, mongoerr.AuthenticationFailed},
		{"internal user without a key file", MechanismSHA256, "__system", "whatever", true, mongoerr.AuthenticationFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conv := newAuth(t, us).NewConversation("127.0.0.1:1")
			err := login(t, conv, tt.mech, tt.user, tt.password, tt.skipEmpty)
			if codeOf(err) != tt.wantCode {
				t.Fatalf("got %v, want code %d", err, tt.wantCode)
			}
			if tt.wantCode != 0 {
				if msgOf(err) != "Authentication failed." {
					t.Fatalf("message %q", msgOf(err))
				}
				if conv.User() != nil {
					t.Fatal("a failed login authenticated")
				}
				return
			}
			if u := conv.User(); u == nil || u.FullName() != tt.user+"@admin" {
				t.Fatalf("authenticated as %v", u)
			}
		})
	}
}

// TestConversationErrors covers everything that is not a clean login: mongod's code and message
// for each, and the state left behind.
func TestConversationErrors(t *testing.T) {
	us := usersFrom(t, nil, alice, carol)
	startDoc := func(elems ...func(*bsoncore.DocumentBuilder)) bsoncore.Document {
		b := bsoncore.NewDocumentBuilder().AppendInt32("saslStart", 1)
		for _, e := range elems {
			e(b)
		}
		return b.AppendString("$db", "admin").Build()
	}
	mech := func(m string) func(*bsoncore.DocumentBuilder) {
		return func(b *bsoncore.DocumentBuilder) { b.AppendString("mechanism", m) }
	}
	payload := func(p string) func(*bsoncore.DocumentBuilder) {
		return func(b *bsoncore.DocumentBuilder) { b.AppendBinary("payload", 0, []byte(p)) }
	}
	first := "n,,n=alice,r=0123456789abcdef"
	tests := []struct {
		name     string
		run      func(c *Conversation) error
		wantCode mongoerr.Code
		wantMsg  string
	}{
		{"mechanism not enabled", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech("PLAIN"), payload("\x00alice\x00pw")))
			return err
		}, mongoerr.MechanismUnavailable, "Received authentication for mechanism PLAIN which is not enabled"},
		{"SCRAM on $external", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "$external", startDoc(mech(MechanismSHA256), payload(first)))
			return err
		}, mongoerr.BadValue, "Unsupported mechanism 'SCRAM-SHA-256' on authentication database '$external'"},
		{"skipEmptyExchange not a bool", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), payload(first), func(b *bsoncore.DocumentBuilder) {
				b.AppendDocument("options", bsoncore.NewDocumentBuilder().AppendString("skipEmptyExchange", "yes").Build())
			}))
			return err
		}, mongoerr.BadValue, "skipEmptyExchange must be boolean"},
		{"missing mechanism", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(payload(first)))
			return err
		}, mongoerr.IDLFailedToParse, "BSON field 'saslStart.mechanism' is missing but a required field"},
		{"missing payload", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256)))
			return err
		}, mongoerr.IDLFailedToParse, "BSON field 'saslStart.payload' is missing but a required field"},
		{"mechanism of the wrong type", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(payload(first), func(b *bsoncore.DocumentBuilder) { b.AppendInt32("mechanism", 1) }))
			return err
		}, mongoerr.TypeMismatch, "BSON field 'saslStart.mechanism' is the wrong type 'int', expected type 'string'"},
		{"unknown field", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), payload(first), func(b *bsoncore.DocumentBuilder) { b.AppendInt32("bogus", 1) }))
			return err
		}, mongoerr.IDLUnknownField, "BSON field 'saslStart.bogus' is an unknown field."},
		{"duplicate field", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), mech(MechanismSHA1), payload(first)))
			return err
		}, mongoerr.IDLDuplicateField, "BSON field 'saslStart.mechanism' is a duplicate field"},
		{"payload of the wrong type", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), func(b *bsoncore.DocumentBuilder) { b.AppendInt64("payload", 1) }))
			return err
		}, mongoerr.BadValue, "Invalid SASLPayload type. Expected Base64 or BinData, got: long"},
		{"payload of the wrong binary subtype", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), func(b *bsoncore.DocumentBuilder) {
				b.AppendBinary("payload", bson.TypeBinaryUUID, []byte(first))
			}))
			return err
		}, mongoerr.BadValue, "Invalid SASLPayload subtype. Expected BinDataGeneral, got: UUID"},
		{"payload not base64", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), func(b *bsoncore.DocumentBuilder) { b.AppendString("payload", "not base64!") }))
			return err
		}, codeInvalidBase64, "Failed decoding SASL payload: invalid base64"},
		{"payload base64 with a line break", func(c *Conversation) error {
			enc := base64.StdEncoding.EncodeToString([]byte(first))
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), func(b *bsoncore.DocumentBuilder) {
				b.AppendString("payload", enc[:4]+"\n"+enc[4:])
			}))
			return err
		}, codeInvalidBase64, "Failed decoding SASL payload: invalid base64"},
		{"autoAuthorize of the wrong type", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", startDoc(mech(MechanismSHA256), payload(first), func(b *bsoncore.DocumentBuilder) { b.AppendString("autoAuthorize", "y") }))
			return err
		}, mongoerr.TypeMismatch, "BSON field 'saslStart.autoAuthorize' is the wrong type 'string', expected types '[bool, long, int, decimal, double]'"},
		{"saslContinue without saslStart", func(c *Conversation) error {
			_, err := c.SaslContinue(nil, saslContinueCmd([]byte("c=biws")))
			return err
		}, mongoerr.ProtocolError, "No SASL session state found"},
		{"mismatched conversation id", func(c *Conversation) error {
			if _, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte(first), true)); err != nil {
				return err
			}
			_, err := c.SaslContinue(nil, bsoncore.NewDocumentBuilder().AppendInt32("saslContinue", 1).
				AppendInt32("conversationId", 2).AppendBinary("payload", 0, nil).Build())
			return err
		}, mongoerr.ProtocolError, "sasl: Mismatched conversation id"},
		{"conversationId of the wrong type", func(c *Conversation) error {
			_, err := c.SaslContinue(nil, bsoncore.NewDocumentBuilder().AppendInt32("saslContinue", 1).
				AppendString("conversationId", "1").AppendBinary("payload", 0, nil).Build())
			return err
		}, mongoerr.TypeMismatch, "BSON field 'saslContinue.conversationId' is the wrong type 'string', expected type 'int'"},
		{"truncated client-first message", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte("n,,n=ali"), true))
			return err
		}, mongoerr.AuthenticationFailed, "Authentication failed."},
		{"channel binding asked for", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte("p=tls-unique,,n=alice,r=0123456789"), true))
			return err
		}, mongoerr.AuthenticationFailed, "Authentication failed."},
		{"authzid of another user", func(c *Conversation) error {
			_, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte("n,a=carol,n=alice,r=0123456789"), true))
			return err
		}, mongoerr.AuthenticationFailed, "Authentication failed."},
		{"truncated client-final message", func(c *Conversation) error {
			if _, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte(first), true)); err != nil {
				return err
			}
			_, err := c.SaslContinue(nil, saslContinueCmd([]byte("c=biws,r=0123")))
			return err
		}, mongoerr.AuthenticationFailed, "Authentication failed."},
		{"client-final with another nonce", func(c *Conversation) error {
			if _, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte(first), true)); err != nil {
				return err
			}
			_, err := c.SaslContinue(nil, saslContinueCmd([]byte("c=biws,r=0123456789abcdefXYZ,p=AAAA")))
			return err
		}, mongoerr.AuthenticationFailed, "Authentication failed."},
		{"replayed client-final message", func(c *Conversation) error {
			final := recordedFinal(t, us)
			if _, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte(final.first), true)); err != nil {
				return err
			}
			_, err := c.SaslContinue(nil, saslContinueCmd([]byte(final.final)))
			return err
		}, mongoerr.AuthenticationFailed, "Authentication failed."},
		{"saslContinue after a failure", func(c *Conversation) error {
			if err := login(t, c, MechanismSHA256, "alice", "guess", true); codeOf(err) != mongoerr.AuthenticationFailed {
				t.Fatalf("login: %v", err)
			}
			_, err := c.SaslContinue(nil, saslContinueCmd(nil))
			return err
		}, mongoerr.ProtocolError, "No SASL session state found"},
		{"saslContinue after success", func(c *Conversation) error {
			if err := login(t, c, MechanismSHA256, "alice", "alice-secret", true); err != nil {
				t.Fatal(err)
			}
			_, err := c.SaslContinue(nil, saslContinueCmd(nil))
			return err
		}, mongoerr.ProtocolError, "No SASL session state found"},
		{"same user again", func(c *Conversation) error {
			if err := login(t, c, MechanismSHA256, "alice", "alice-secret", true); err != nil {
				t.Fatal(err)
			}
			return login(t, c, MechanismSHA1, "alice", "alice-secret", false)
		}, 0, ""},
		{"another user of the same database", func(c *Conversation) error {
			if err := login(t, c, MechanismSHA256, "alice", "alice-secret", true); err != nil {
				t.Fatal(err)
			}
			return login(t, c, MechanismSHA256, "carol", "carol-secret", true)
		}, codeReauthOtherUser, "Each client connection may only be authenticated once. Previously authenticated as: alice@admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAuth(t, us).NewConversation("127.0.0.1:1")
			err := tt.run(c)
			if codeOf(err) != tt.wantCode || msgOf(err) != tt.wantMsg {
				t.Fatalf("got %v (code %d), want %d %q", err, codeOf(err), tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestConversationOtherDatabase(t *testing.T) {
	dave := testEntry{user: "dave", db: "test", password: "dave-secret", roles: []RoleRef{{"read", "test"}}}
	us := usersFrom(t, nil, alice, dave)
	c := newAuth(t, us).NewConversation("127.0.0.1:1")
	if err := login(t, c, MechanismSHA256, "alice", "alice-secret", true); err != nil {
		t.Fatal(err)
	}
	cc := clientFor(t, MechanismSHA256, "dave", "dave-secret")
	first, _ := cc.Step("")
	out, err := c.SaslStart(nil, "test", saslStartCmd(MechanismSHA256, []byte(first), true))
	if err != nil {
		t.Fatal(err)
	}
	final, _ := cc.Step(string(replyOf(t, out).payload))
	_, err = c.SaslContinue(nil, saslContinueCmd([]byte(final)))
	want := "Client has attempted to authenticate on multiple databases.Already authenticated as: alice@admin"
	if codeOf(err) != codeReauthOtherDB || msgOf(err) != want {
		t.Fatalf("got %v", err)
	}
	if c.User().FullName() != "alice@admin" {
		t.Fatalf("user changed to %s", c.User().FullName())
	}
}

// TestConversationBase64Payload: a client sending its payload as a base64 string gets base64
// strings back (SaslPayload::serializeAsBase64).
func TestConversationBase64Payload(t *testing.T) {
	us := usersFrom(t, nil, alice)
	c := newAuth(t, us).NewConversation("127.0.0.1:1")
	cc := clientFor(t, MechanismSHA256, "alice", "alice-secret")
	first, _ := cc.Step("")
	cmd := bsoncore.NewDocumentBuilder().AppendInt32("saslStart", 1).AppendString("mechanism", MechanismSHA256).
		AppendString("payload", base64.StdEncoding.EncodeToString([]byte(first))).Build()
	out, err := c.SaslStart(nil, "admin", cmd)
	if err != nil {
		t.Fatal(err)
	}
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc, _ = bsoncore.AppendDocumentEnd(append(doc, out...), idx)
	if typ := bsoncore.Document(doc).Lookup("payload").Type; typ != bsoncore.TypeString {
		t.Fatalf("payload answered as %v, want a string", typ)
	}
	if !strings.HasPrefix(string(replyOf(t, out).payload), "r=") {
		t.Fatalf("payload %q", replyOf(t, out).payload)
	}
}

// TestFailedLoginLog: a failed login is logged with who and why, never with the password,
// the proof or the payloads.
func TestFailedLoginLog(t *testing.T) {
	us := usersFrom(t, nil, alice)
	var buf bytes.Buffer
	a := NewAuthenticator(us, nil, zerolog.New(&buf))
	c := a.NewConversation("192.0.2.7:5555")
	cc := clientFor(t, MechanismSHA256, "alice", "hunter2-not-it")
	first, _ := cc.Step("")
	out, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte(first), true))
	if err != nil {
		t.Fatal(err)
	}
	final, _ := cc.Step(string(replyOf(t, out).payload))
	if _, err := c.SaslContinue(nil, saslContinueCmd([]byte(final))); codeOf(err) != mongoerr.AuthenticationFailed {
		t.Fatalf("got %v", err)
	}
	log := buf.String()
	for _, want := range []string{`"message":"Authentication failed"`, `"principalName":"alice"`,
		`"authenticationDatabase":"admin"`, `"remote":"192.0.2.7:5555"`, `"mechanism":"SCRAM-SHA-256"`, `"reason":"wrong password`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	proof := final[strings.LastIndex(final, "p=")+2:]
	for _, secret := range []string{"hunter2-not-it", proof, first, final} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains a secret %q:\n%s", secret, log)
		}
	}
}

// recorded is a client-first and client-final of a successful login, to replay.
type recorded struct{ first, final string }

func recordedFinal(t *testing.T, us *Users) recorded {
	t.Helper()
	c := newAuth(t, us).NewConversation("127.0.0.1:1")
	cc := clientFor(t, MechanismSHA256, "alice", "alice-secret")
	first, _ := cc.Step("")
	out, err := c.SaslStart(nil, "admin", saslStartCmd(MechanismSHA256, []byte(first), true))
	if err != nil {
		t.Fatal(err)
	}
	final, _ := cc.Step(string(replyOf(t, out).payload))
	if _, err := c.SaslContinue(nil, saslContinueCmd([]byte(final))); err != nil {
		t.Fatal(err)
	}
	return recorded{first, final}
}
