package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// OIDs of the attribute types the tests' subjects use.
var (
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidST    = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidL     = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidDC    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID   = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
)

// rdns is a subject with one attribute per RDN, in the certificate's (ASN.1) order.
func rdns(pairs ...any) pkix.RDNSequence {
	var seq pkix.RDNSequence
	for i := 0; i < len(pairs); i += 2 {
		seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: pairs[i].(asn1.ObjectIdentifier), Value: pairs[i+1]}})
	}
	return seq
}

func rawName(t testing.TB, seq pkix.RDNSequence) []byte {
	t.Helper()
	raw, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// kernelUser is the subject of mongod's own test client certificate (jstests/libs/client.pem).
const kernelUser = "CN=client,OU=KernelUser,O=MongoDB,L=New York City,ST=New York,C=US"

func kernelUserName() pkix.RDNSequence {
	return rdns(oidC, "US", oidST, "New York", oidL, "New York City", oidO, "MongoDB", oidOU, "KernelUser", oidCN, "client")
}

func TestSubjectName(t *testing.T) {
	multi := pkix.RDNSequence{{{Type: oidCN, Value: "a"}, {Type: oidUID, Value: "b"}}, {{Type: oidO, Value: "org"}}}
	for _, tt := range []struct {
		name string
		seq  pkix.RDNSequence
		want string
	}{
		{"most specific first", kernelUserName(), kernelUser},
		{"the certificate's own order is kept", rdns(oidCN, "client", oidO, "MongoDB"), "O=MongoDB,CN=client"},
		{"emailAddress, DC and UID by name", rdns(oidDC, "org", oidDC, "example", oidUID, "u1", oidEmail, "a@example.org"),
			"emailAddress=a@example.org,UID=u1,DC=example,DC=org"},
		{"multi-valued RDN", multi, "O=org,CN=a+UID=b"},
		{"special characters", rdns(oidCN, `a,b+c"d\e<f>g;h`), `CN=a\,b\+c\"d\\e\<f\>g\;h`},
		{"leading #", rdns(oidCN, "#x"), `CN=\#x`},
		{"leading and trailing space", rdns(oidCN, " ab "), `CN=\ ab\ `},
		{"short trailing space is not escaped (as mongod)", rdns(oidCN, "a "), "CN=a "},
		{"non-ASCII bytes as hex", rdns(oidCN, "é"), `CN=\C3\A9`},
		{"unknown type as its OID", rdns(asn1.ObjectIdentifier{1, 2, 3, 4}, "v"), "1.2.3.4=v"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SubjectName(rawName(t, tt.seq))
			if err != nil || got != tt.want {
				t.Fatalf("SubjectName = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	for name, raw := range map[string][]byte{
		"not DER":        {0x30, 0x05, 0x01},
		"empty sequence": {0x30, 0x00},
		"trailing data":  append(rawName(t, kernelUserName()), 0),
	} {
		if got, err := SubjectName(raw); err == nil {
			t.Errorf("%s: SubjectName = %q, want an error", name, got)
		}
	}
}

// x509Users is alice (SCRAM on admin) and kernelUser on $external (no credentials).
func x509Users(t testing.TB) *Users {
	t.Helper()
	return loadFile(t, File{Users: []UserEntry{
		{User: alice.user, DB: alice.db, Roles: alice.roles, Credentials: cachedCredentials(t, alice.user, alice.password)},
		{User: kernelUser, DB: ExternalDB, Roles: []RoleRef{{"read", "test"}}},
	}})
}

// verifiedPeer is the TLS state of a client whose certificate, of subject seq, was verified.
func verifiedPeer(t *testing.T, seq pkix.RDNSequence) *tls.ConnectionState {
	cert := &x509.Certificate{RawSubject: rawName(t, seq)}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}, VerifiedChains: [][]*x509.Certificate{{cert}}}
}

func authenticateCmd(fields ...string) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("authenticate", 1)
	for i := 0; i < len(fields); i += 2 {
		b.AppendString(fields[i], fields[i+1])
	}
	return b.Build()
}

func TestAuthenticateX509(t *testing.T) {
	us := x509Users(t)
	kernel := verifiedPeer(t, kernelUserName())
	stranger := verifiedPeer(t, rdns(oidCN, "stranger"))
	unverified := &tls.ConnectionState{PeerCertificates: kernel.PeerCertificates}
	x509Cmd := authenticateCmd("mechanism", MechanismX509)
	for _, tt := range []struct {
		name     string
		peer     *tls.ConnectionState
		db       string
		cmd      bsoncore.Document
		code     mongoerr.Code
		msg      string
		scramFor bool // log in as alice with SCRAM first
	}{
		{"subject from the certificate", kernel, ExternalDB, x509Cmd, 0, "", false},
		{"explicit user", kernel, ExternalDB, authenticateCmd("mechanism", MechanismX509, "user", kernelUser, "$db", ExternalDB), 0, "", false},
		{"another user", kernel, ExternalDB, authenticateCmd("mechanism", MechanismX509, "user", "CN=client"),
			mongoerr.AuthenticationFailed, "There is no x.509 client certificate matching the user.", false},
		{"subject not a user", stranger, ExternalDB, x509Cmd, mongoerr.AuthenticationFailed, authenticationFailed, false},
		{"plain connection", nil, ExternalDB, x509Cmd, mongoerr.ProtocolError, "SSL support is required for the MONGODB-X509 mechanism.", false},
		{"no verified certificate", &tls.ConnectionState{}, ExternalDB, x509Cmd,
			mongoerr.AuthenticationFailed, "No verified subject name available from client", false},
		{"certificate not verified", unverified, ExternalDB, x509Cmd,
			mongoerr.AuthenticationFailed, "No verified subject name available from client", false},
		{"not on $external", kernel, "admin", x509Cmd, mongoerr.ProtocolError, "X.509 authentication must always use the $external database.", false},
		{"no mechanism", kernel, ExternalDB, authenticateCmd(), mongoerr.IDLFailedToParse,
			"BSON field 'authenticate.mechanism' is missing but a required field", false},
		{"empty mechanism", kernel, ExternalDB, authenticateCmd("mechanism", ""), mongoerr.BadValue, "Auth mechanism not specified", false},
		{"SCRAM mechanism", kernel, ExternalDB, authenticateCmd("mechanism", MechanismSHA256), mongoerr.BadValue, "Unsupported mechanism: SCRAM-SHA-256", false},
		{"unknown field", kernel, ExternalDB, authenticateCmd("mechanism", MechanismX509, "pwd", "x"), mongoerr.IDLUnknownField,
			"BSON field 'authenticate.pwd' is an unknown field.", false},
		{"user not a string", kernel, ExternalDB, bsoncore.NewDocumentBuilder().AppendInt32("authenticate", 1).
			AppendString("mechanism", MechanismX509).AppendInt32("user", 1).Build(), mongoerr.TypeMismatch,
			"BSON field 'authenticate.user' is the wrong type 'int', expected type 'string'", false},
		{"already another user", kernel, ExternalDB, x509Cmd, codeReauthOtherDB,
			"Client has attempted to authenticate on multiple databases.Already authenticated as: alice@admin", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conv := newAuth(t, us).NewConversation("127.0.0.1:1")
			if tt.scramFor {
				if err := login(t, conv, MechanismSHA256, alice.user, alice.password, true); err != nil {
					t.Fatal(err)
				}
			}
			conv.SetPeer(tt.peer)
			out, err := conv.Authenticate([]byte("prefix"), tt.db, tt.cmd)
			if codeOf(err) != tt.code || msgOf(err) != tt.msg {
				t.Fatalf("Authenticate: %v; want %d %q", err, tt.code, tt.msg)
			}
			if tt.code != 0 {
				if string(out) != "prefix" {
					t.Fatalf("a failure appended %q", out)
				}
				if u := conv.User(); u != nil && !tt.scramFor {
					t.Fatalf("a failure authenticated %s", u.FullName())
				}
				return
			}
			reply := closeDoc(out[len("prefix"):])
			if db, _ := reply.Lookup("dbname").StringValueOK(); db != ExternalDB {
				t.Fatalf("reply %v", reply)
			}
			if user, _ := reply.Lookup("user").StringValueOK(); user != kernelUser {
				t.Fatalf("reply %v", reply)
			}
			u := conv.User()
			if u == nil || u.FullName() != kernelUser+"@$external" || !u.Can("find", NSResource("test", "c")) || u.Can("insert", NSResource("test", "c")) {
				t.Fatalf("authenticated as %+v", u)
			}
			// Authenticating again as the same user is allowed, as on mongod.
			if _, err := conv.Authenticate(nil, ExternalDB, x509Cmd); err != nil {
				t.Fatalf("second authenticate: %v", err)
			}
		})
	}
}

// TestSpeculativeX509: hello's speculativeAuthenticate carrying an authenticate runs it on
// $external (whatever its db says) and answers {dbname, user}; a failure appends nothing.
func TestSpeculativeX509(t *testing.T) {
	us := x509Users(t)
	spec := func(db string, user ...string) bsoncore.Document {
		fields := append([]string{"mechanism", MechanismX509, "db", db}, user...)
		return helloWith("speculativeAuthenticate", docValue(authenticateCmd(fields...)))
	}
	kernel := verifiedPeer(t, kernelUserName())
	for _, tt := range []struct {
		name  string
		peer  *tls.ConnectionState
		hello bsoncore.Document
		ok    bool
	}{
		{"verified user", kernel, spec(ExternalDB), true},
		{"explicit user", kernel, spec(ExternalDB, "user", kernelUser), true},
		{"db is ignored", kernel, spec("admin"), true},
		{"another user", kernel, spec(ExternalDB, "user", "CN=client"), false},
		{"unknown subject", verifiedPeer(t, rdns(oidCN, "stranger")), spec(ExternalDB), false},
		{"plain connection", nil, spec(ExternalDB), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conv := newAuth(t, us).NewConversation("127.0.0.1:1")
			conv.SetPeer(tt.peer)
			out, err := conv.AppendSpeculative(nil, tt.hello)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.ok {
				if len(out) != 0 || conv.User() != nil {
					t.Fatalf("a failed speculative authenticate appended %q, user %v", out, conv.User())
				}
				return
			}
			got, ok := closeDoc(out).Lookup("speculativeAuthenticate").DocumentOK()
			if !ok {
				t.Fatalf("no speculativeAuthenticate in %v", closeDoc(out))
			}
			if db, _ := got.Lookup("dbname").StringValueOK(); db != ExternalDB {
				t.Fatalf("speculativeAuthenticate %v", got)
			}
			if user, _ := got.Lookup("user").StringValueOK(); user != kernelUser || conv.User() == nil || conv.User().Name != kernelUser {
				t.Fatalf("speculativeAuthenticate %v, user %v", got, conv.User())
			}
		})
	}
}

// TestExternalUsers: $external users have no credentials, and the file refuses any.
func TestExternalUsers(t *testing.T) {
	creds := cachedCredentials(t, "x", "pw")
	for _, tt := range []struct {
		name    string
		entry   UserEntry
		wantErr string
	}{
		{"$external without credentials", UserEntry{User: kernelUser, DB: ExternalDB}, ""},
		{"$external with credentials", UserEntry{User: "x", DB: ExternalDB, Credentials: creds},
			"users on $external authenticate with MONGODB-X509 and have no SCRAM credentials"},
		{"admin without credentials", UserEntry{User: "x", DB: "admin"}, "no SCRAM credentials"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data, err := yaml.Marshal(&File{Users: []UserEntry{tt.entry}})
			if err != nil {
				t.Fatal(err)
			}
			us, err := ParseUsers(data)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("ParseUsers: %v, want %q", err, tt.wantErr)
			case tt.wantErr == "":
				if u := us.Lookup(tt.entry.User, ExternalDB); u == nil || len(u.Mechanisms()) != 0 {
					t.Fatalf("user %+v", u)
				}
			}
		})
	}
	// SCRAM on $external stays refused, so a credential-less user cannot be logged in with it.
	conv := newAuth(t, x509Users(t)).NewConversation("127.0.0.1:1")
	if _, err := conv.SaslStart(nil, ExternalDB, saslStartCmd(MechanismSHA256, []byte("n,,n=x,r=abc"), false)); codeOf(err) != mongoerr.BadValue {
		t.Fatalf("SCRAM on $external: %v", err)
	}
}
