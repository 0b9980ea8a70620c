package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/internal/testcerts"
	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// parseSecurity runs `serve` with args, its action replaced by reading the security flags.
func parseSecurity(t *testing.T, args ...string) (security, error) {
	t.Helper()
	var sec security
	app := newApp()
	for _, cmd := range app.Commands {
		if cmd.Name == "serve" {
			cmd.Action = func(c *cli.Context) error {
				var err error
				sec, err = securityFromFlags(c)
				return err
			}
		}
	}
	err := app.Run(append([]string{"mongos-lite", "serve"}, args...))
	return sec, err
}

// securityFiles writes what the flags read: certificates, a key file, a password file, a
// file that is no PEM, and a key file others may read.
type securityFiles struct {
	testcerts.Files
	key, keyFile, openKeyFile, passwordFile, notPEM string
}

func writeSecurityFiles(t *testing.T) securityFiles {
	t.Helper()
	dir := t.TempDir()
	f := securityFiles{Files: testcerts.New(t).WriteFiles(t, dir), key: "c2VjdXJpdHktZmxhZ3M=",
		keyFile: filepath.Join(dir, "key"), openKeyFile: filepath.Join(dir, "open-key"),
		passwordFile: filepath.Join(dir, "password"), notPEM: filepath.Join(dir, "not.pem")}
	for path, data := range map[string]string{f.keyFile: f.key + "\n", f.passwordFile: "s3cret\n", f.notPEM: "hello"} {
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(f.openKeyFile, []byte(f.key), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSecurityFlagsRefused(t *testing.T) {
	f := writeSecurityFiles(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--keyfile", f.keyFile, "--shard-username", "u"}, "not both"},
		{[]string{"--shard-username", "u"}, "needs both"},
		{[]string{"--shard-password", "p"}, "needs both"},
		{[]string{"--shard-username", "u", "--shard-password", "p", "--shard-password-file", f.passwordFile}, "not both"},
		{[]string{"--shard-username", "u", "--shard-password-file", filepath.Join(f.passwordFile, "missing")}, "--shard-password-file"},
		{[]string{"--shard-username", "u", "--shard-password", "p", "--shard-auth-mechanism", "PLAIN"}, "--shard-auth-mechanism"},
		{[]string{"--keyfile", f.openKeyFile}, "permissions on " + f.openKeyFile + " are too open"},
		{[]string{"--keyfile", f.notPEM}, "security key in"},
		{[]string{"--shard-tls-ca-file", f.notPEM}, "no PEM certificates"},
		{[]string{"--shard-tls-cert-key-file", f.CA}, "--shard-tls-cert-key-file"},
		{[]string{"--tls-mode", "require"}, "--tls-mode require needs --tls-cert-key-file"},
		{[]string{"--tls-mode", "sometimes", "--tls-cert-key-file", f.Server}, "unknown TLS mode"},
		{[]string{"--tls-ca-file", f.CA}, "--tls-ca-file needs --tls-cert-key-file"},
		{[]string{"--tls-mode", "disabled", "--tls-cert-key-file", f.Server}, "choose allow, prefer or require"},
		{[]string{"--tls-cert-key-file", f.notPEM}, "--tls-cert-key-file"},
		{[]string{"--tls-cert-key-file", f.Server, "--tls-ca-file", f.notPEM}, "no PEM certificates"},
	} {
		_, err := parseSecurity(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestSecurityFlagsApplied(t *testing.T) {
	f := writeSecurityFiles(t)
	config := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(config, []byte("shard-username: cfg\nshard-password: cfg-pw\nshard-auth-source: users\n"+
		"tls-mode: allowTLS\ntls-cert-key-file: "+f.Server+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	internal := shards.InternalCredential(f.key)
	for _, tc := range []struct {
		name       string
		args, env  []string
		auth       *shards.Credential
		shardTLS   bool // a TLS configuration towards the shards
		shardCA    bool // with its own CA pool
		shardCert  bool // with a client certificate
		clientTLS  bool
		mode       router.TLSMode
		clientAuth tls.ClientAuthType
	}{
		{name: "nothing"},
		{name: "key file", args: []string{"--keyfile", f.keyFile}, auth: &internal},
		{name: "password file", args: []string{"--shard-username", "u", "--shard-password-file", f.passwordFile, "--shard-auth-mechanism", auth.MechanismSHA1},
			auth: &shards.Credential{Username: "u", Password: "s3cret", Source: "admin", Mechanism: auth.MechanismSHA1}},
		{name: "environment", env: []string{"MONGOS_LITE_SHARD_USERNAME", "e", "MONGOS_LITE_SHARD_PASSWORD", "e-pw", "MONGOS_LITE_TLS_MODE", "prefer",
			"MONGOS_LITE_TLS_CERT_KEY_FILE", f.Server, "MONGOS_LITE_SHARD_TLS", "true"},
			auth: &shards.Credential{Username: "e", Password: "e-pw", Source: "admin"}, shardTLS: true, clientTLS: true, mode: router.TLSPrefer},
		{name: "config file", args: []string{"--config", config},
			auth: &shards.Credential{Username: "cfg", Password: "cfg-pw", Source: "users"}, clientTLS: true, mode: router.TLSAllow},
		{name: "flags win over the config file", args: []string{"--config", config, "--shard-username", "flag", "--tls-mode", "require"},
			auth: &shards.Credential{Username: "flag", Password: "cfg-pw", Source: "users"}, clientTLS: true, mode: router.TLSRequire},
		{name: "shard TLS", args: []string{"--shard-tls-ca-file", f.CA, "--shard-tls-cert-key-file", f.Client},
			shardTLS: true, shardCA: true, shardCert: true},
		{name: "client TLS, default mode", args: []string{"--tls-cert-key-file", f.Server}, clientTLS: true},
		{name: "client certificates verified", args: []string{"--tls-cert-key-file", f.Server, "--tls-ca-file", f.CA, "--tls-mode", "allow"},
			clientTLS: true, mode: router.TLSAllow, clientAuth: tls.VerifyClientCertIfGiven},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i+1 < len(tc.env); i += 2 {
				t.Setenv(tc.env[i], tc.env[i+1])
			}
			sec, err := parseSecurity(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if (sec.shardAuth == nil) != (tc.auth == nil) || sec.shardAuth != nil && *sec.shardAuth != *tc.auth {
				t.Errorf("shard credential %+v, want %+v", sec.shardAuth, tc.auth)
			}
			checkClusterTimeKeys(t, sec, tc.auth == &internal, f.key)
			if got := sec.shardTLS != nil; got != tc.shardTLS {
				t.Fatalf("shard TLS %v, want %v", got, tc.shardTLS)
			}
			if sec.shardTLS != nil && ((sec.shardTLS.RootCAs != nil) != tc.shardCA || (len(sec.shardTLS.Certificates) == 1) != tc.shardCert) {
				t.Errorf("shard TLS: CAs %v, certificates %d; want CAs %v, certificate %v",
					sec.shardTLS.RootCAs != nil, len(sec.shardTLS.Certificates), tc.shardCA, tc.shardCert)
			}
			if got := sec.clientTLS != nil; got != tc.clientTLS {
				t.Fatalf("client TLS %v, want %v", got, tc.clientTLS)
			}
			if sec.tlsMode != tc.mode {
				t.Errorf("TLS mode %q, want %q", sec.tlsMode, tc.mode)
			}
			if sec.clientTLS != nil && (sec.clientTLS.ClientAuth != tc.clientAuth || len(sec.clientTLS.Certificates) != 1 ||
				(sec.clientTLS.ClientCAs != nil) != (tc.clientAuth != tls.NoClientCert)) {
				t.Errorf("client TLS: auth %v, certificates %d, CAs %v; want auth %v",
					sec.clientTLS.ClientAuth, len(sec.clientTLS.Certificates), sec.clientTLS.ClientCAs != nil, tc.clientAuth)
			}
		})
	}
}

// checkClusterTimeKeys: a key file gives the keys that sign cluster times, the same as every
// other router given that file derives; nothing else does.
func checkClusterTimeKeys(t *testing.T, sec security, fromKeyFile bool, key string) {
	t.Helper()
	if (sec.clusterTimeKeys != nil) != fromKeyFile {
		t.Fatalf("cluster time keys %v, want them %v", sec.clusterTimeKeys != nil, fromKeyFile)
	}
	if !fromKeyFile {
		return
	}
	ts := bson.Timestamp{T: uint32(time.Now().Unix()), I: 1}
	if err := clustertime.NewKeys([]byte(key)).Verify(clustertime.Signed{Time: ts, Signature: sec.clusterTimeKeys.Sign(ts)}); err != nil {
		t.Fatalf("another router with the key file refuses this one's signature: %v", err)
	}
}

// startServe runs `mongos-lite serve` in a child process and returns the router's address,
// read from its "listening" log line.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MONGOS_LITE_TEST_MAIN=1",
		"MONGOS_LITE_TEST_ARGS=serve --port 0 --metrics-addr= --log-level info "+strings.Join(args, " "))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		var entry struct{ Message, Addr string }
		if json.Unmarshal(lines.Bytes(), &entry) == nil && entry.Message == "mongos-lite listening" {
			go func() { // drain the rest so the child never blocks on its stderr
				for lines.Scan() {
				}
			}()
			return entry.Addr
		}
	}
	t.Fatal("serve logged no listening line")
	return ""
}

// insertOver inserts through the router at addr with the official driver.
func insertOver(t *testing.T, addr string, cfg *tls.Config, wait time.Duration) error {
	t.Helper()
	opts := options.Client().ApplyURI("mongodb://" + addr + "/").SetServerSelectionTimeout(wait)
	if cfg != nil {
		opts.SetTLSConfig(cfg)
	}
	cl, err := mongo.Connect(opts)
	if err != nil {
		return err
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cl.Database("test").Collection("c").InsertOne(ctx, bson.D{{Key: "x", Value: 1}})
	return err
}

// TestServeSecured runs the command against a shard that wants TLS with a client certificate
// and the key file: every security flag is read, the router reaches the shard and serves TLS
// clients only.
func TestServeSecured(t *testing.T) {
	f := writeSecurityFiles(t)
	certs := testcerts.New(t)
	files := certs.WriteFiles(t, t.TempDir())
	shardTLS := certs.ServerConfig()
	shardTLS.ClientAuth = tls.RequireAndVerifyClientCert
	rs, err := memshard.StartReplicaSet("rs0", 1, memshard.WithTLS(shardTLS), memshard.WithKeyFile(f.keyFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	addr := startServe(t, "--shard", "s0=rs0/"+strings.Join(rs.Hosts(), ","), "--keyfile", f.keyFile,
		"--shard-tls-ca-file", files.CA, "--shard-tls-cert-key-file", files.Client,
		"--tls-cert-key-file", files.Server, "--tls-ca-file", files.CA)
	if err := insertOver(t, addr, certs.ClientConfig(true), 30*time.Second); err != nil {
		t.Fatalf("TLS client: %v", err)
	}
	if err := insertOver(t, addr, nil, 2*time.Second); err == nil {
		t.Fatal("plain client served by a router requiring TLS")
	}
}

// TestDemoKeyFile: demo's shards take the key file too, so the router authenticates to them.
func TestDemoKeyFile(t *testing.T) {
	f := writeSecurityFiles(t)
	_, uri := startDemo(t, "--keyfile "+f.keyFile)
	if err := insertOver(t, strings.TrimSuffix(strings.TrimPrefix(uri, "mongodb://"), "/"), nil, 30*time.Second); err != nil {
		t.Fatalf("insert through a demo with a key file: %v", err)
	}
}
