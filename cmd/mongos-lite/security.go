package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
)

// securityFlags are authentication and TLS towards the shards and TLS for clients.
func securityFlags() []cli.Flag {
	str := func(name, usage string) cli.Flag {
		return altsrc.NewStringFlag(&cli.StringFlag{Name: name, EnvVars: env(name), Usage: usage})
	}
	return []cli.Flag{
		str("keyfile", "authenticate to the shards as __system@local with this key file, as mongos does (the shards run with the same --keyFile)"),
		str("shard-username", "authenticate to the shards as this user (instead of --keyfile); it needs impersonate for sessions"),
		str("shard-password", "the shard user's password (prefer --shard-password-file or MONGOS_LITE_SHARD_PASSWORD: arguments are visible to other users)"),
		str("shard-password-file", "file holding the shard user's password (one trailing newline ignored)"),
		altsrc.NewStringFlag(&cli.StringFlag{Name: "shard-auth-source", Value: "admin", EnvVars: env("shard-auth-source"),
			Usage: "database of the shard user"}),
		str("shard-auth-mechanism", "SCRAM-SHA-256 or SCRAM-SHA-1 (default: negotiated with the shard)"),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: "shard-tls", EnvVars: env("shard-tls"),
			Usage: "connect to the shards over TLS (implied by --shard-tls-ca-file and --shard-tls-cert-key-file)"}),
		str("shard-tls-ca-file", "PEM CA certificates the shards' certificates must chain to (default: the system's)"),
		str("shard-tls-cert-key-file", "PEM certificate and key the router presents to the shards"),
		str("tls-mode", "client TLS: disabled, allow, prefer or require (default: require with --tls-cert-key-file, else disabled)"),
		str("tls-cert-key-file", "PEM certificate and key the router presents to clients"),
		str("tls-ca-file", "PEM CA certificates that client certificates, when presented, must chain to"),
	}
}

// security is what the security flags say, with every file read and checked up front.
type security struct {
	shardAuth *shards.Credential
	// clusterTimeKeys come from the key file, which every router of the cluster holds, so that
	// they accept each other's signed cluster times (docs/architecture.md, "Cluster time").
	clusterTimeKeys *clustertime.Keys
	shardTLS        *tls.Config
	clientTLS       *tls.Config
	tlsMode         router.TLSMode
}

func securityFromFlags(c *cli.Context) (security, error) {
	var s security
	var err error
	if s.shardAuth, err = shardCredential(c); err != nil {
		return security{}, err
	}
	if s.shardAuth != nil && s.shardAuth.Username == shards.InternalUser {
		s.clusterTimeKeys = clustertime.NewKeys([]byte(s.shardAuth.Password)) // the key file's key
	}
	if s.shardTLS, err = shardTLS(c); err != nil {
		return security{}, err
	}
	if s.clientTLS, s.tlsMode, err = clientTLS(c); err != nil {
		return security{}, err
	}
	return s, nil
}

// shard and router put the settings into a shard's and a router's configuration.
func (s security) shard(cfg *shards.Config) { cfg.Auth, cfg.TLS = s.shardAuth, s.shardTLS }
func (s security) router(cfg *router.Config) {
	cfg.TLS, cfg.TLSMode, cfg.ClusterTimeKeys = s.clientTLS, s.tlsMode, s.clusterTimeKeys
}

func shardCredential(c *cli.Context) (*shards.Credential, error) {
	user, keyFile := c.String("shard-username"), c.String("keyfile")
	password, err := shardPassword(c)
	if err != nil {
		return nil, err
	}
	mech := c.String("shard-auth-mechanism")
	if mech != "" && mech != auth.MechanismSHA256 && mech != auth.MechanismSHA1 {
		return nil, fmt.Errorf("--shard-auth-mechanism %q: want %s or %s", mech, auth.MechanismSHA256, auth.MechanismSHA1)
	}
	switch {
	case keyFile != "" && (user != "" || password != ""):
		return nil, errors.New("--keyfile authenticates as __system@local: give it or --shard-username/--shard-password, not both")
	case keyFile != "":
		key, err := auth.ReadKeyFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("--keyfile: %w", err)
		}
		cred := shards.InternalCredential(key)
		cred.Mechanism = mech
		return &cred, nil
	case user == "" && password == "":
		return nil, nil
	case user == "" || password == "":
		return nil, errors.New("shard authentication needs both --shard-username and a password (--shard-password or --shard-password-file)")
	}
	return &shards.Credential{Username: user, Password: password, Source: c.String("shard-auth-source"), Mechanism: mech}, nil
}

func shardPassword(c *cli.Context) (string, error) {
	password, file := c.String("shard-password"), c.String("shard-password-file")
	if file == "" {
		return password, nil
	}
	if password != "" {
		return "", errors.New("give --shard-password or --shard-password-file, not both")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("--shard-password-file: %w", err)
	}
	password = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
	if password == "" {
		return "", fmt.Errorf("--shard-password-file %s is empty", file)
	}
	return password, nil
}

func shardTLS(c *cli.Context) (*tls.Config, error) {
	caFile, certFile := c.String("shard-tls-ca-file"), c.String("shard-tls-cert-key-file")
	if !c.Bool("shard-tls") && caFile == "" && certFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var err error
	if caFile != "" {
		if cfg.RootCAs, err = loadCAs("--shard-tls-ca-file", caFile); err != nil {
			return nil, err
		}
	}
	if certFile != "" {
		cert, err := loadCertKey("--shard-tls-cert-key-file", certFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func clientTLS(c *cli.Context) (*tls.Config, router.TLSMode, error) {
	certFile, caFile := c.String("tls-cert-key-file"), c.String("tls-ca-file")
	var mode router.TLSMode
	if m := c.String("tls-mode"); m != "" {
		var err error
		if mode, err = router.ParseTLSMode(m); err != nil {
			return nil, "", fmt.Errorf("--tls-mode: %w", err)
		}
	}
	if certFile == "" {
		switch {
		case mode != "" && mode != router.TLSDisabled:
			return nil, "", fmt.Errorf("--tls-mode %s needs --tls-cert-key-file", mode)
		case caFile != "":
			return nil, "", errors.New("--tls-ca-file needs --tls-cert-key-file")
		}
		return nil, mode, nil
	}
	if mode == router.TLSDisabled {
		return nil, "", errors.New("--tls-cert-key-file with --tls-mode disabled: choose allow, prefer or require")
	}
	cert, err := loadCertKey("--tls-cert-key-file", certFile)
	if err != nil {
		return nil, "", err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		if cfg.ClientCAs, err = loadCAs("--tls-ca-file", caFile); err != nil {
			return nil, "", err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, mode, nil
}

// loadCertKey reads a certificate and its key from one PEM file, as mongod's
// --tlsCertificateKeyFile.
func loadCertKey(flag, path string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(path, path)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return cert, nil
}

func loadCAs(flag, path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s %s: no PEM certificates", flag, path)
	}
	return pool, nil
}
