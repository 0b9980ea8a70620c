package auth

import (
	"encoding/base64"
	"errors"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/xdg-go/scram"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// testEntry is a user of the test users file, with the password its credentials come from.
type testEntry struct {
	user, db, password string
	roles              []RoleRef
	only               string // "" for both mechanisms, else the only one kept
}

// usersFrom builds a users file of entries (and custom roles) and loads it.
func usersFrom(t testing.TB, roles []RoleDef, entries ...testEntry) *Users {
	t.Helper()
	f := File{Roles: roles}
	for _, e := range entries {
		creds := cachedCredentials(t, e.user, e.password)
		switch e.only {
		case MechanismSHA1:
			creds.SHA256 = nil
		case MechanismSHA256:
			creds.SHA1 = nil
		}
		f.Users = append(f.Users, UserEntry{User: e.user, DB: e.db, Roles: e.roles, Credentials: creds})
	}
	return loadFile(t, f)
}

// loadFile writes f as a users file would hold it and loads it.
func loadFile(t testing.TB, f File) *Users {
	t.Helper()
	data, err := yaml.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	us, err := ParseUsers(data)
	if err != nil {
		t.Fatalf("ParseUsers: %v\n%s", err, data)
	}
	return us
}

// credentialCache keeps derived credentials across tests: PBKDF2 is slow on purpose, the more so
// under the race detector.
var credentialCache sync.Map // user + "\x00" + password -> Credentials

func cachedCredentials(t testing.TB, user, password string) Credentials {
	t.Helper()
	key := user + "\x00" + password
	if c, ok := credentialCache.Load(key); ok {
		return c.(Credentials)
	}
	c, err := NewCredentials(user, password)
	if err != nil {
		t.Fatal(err)
	}
	credentialCache.Store(key, c)
	return c
}

// The users most tests share.
var (
	alice = testEntry{user: "alice", db: "admin", password: "alice-secret", roles: []RoleRef{{"readWrite", "test"}}}
	bob   = testEntry{user: "bob", db: "test", password: "bob-secret", roles: []RoleRef{{"read", "test"}}, only: MechanismSHA256}
	carol = testEntry{user: "carol", db: "admin", password: "carol-secret", roles: []RoleRef{{"root", "admin"}}}
)

// saslCmd builds a saslStart (mechanism != "") or saslContinue body.
func saslStartCmd(mech string, payload []byte, skipEmpty bool) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("saslStart", 1).AppendString("mechanism", mech).
		AppendBinary("payload", bson.TypeBinaryGeneric, payload)
	if skipEmpty {
		b.AppendDocument("options", bsoncore.NewDocumentBuilder().AppendBoolean("skipEmptyExchange", true).Build())
	}
	return b.AppendString("$db", "admin").Build()
}

func saslContinueCmd(payload []byte) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().AppendInt32("saslContinue", 1).AppendInt32("conversationId", 1).
		AppendBinary("payload", bson.TypeBinaryGeneric, payload).AppendString("$db", "admin").Build()
}

// saslReply is what a saslStart / saslContinue answered.
type saslReply struct {
	conversationID int32
	done           bool
	payload        []byte
}

// replyOf closes the appended fields into a document and reads them back.
func replyOf(t testing.TB, fields []byte) saslReply {
	t.Helper()
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = append(doc, fields...)
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	d := bsoncore.Document(doc)
	id, _ := d.Lookup("conversationId").Int32OK()
	done, _ := d.Lookup("done").BooleanOK()
	var payload []byte
	if s, ok := d.Lookup("payload").StringValueOK(); ok {
		payload, _ = base64.StdEncoding.DecodeString(s)
	} else {
		_, payload, _ = d.Lookup("payload").BinaryOK()
	}
	return saslReply{id, done, payload}
}

// clientFor is a SCRAM client as drivers build it: SCRAM-SHA-1 over the password digest,
// SCRAM-SHA-256 over the SASLprep'd password.
func clientFor(t testing.TB, mech, user, password string) *scram.ClientConversation {
	t.Helper()
	var c *scram.Client
	var err error
	if mech == MechanismSHA1 {
		c, err = scram.SHA1.NewClientUnprepped(user, passwordDigest(user, password), "")
	} else {
		c, err = scram.SHA256.NewClient(user, password, "")
	}
	if err != nil {
		t.Fatal(err)
	}
	return c.NewConversation()
}

// login runs a whole conversation; it returns the first error a command answered.
func login(t testing.TB, conv *Conversation, mech, user, password string, skipEmpty bool) error {
	t.Helper()
	cc := clientFor(t, mech, user, password)
	first, err := cc.Step("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := conv.SaslStart(nil, "admin", saslStartCmd(mech, []byte(first), skipEmpty))
	if err != nil {
		return err
	}
	r := replyOf(t, out)
	for !r.done {
		next, err := cc.Step(string(r.payload))
		if err != nil {
			t.Fatalf("client step: %v", err)
		}
		out, err = conv.SaslContinue(nil, saslContinueCmd([]byte(next)))
		if err != nil {
			return err
		}
		r = replyOf(t, out)
	}
	if !cc.Done() { // skipEmptyExchange: the server's signature came with done
		if _, err := cc.Step(string(r.payload)); err != nil {
			t.Fatalf("client step: %v", err)
		}
	}
	if !cc.Valid() {
		t.Fatal("the client did not verify the server signature")
	}
	return nil
}

// codeOf is the mongo error code of err (0 for nil).
func codeOf(err error) mongoerr.Code {
	var me *mongoerr.Error
	if errors.As(err, &me) {
		return me.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

func msgOf(err error) string {
	if err == nil {
		return ""
	}
	return mongoerr.As(err).Msg
}

func newAuth(t testing.TB, us *Users) *Authenticator {
	t.Helper()
	return NewAuthenticator(us, nil, zerolog.Nop())
}
