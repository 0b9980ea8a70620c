package router

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/drivertest"
	"github.com/mongos-lite/mongos-lite/internal/testcerts"
)

// x509Subject is the subject of the test's client certificate as mongod prints it.
const x509Subject = "CN=client,OU=KernelUser,O=MongoDB,L=New York City,ST=New York,C=US"

// x509Router is a router with --auth whose only user is x509Subject on $external (readWrite on
// test), serving TLS and plain connections with client certificates verified against the CA.
func x509Router(t *testing.T, certs *testcerts.Set) (addr string, logs *logBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := auth.AddUser(path, auth.UserEntry{User: x509Subject, DB: auth.ExternalDB,
		Roles: []auth.RoleRef{{Role: "readWrite", DB: "test"}}}); err != nil {
		t.Fatal(err)
	}
	users, err := auth.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	return tlsCluster(t, nil, nil, func(cfg *Config) {
		cfg.TLS, cfg.TLSMode = certs.ServerConfig(), TLSAllow
		cfg.Auth = auth.NewAuthenticator(users, nil, cfg.Logger)
	})
}

// x509Client connects the official driver; tlsCfg nil is a plain connection. One connection,
// so that a command's authentication is the next command's.
func x509Client(t *testing.T, addr string, tlsCfg *tls.Config, cred *options.Credential) *mongo.Client {
	t.Helper()
	opts := options.Client().ApplyURI("mongodb://" + addr + "/").SetServerSelectionTimeout(15 * time.Second).
		SetMaxPoolSize(1)
	if tlsCfg != nil {
		opts.SetTLSConfig(tlsCfg)
	}
	if cred != nil {
		opts.SetAuth(*cred)
	}
	return drivertest.Connect(t, opts)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// checkX509User checks the client works as x509Subject: its role applies and its sessions
// carry the uid of x509Subject@$external.
func checkX509User(t *testing.T, cl *mongo.Client) {
	t.Helper()
	ctx := ctxFor(t)
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := cl.Database("test").Collection("c").InsertOne(sctx, bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatalf("insert into test as %s: %v", x509Subject, err)
	}
	var ce mongo.CommandError
	if _, err := cl.Database("other").Collection("c").InsertOne(ctx, bson.D{}); !errors.As(err, &ce) || ce.Code != 13 {
		t.Fatalf("insert into other: %v, want Unauthorized", err)
	}
	cur, err := cl.Database("admin").Aggregate(sctx, bson.A{bson.D{{Key: "$listLocalSessions", Value: bson.D{}}}})
	if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		ID struct {
			UID bson.Binary `bson:"uid"`
		} `bson:"_id"`
	}
	if err := cur.All(ctx, &recs); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(x509Subject + "@$external"))
	if len(recs) == 0 {
		t.Fatal("no session listed")
	}
	for _, r := range recs {
		if string(r.ID.UID.Data) != string(want[:]) {
			t.Fatalf("session uid %x, want SHA-256(%q)", r.ID.UID.Data, x509Subject+"@$external")
		}
	}
}

// TestDriverX509: the official driver authenticates with MONGODB-X509 (speculatively in hello,
// with and without a user name) and the router answers failures as mongod does.
func TestDriverX509(t *testing.T) {
	checkLeaks(t)
	certs := testcerts.New(t)
	kernel, _ := certs.NewClient(t, pkix.Name{Country: []string{"US"}, Province: []string{"New York"},
		Locality: []string{"New York City"}, Organization: []string{"MongoDB"},
		OrganizationalUnit: []string{"KernelUser"}, CommonName: "client"})
	kernelTLS := certs.ClientConfig(false)
	kernelTLS.Certificates = []tls.Certificate{kernel}
	addr, logs := x509Router(t, certs)
	x509 := &options.Credential{AuthMechanism: auth.MechanismX509}

	// The driver sends no user name (the subject is the user) and authenticates in hello.
	t.Run("driver, speculative", func(t *testing.T) {
		checkX509User(t, x509Client(t, addr, kernelTLS, x509))
	})
	waitLog(t, logs, `"mechanism":"MONGODB-X509","speculative":true,"principalName":"`+x509Subject+`","authenticationDatabase":"$external"`)

	for _, user := range []string{"", x509Subject} {
		t.Run("authenticate command, user "+user, func(t *testing.T) {
			cl := x509Client(t, addr, kernelTLS, nil)
			var reply struct {
				DBName string `bson:"dbname"`
				User   string `bson:"user"`
			}
			if err := authenticateX509(t, cl, "$external", user).Decode(&reply); err != nil || reply.DBName != "$external" || reply.User != x509Subject {
				t.Fatalf("authenticate: %+v, %v", reply, err)
			}
			checkX509User(t, cl)
		})
	}

	for _, tc := range []struct {
		name    string
		tls     *tls.Config
		user    string
		db      string // of the authenticate command; "": $external
		code    int32
		msg     string
		logWhy  string
		command bool // the authenticate command on an unauthenticated client, not the driver's handshake
	}{
		{"wrong user", kernelTLS, "CN=someone else", "", 18, "There is no x.509 client certificate matching the user.", "", true},
		{"subject not a user", certs.ClientConfig(true), "", "", 18, "Authentication failed.", `"principalName":"CN=client","authenticationDatabase":"$external","remote":`, false},
		{"no client certificate", certs.ClientConfig(false), "", "", 18, "No verified subject name available from client", "no verified client certificate", false},
		{"plain connection", nil, "", "", 17, "SSL support is required for the MONGODB-X509 mechanism.", "not a TLS connection", false},
		{"not on $external", kernelTLS, "", "admin", 17, "X.509 authentication must always use the $external database.", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.command {
				db := "$external"
				if tc.db != "" {
					db = tc.db
				}
				err = authenticateX509(t, x509Client(t, addr, tc.tls, nil), db, tc.user).Err()
			} else {
				err = x509Client(t, addr, tc.tls, x509).Ping(ctxFor(t), nil)
			}
			var ce mongo.CommandError
			if err == nil || !errors.As(err, &ce) || ce.Code != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want code %d %q\n%s", err, tc.code, tc.msg, logs)
			}
			if tc.logWhy != "" {
				waitLog(t, logs, tc.logWhy)
			}
		})
	}
}

// authenticateX509 runs the authenticate command (user "": none) on db.
func authenticateX509(t *testing.T, cl *mongo.Client, db, user string) *mongo.SingleResult {
	t.Helper()
	cmd := bson.D{{Key: "authenticate", Value: 1}, {Key: "mechanism", Value: auth.MechanismX509}}
	if user != "" {
		cmd = append(cmd, bson.E{Key: "user", Value: user})
	}
	return cl.Database(db).RunCommand(ctxFor(t), cmd)
}

// TestAuthenticateWithoutAuth: without --auth, authenticate answers as saslStart does.
func TestAuthenticateWithoutAuth(t *testing.T) {
	checkLeaks(t)
	certs := testcerts.New(t)
	addr, _ := tlsCluster(t, nil, nil, func(cfg *Config) { cfg.TLS = certs.ServerConfig() })
	err := authenticateX509(t, x509Client(t, addr, certs.ClientConfig(true), nil), "$external", "").Err()
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 18 || !strings.Contains(ce.Message, "Authentication is not enabled on this router") {
		t.Fatalf("authenticate without --auth: %v", err)
	}
}
