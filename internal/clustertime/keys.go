package clustertime

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// RotationSecs is how long one key signs: a key covers the cluster times of one period this long
// (KeysRotationIntervalSec's default, 90 days, keys_collection_manager.cpp).
const RotationSecs = 90 * 24 * 60 * 60

// rangeMask: one proof covers every time that differs only in these low bits of the increment,
// so that a busy clock does not need an HMAC per tick (time_proof_service.cpp's kRangeMask).
const rangeMask = 0xFFFF

// keyLabel separates the cluster-time keys from any other use of the same secret.
const keyLabel = "mongos-lite $clusterTime HMAC key"

// Keys sign cluster times and check the signatures clients send back, as mongod's
// LogicalTimeValidator does with the keys of admin.system.keys. Instead of a keys collection,
// every key is derived from one secret: the key of a period is HMAC-SHA256(secret, label ||
// period start), and its id is the period's start as a timestamp. Servers that hold the same
// secret (routers given the same key file) derive the same keys, with nothing to store or share,
// and the key changes by itself every RotationSecs of cluster time.
type Keys struct {
	secret []byte

	// last caches the latest proof computed, as TimeProofService caches its last one.
	last atomic.Pointer[proof]
	// signed is the highest time signed (LogicalTimeValidator's _lastSeenValidTime): a time at or
	// below it needs no check, it cannot move the clock past what this server handed out.
	signed atomic.Uint64
}

type proof struct {
	ceil  uint64 // the time with rangeMask set: what the HMAC covers
	keyID int64
	hash  [hashLen]byte
}

// NewKeys derives the keys from secret (for the router: its key file's key).
func NewKeys(secret []byte) *Keys { return &Keys{secret: append([]byte(nil), secret...)} }

// RandomKeys derives the keys from a secret of this process alone: only it can check what it
// signs (a memshard set, as a replica set whose keys no other set holds).
func RandomKeys() *Keys {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+)
	return &Keys{secret: secret}
}

// Sign signs ts with the key of its period.
func (k *Keys) Sign(ts bson.Timestamp) Signature {
	p := k.proof(ts)
	for t := key(ts); ; {
		cur := k.signed.Load()
		if cur >= t || k.signed.CompareAndSwap(cur, t) {
			break
		}
	}
	return Signature{Hash: p.hash, KeyID: p.keyID}
}

// Verify checks a client's signed time (LogicalTimeValidator::validate): a time not above the
// highest this server signed passes; otherwise the key id must name the key of the time's period
// (KeyNotFound) and the proof must be that key's HMAC of the time (TimeProofMismatch). The dummy
// signature names key 0, which never exists.
func (k *Keys) Verify(s Signed) error {
	if key(s.Time) <= k.signed.Load() {
		return nil
	}
	p := k.proof(s.Time)
	if s.KeyID != p.keyID {
		// KeysCollectionManager::getKeysForValidation's message; the purpose is "HMAC".
		return mongoerr.New(mongoerr.KeyNotFound, "No keys found for HMAC that is valid for time: %s with id: %d",
			logicalTime(s.Time), s.KeyID)
	}
	if subtle.ConstantTimeCompare(p.hash[:], s.Hash[:]) != 1 {
		return mongoerr.New(mongoerr.TimeProofMismatch, "Proof does not match the cluster time")
	}
	return nil
}

// proof is the HMAC-SHA1 of the time's range ceiling, little-endian, under its period's key
// (TimeProofService::getProof).
func (k *Keys) proof(ts bson.Timestamp) *proof {
	ceil := key(ts) | rangeMask
	if p := k.last.Load(); p != nil && p.ceil == ceil {
		return p
	}
	start := ts.T - ts.T%RotationSecs
	kdf := hmac.New(sha256.New, k.secret)
	kdf.Write([]byte(keyLabel))
	kdf.Write(binary.BigEndian.AppendUint32(nil, start))
	mac := hmac.New(sha1.New, kdf.Sum(nil)[:hashLen])
	mac.Write(binary.LittleEndian.AppendUint64(nil, ceil))
	p := &proof{ceil: ceil, keyID: int64(uint64(start)<<32 | 1)}
	mac.Sum(p.hash[:0])
	k.last.Store(p)
	return p
}
