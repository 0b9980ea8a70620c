package auth

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/xdg-go/scram"
	"github.com/xdg-go/stringprep"
)

// The SASL mechanisms served (MONGODB-X509, not a SASL mechanism, is the authenticate command's:
// x509.go). mongod's other mechanisms (PLAIN, GSSAPI...) are "not enabled" here.
const (
	MechanismSHA1   = "SCRAM-SHA-1"
	MechanismSHA256 = "SCRAM-SHA-256"
)

// mechanisms lists the served mechanisms in the order mongod advertises them in
// saslSupportedMechs.
var mechanisms = []string{MechanismSHA1, MechanismSHA256}

// Iteration counts and salt lengths as mongod generates them: scramIterationCount (10000) and
// scramSHA256IterationCount (15000) defaults; salts of the hash size minus 4 bytes.
const (
	sha1Iterations   = 10000
	sha256Iterations = 15000
	sha1SaltLen      = 16
	sha256SaltLen    = 28
	// minIterations is the least mongod (and the Go driver's client) accepts.
	minIterations = 4096
)

// ScramCredential is one mechanism's stored credential, base64 fields as in mongod's
// admin.system.users documents. No password can be recovered from it.
type ScramCredential struct {
	IterationCount int    `yaml:"iterationCount"`
	Salt           string `yaml:"salt"`
	StoredKey      string `yaml:"storedKey"`
	ServerKey      string `yaml:"serverKey"`
}

// Credentials are a user's SCRAM credentials, one per mechanism it may use.
type Credentials struct {
	SHA1   *ScramCredential `yaml:"SCRAM-SHA-1,omitempty"`
	SHA256 *ScramCredential `yaml:"SCRAM-SHA-256,omitempty"`
}

// NewCredentials derives both mechanisms' credentials for user and password with fresh random
// salts, as createUser does: SCRAM-SHA-1 from the MongoDB password digest
// hex(MD5("user:mongo:password")), SCRAM-SHA-256 from the SASLprep'd password.
func NewCredentials(user, password string) (Credentials, error) {
	if password == "" {
		return Credentials{}, errors.New("password must not be empty")
	}
	prepped, err := stringprep.SASLprep.Prepare(password)
	if err != nil {
		return Credentials{}, fmt.Errorf("password cannot be SASLprep'd for SCRAM-SHA-256: %w", err)
	}
	sha1, err := derive(scram.SHA1, passwordDigest(user, password), randomSalt(sha1SaltLen), sha1Iterations)
	if err != nil {
		return Credentials{}, err
	}
	sha256, err := derive(scram.SHA256, prepped, randomSalt(sha256SaltLen), sha256Iterations)
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{SHA1: &sha1, SHA256: &sha256}, nil
}

// passwordDigest is MongoDB's password digest (the SCRAM-SHA-1 password, and what the key file's
// internal user authenticates SCRAM-SHA-1 with).
func passwordDigest(user, password string) string {
	sum := md5.Sum([]byte(user + ":mongo:" + password))
	return hex.EncodeToString(sum[:])
}

// derive salts and stretches an already prepared password with the SCRAM client's own key
// derivation, so that server and client agree by construction.
func derive(h scram.HashGeneratorFcn, password string, salt []byte, iterations int) (ScramCredential, error) {
	client, err := h.NewClientUnprepped("", password, "")
	if err != nil {
		return ScramCredential{}, err
	}
	sc, err := client.GetStoredCredentialsWithError(scram.KeyFactors{Salt: string(salt), Iters: iterations})
	if err != nil {
		return ScramCredential{}, err
	}
	enc := base64.StdEncoding.EncodeToString
	return ScramCredential{IterationCount: iterations, Salt: enc(salt),
		StoredKey: enc(sc.StoredKey), ServerKey: enc(sc.ServerKey)}, nil
}

// randomSalt is n bytes from crypto/rand, which never fails on supported platforms (Go 1.24+
// aborts the program rather than return an error).
func randomSalt(n int) []byte {
	salt := make([]byte, n)
	_, _ = rand.Read(salt)
	return salt
}

// stored decodes the credential for a SCRAM server of hash h, checking what mongod's
// CredentialData::isValid checks.
func (c *ScramCredential) stored(h scram.HashGeneratorFcn) (scram.StoredCredentials, error) {
	dec := base64.StdEncoding.DecodeString
	salt, err := dec(c.Salt)
	if err != nil || len(salt) == 0 {
		return scram.StoredCredentials{}, errors.New("salt is not base64")
	}
	size := h().Size()
	stored, err := dec(c.StoredKey)
	if err != nil || len(stored) != size {
		return scram.StoredCredentials{}, fmt.Errorf("storedKey is not %d base64 bytes", size)
	}
	server, err := dec(c.ServerKey)
	if err != nil || len(server) != size {
		return scram.StoredCredentials{}, fmt.Errorf("serverKey is not %d base64 bytes", size)
	}
	if c.IterationCount < minIterations {
		return scram.StoredCredentials{}, fmt.Errorf("iterationCount %d is below %d", c.IterationCount, minIterations)
	}
	return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(salt), Iters: c.IterationCount},
		StoredKey: stored, ServerKey: server}, nil
}
