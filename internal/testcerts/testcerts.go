// Package testcerts makes throwaway TLS material for tests: a CA, and server and client
// certificates it signs (more client certificates with chosen subjects on demand), all ECDSA
// P-256 and valid for 127.0.0.1 and localhost. Nothing is checked in; every call makes new keys.
package testcerts

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Set is a CA with one server and one client certificate.
type Set struct {
	Pool   *x509.CertPool // trusts the CA
	CAPEM  []byte         // the CA certificate
	Server tls.Certificate
	Client tls.Certificate
	// ServerPEM and ClientPEM hold certificate and key together, as --tls-cert-key-file reads them.
	ServerPEM, ClientPEM []byte

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	serial atomic.Int64 // the last serial number signed
}

// New makes a fresh CA and its two leaf certificates; t fails on any error.
func New(t testing.TB) *Set {
	t.Helper()
	caKey := newKey(t)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mongos-lite test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("testcerts: CA: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("testcerts: CA: %v", err)
	}
	s := &Set{Pool: x509.NewCertPool(), CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		ca: ca, caKey: caKey}
	s.serial.Store(1)
	s.Pool.AddCert(ca)
	s.Server, s.ServerPEM = s.leaf(t, pkix.Name{CommonName: "server"}, x509.ExtKeyUsageServerAuth)
	s.Client, s.ClientPEM = s.leaf(t, pkix.Name{CommonName: "client"}, x509.ExtKeyUsageClientAuth)
	return s
}

// NewClient signs one more client certificate, with the given subject (for MONGODB-X509, whose
// user name is the subject); it returns the pair and its PEM (certificate and key).
func (s *Set) NewClient(t testing.TB, subject pkix.Name) (tls.Certificate, []byte) {
	t.Helper()
	return s.leaf(t, subject, x509.ExtKeyUsageClientAuth)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testcerts: key: %v", err)
	}
	return k
}

// leaf signs a certificate for 127.0.0.1 and localhost with the given usage.
func (s *Set) leaf(t testing.TB, subject pkix.Name, usage x509.ExtKeyUsage) (tls.Certificate, []byte) {
	t.Helper()
	name := subject.String()
	key := newKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(s.serial.Add(1)),
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, &key.PublicKey, s.caKey)
	if err != nil {
		t.Fatalf("testcerts: %s: %v", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("testcerts: %s key: %v", name, err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatalf("testcerts: %s: %v", name, err)
	}
	return pair, append(certPEM, keyPEM...)
}

// ServerConfig is the server side: the server certificate, and client certificates verified
// against the CA when a client presents one.
func (s *Set) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.Server}, ClientCAs: s.Pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
}

// ClientConfig trusts the CA; withCert adds the client certificate.
func (s *Set) ClientConfig(withCert bool) *tls.Config {
	cfg := &tls.Config{RootCAs: s.Pool, MinVersion: tls.VersionTLS12}
	if withCert {
		cfg.Certificates = []tls.Certificate{s.Client}
	}
	return cfg
}

// Files are the set written as PEM files, for flags that take paths.
type Files struct {
	CA, Server, Client string // Server and Client hold certificate and key
}

// WriteFiles writes ca.pem, server.pem and client.pem into dir (mode 0600).
func (s *Set) WriteFiles(t testing.TB, dir string) Files {
	t.Helper()
	f := Files{CA: filepath.Join(dir, "ca.pem"), Server: filepath.Join(dir, "server.pem"), Client: filepath.Join(dir, "client.pem")}
	for path, data := range map[string][]byte{f.CA: s.CAPEM, f.Server: s.ServerPEM, f.Client: s.ClientPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatalf("testcerts: %v", err)
		}
	}
	return f
}
