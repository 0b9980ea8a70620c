package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/rs/zerolog"
	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The SCRAM-SHA-1 exchange of the driver authentication specification (see
// TestConversationKnownAnswers): with the server nonce fixed, the fuzzer starts next to a valid
// login and mutates it.
const (
	specFirst = "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
	specFinal = "c=biws,r=fyko+d2lbbFgONRv9qkxdawLHo+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE,p=MC2T8BvbmWRckDw8oWl5IVghwCY="
)

func specAuthenticator(tb testing.TB) *Authenticator {
	salt, _ := base64.StdEncoding.DecodeString("rQ9ZY3MntBeuP3E1TDVC4w==")
	cred, err := derive(scram.SHA1, passwordDigest("user", "pencil"), salt, 10000)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := newUser("user", "admin", nil, Credentials{SHA1: &cred}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &Authenticator{users: &Users{byName: map[string]*User{"user@admin": u}}, log: zerolog.Nop(),
		nonce: func() string { return "Ho+Vgk7qvUOKUwuWLIWg4l/9SraGMHEE" }}
}

// FuzzConversation drives saslStart and two saslContinues with arbitrary payloads: malformed,
// truncated or replayed messages must get an error reply, never a panic, and nothing but the
// exact valid exchange may authenticate.
func FuzzConversation(f *testing.F) {
	f.Add(uint8(1), []byte(specFirst), []byte(specFinal), []byte{}, false)
	f.Add(uint8(1), []byte(specFirst), []byte(specFinal), []byte{}, true)
	f.Add(uint8(0), []byte(specFirst), []byte(specFinal), []byte("x"), false)
	f.Add(uint8(1), []byte(specFirst[:10]), []byte(specFinal[:20]), []byte{}, false)
	f.Add(uint8(1), []byte("n,,n=user,r="), []byte("c=biws,r=,p="), []byte{}, false)
	f.Add(uint8(1), []byte("p=tls-unique,,n=user,r=abc"), []byte("c=,r=,p=AAAA"), []byte{}, false)
	f.Add(uint8(1), []byte("n,a=x,n=user,r=fyko"), []byte(specFinal+",p=AA"), []byte{}, true)
	f.Add(uint8(1), []byte("n,,m=ext,n=user,r=fyko"), []byte("c=biws,r=fyko,x=1,p=MC2T"), []byte(specFinal), false)
	f.Add(uint8(2), []byte("\x00user\x00pencil"), []byte{}, []byte{}, false)
	f.Add(uint8(1), []byte("n,,n=us=2Cer=3D,r=fyko+d2lbbFgONRv9qkxdawL"), []byte(specFinal), []byte{}, false)
	mechs := []string{MechanismSHA256, MechanismSHA1, "PLAIN"}
	a := specAuthenticator(f) // immutable: shared by the fuzz workers
	f.Fuzz(func(t *testing.T, mech uint8, first, second, third []byte, skipEmpty bool) {
		c := a.NewConversation("127.0.0.1:1")
		m := mechs[int(mech)%len(mechs)]
		check := func(out []byte, err error) bool {
			if err != nil {
				var me *mongoerr.Error
				if !errors.As(err, &me) || me.Code == 0 || me.Msg == "" {
					t.Fatalf("not a MongoDB error: %#v", err)
				}
				return false
			}
			r := replyOf(t, out)
			if r.conversationID != 1 {
				t.Fatalf("reply without conversationId: %v", closeDoc(out))
			}
			return true
		}
		if !check(c.SaslStart(nil, "admin", saslStartCmd(m, first, skipEmpty))) {
			return
		}
		check(c.SaslContinue(nil, saslContinueCmd(second)))
		check(c.SaslContinue(nil, saslContinueCmd(third)))
		if c.User() != nil && (m != MechanismSHA1 || string(first) != specFirst || string(second) != specFinal) {
			t.Fatalf("authenticated with %s %q %q", m, first, second)
		}
	})
}

// FuzzCommandDocument feeds arbitrary bytes, as a command document, to everything in the package
// that reads client documents.
func FuzzCommandDocument(f *testing.F) {
	seeds := []bson.D{
		{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}},
		{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$lookup", Value: bson.D{{Key: "from", Value: "d"},
			{Key: "pipeline", Value: bson.A{bson.D{{Key: "$out", Value: bson.D{{Key: "db", Value: "x"}, {Key: "coll", Value: "y"}}}}}}}}}}}},
		{{Key: "bulkWrite", Value: 1}, {Key: "ops", Value: bson.A{bson.D{{Key: "update", Value: 0}, {Key: "upsert", Value: true}}}},
			{Key: "nsInfo", Value: bson.A{bson.D{{Key: "ns", Value: "t.c"}}}}},
		{{Key: "killAllSessionsByPattern", Value: bson.A{bson.D{{Key: "users", Value: bson.A{}}}}}},
		{{Key: "explain", Value: bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "upsert", Value: true}}}}}}},
		{{Key: "hello", Value: 1}, {Key: "saslSupportedMechs", Value: "admin.user"},
			{Key: "speculativeAuthenticate", Value: bson.D{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: MechanismSHA1},
				{Key: "payload", Value: bson.Binary{Data: []byte(specFirst)}}, {Key: "db", Value: "admin"}}}},
		{{Key: "saslStart", Value: 1}, {Key: "mechanism", Value: MechanismSHA256}, {Key: "payload", Value: "bi,,"},
			{Key: "options", Value: bson.D{{Key: "skipEmptyExchange", Value: true}}}},
		{{Key: "saslContinue", Value: 1}, {Key: "conversationId", Value: int32(1)}, {Key: "payload", Value: bson.Binary{}}},
	}
	for _, s := range seeds {
		b, err := bson.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	a := specAuthenticator(f)
	u := a.Lookup("user", "admin")
	f.Fuzz(func(t *testing.T, data []byte) {
		doc := bsoncore.Document(data)
		for _, who := range []*User{nil, u} {
			if err := Authorize(who, commandOf("test", doc)); err != nil && mongoerr.As(err).Code == 0 {
				t.Fatalf("error without a code: %v", err)
			}
		}
		_ = bsonText(doc)
		c := a.NewConversation("127.0.0.1:1")
		_, _ = c.AppendSpeculative(nil, doc)
		_, _ = a.AppendSaslSupportedMechs(nil, doc)
		_, _ = c.SaslStart(nil, "admin", doc)
		_, _ = c.SaslContinue(nil, doc)
	})
}

// FuzzSubjectName feeds arbitrary DER to the subject printer (it reads the certificate the client
// sent, after verification) and arbitrary authenticate commands to the X509 path: errors only,
// never a panic; a printed name re-parses to the same name.
func FuzzSubjectName(f *testing.F) {
	f.Add(rawName(f, kernelUserName()), []byte(authenticateCmd("user", kernelUser)))
	f.Add([]byte{0x30, 0x00}, []byte(authenticateCmd()))
	f.Add([]byte{0x30, 0x03, 0x31, 0x01, 0x30}, []byte{5, 0, 0, 0, 0})
	users := x509Users(f)
	f.Fuzz(func(t *testing.T, raw, cmd []byte) {
		name, err := SubjectName(raw)
		if err != nil {
			return
		}
		if again, err := SubjectName(raw); err != nil || again != name {
			t.Fatalf("SubjectName is not stable: %q then %q, %v", name, again, err)
		}
		if bsoncore.Document(cmd).Validate() != nil {
			return
		}
		c := NewAuthenticator(users, nil, zerolog.Nop()).NewConversation("127.0.0.1:1")
		cert := &x509.Certificate{RawSubject: raw}
		c.SetPeer(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}})
		if _, err := c.Authenticate(nil, ExternalDB, cmd); err != nil {
			var me *mongoerr.Error
			if !errors.As(err, &me) || me.Code == 0 || me.Msg == "" {
				t.Fatalf("not a MongoDB error: %#v", err)
			}
		}
	})
}
