package auth

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// closeDoc turns appended fields into a document.
func closeDoc(fields []byte) bsoncore.Document {
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc, _ = bsoncore.AppendDocumentEnd(append(doc, fields...), idx)
	return doc
}

func helloWith(key string, v bsoncore.Value) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().AppendInt32("hello", 1).AppendValue(key, v).Build()
}

func docValue(d bsoncore.Document) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: d}
}

func speculativeStart(mech, db string, payload []byte) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("saslStart", 1).AppendString("mechanism", mech).
		AppendBinary("payload", bson.TypeBinaryGeneric, payload)
	if db != "" {
		b.AppendString("db", db)
	}
	return b.AppendDocument("options", bsoncore.NewDocumentBuilder().AppendBoolean("skipEmptyExchange", true).Build()).Build()
}

// TestSpeculativeAuthentication: the hello carries the saslStart, saslContinue finishes it.
func TestSpeculativeAuthentication(t *testing.T) {
	us := usersFrom(t, nil, alice)
	for _, mech := range []string{MechanismSHA256, MechanismSHA1} {
		t.Run(mech, func(t *testing.T) {
			c := newAuth(t, us).NewConversation("127.0.0.1:1")
			cc := clientFor(t, mech, "alice", "alice-secret")
			first, _ := cc.Step("")
			out, err := c.AppendSpeculative(nil, helloWith("speculativeAuthenticate", docValue(speculativeStart(mech, "admin", []byte(first)))))
			if err != nil {
				t.Fatal(err)
			}
			spec, ok := closeDoc(out).Lookup("speculativeAuthenticate").DocumentOK()
			if !ok {
				t.Fatalf("no speculativeAuthenticate in %v", closeDoc(out))
			}
			r := replyOf(t, spec[4:len(spec)-1])
			if r.conversationID != 1 || r.done {
				t.Fatalf("speculative reply %+v", r)
			}
			final, err := cc.Step(string(r.payload))
			if err != nil {
				t.Fatal(err)
			}
			out, err = c.SaslContinue(nil, saslContinueCmd([]byte(final)))
			if err != nil {
				t.Fatal(err)
			}
			if r := replyOf(t, out); !r.done {
				t.Fatalf("not done: %+v", r)
			}
			if c.User() == nil || c.User().FullName() != "alice@admin" {
				t.Fatalf("user %v", c.User())
			}
		})
	}
}

// TestSpeculativeIgnoredOrRefused: a speculative start that fails leaves hello without the
// field and the client free to authenticate; only a malformed field is an error.
func TestSpeculativeIgnoredOrRefused(t *testing.T) {
	us := usersFrom(t, nil, alice)
	cc := clientFor(t, MechanismSHA256, "mallory", "x")
	unknownFirst, _ := cc.Step("")
	tests := []struct {
		name     string
		hello    bsoncore.Document
		wantCode mongoerr.Code
		wantMsg  string
	}{
		{"no field", bsoncore.NewDocumentBuilder().AppendInt32("hello", 1).Build(), 0, ""},
		{"unknown user", helloWith("speculativeAuthenticate", docValue(speculativeStart(MechanismSHA256, "admin", []byte(unknownFirst)))), 0, ""},
		{"no db", helloWith("speculativeAuthenticate", docValue(speculativeStart(MechanismSHA256, "", []byte(unknownFirst)))), 0, ""},
		{"mechanism not enabled", helloWith("speculativeAuthenticate", docValue(speculativeStart("PLAIN", "admin", []byte("x")))), 0, ""},
		{"malformed saslStart", helloWith("speculativeAuthenticate", docValue(bsoncore.NewDocumentBuilder().
			AppendInt32("saslStart", 1).AppendString("db", "admin").Build())), 0, ""},
		{"X.509 authenticate", helloWith("speculativeAuthenticate", docValue(bsoncore.NewDocumentBuilder().
			AppendInt32("authenticate", 1).AppendString("mechanism", "MONGODB-X509").Build())), 0, ""},
		{"not a document", helloWith("speculativeAuthenticate", bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 1)}),
			mongoerr.BadValue, "hello.speculativeAuthenticate must be an Object"},
		{"empty document", helloWith("speculativeAuthenticate", docValue(bsoncore.NewDocumentBuilder().Build())),
			mongoerr.BadValue, "hello.speculativeAuthenticate must be a non-empty Object"},
		{"another command", helloWith("speculativeAuthenticate", docValue(bsoncore.NewDocumentBuilder().AppendInt32("find", 1).Build())),
			codeUnknownSpeculative, "hello.speculativeAuthenticate unknown command: find"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAuth(t, us).NewConversation("127.0.0.1:1")
			out, err := c.AppendSpeculative([]byte("prefix"), tt.hello)
			if codeOf(err) != tt.wantCode || msgOf(err) != tt.wantMsg {
				t.Fatalf("got %v, want %d %q", err, tt.wantCode, tt.wantMsg)
			}
			if string(out) != "prefix" {
				t.Fatalf("appended %q", out)
			}
			if c.User() != nil {
				t.Fatal("authenticated")
			}
		})
	}
}

func TestSaslSupportedMechs(t *testing.T) {
	us := usersFrom(t, nil, alice, bob)
	internal, err := InternalUser("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) bsoncore.Value {
		return bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, s)}
	}
	tests := []struct {
		name     string
		value    bsoncore.Value
		want     []string // nil: no field
		wantCode mongoerr.Code
	}{
		{"both mechanisms", str("admin.alice"), []string{MechanismSHA1, MechanismSHA256}, 0},
		{"SCRAM-SHA-256 only", str("test.bob"), []string{MechanismSHA256}, 0},
		{"the internal user", str("local.__system"), []string{MechanismSHA1, MechanismSHA256}, 0},
		{"a user name with a dot", str("admin.alice.x"), nil, 0},
		{"unknown user", str("admin.mallory"), nil, 0},
		{"no database", str("alice"), nil, mongoerr.BadValue},
		{"not a string", bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 1)}, nil, mongoerr.TypeMismatch},
	}
	a := NewAuthenticator(us, internal, newAuth(t, us).log)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := a.AppendSaslSupportedMechs(nil, helloWith("saslSupportedMechs", tt.value))
			if codeOf(err) != tt.wantCode {
				t.Fatalf("got %v, want code %d", err, tt.wantCode)
			}
			arr, ok := closeDoc(out).Lookup("saslSupportedMechs").ArrayOK()
			if tt.want == nil {
				if ok {
					t.Fatalf("unexpected field %v", arr)
				}
				return
			}
			vals, _ := arr.Values()
			var got []string
			for _, v := range vals {
				got = append(got, v.StringValue())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
