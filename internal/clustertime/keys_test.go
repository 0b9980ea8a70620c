package clustertime

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func wantCode(t *testing.T, err error, code mongoerr.Code) {
	t.Helper()
	if e := mongoerr.As(err); err == nil || e.Code != code {
		t.Fatalf("err = %v, want code %d", err, code)
	}
}

// Two holders of one secret accept each other's signatures; a third with another secret
// accepts neither, and nothing it signs passes them.
func TestKeysSharedSecret(t *testing.T) {
	a, b, other := NewKeys([]byte("the key file")), NewKeys([]byte("the key file")), NewKeys([]byte("another"))
	ts := bson.Timestamp{T: 1_750_000_000, I: 9}
	s := Signed{Time: ts, Signature: a.Sign(ts)}
	if err := b.Verify(s); err != nil {
		t.Fatalf("a peer's signature: %v", err)
	}
	wantCode(t, other.Verify(s), mongoerr.TimeProofMismatch)
	forged := Signed{Time: ts, Signature: other.Sign(ts)}
	wantCode(t, NewKeys([]byte("the key file")).Verify(forged), mongoerr.TimeProofMismatch)
}

func TestKeysVerify(t *testing.T) {
	k := NewKeys([]byte("secret"))
	ts := bson.Timestamp{T: 1_750_000_000, I: 9}
	good := k.Sign(ts)
	later := bson.Timestamp{T: ts.T + 10, I: 1}
	tests := []struct {
		name string
		s    Signed
		code mongoerr.Code
		msg  string
	}{
		{name: "what it signed", s: Signed{Time: ts, Signature: good}},
		{name: "anything not above what it signed", s: Signed{Time: bson.Timestamp{T: ts.T, I: 1}}},
		{name: "within the proof's range", s: Signed{Time: bson.Timestamp{T: ts.T, I: 0xFFFF}, Signature: good}},
		{name: "dummy signature above it", s: Signed{Time: later}, code: mongoerr.KeyNotFound,
			msg: "No keys found for HMAC that is valid for time: { ts: Timestamp(1750000010, 1) } with id: 0"},
		{name: "a signature moved to a later time", s: Signed{Time: later, Signature: good}, code: mongoerr.TimeProofMismatch,
			msg: "Proof does not match the cluster time"},
		{name: "past the proof's range", s: Signed{Time: bson.Timestamp{T: ts.T, I: 0x10000}, Signature: good},
			code: mongoerr.TimeProofMismatch, msg: "Proof does not match the cluster time"},
		{name: "a forged hash", s: Signed{Time: later, Signature: Signature{Hash: [hashLen]byte{1}, KeyID: good.KeyID}},
			code: mongoerr.TimeProofMismatch, msg: "Proof does not match the cluster time"},
		{name: "an unknown key id", s: Signed{Time: later, Signature: Signature{Hash: good.Hash, KeyID: 5}}, code: mongoerr.KeyNotFound,
			msg: "No keys found for HMAC that is valid for time: { ts: Timestamp(1750000010, 1) } with id: 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := k.Verify(tt.s)
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if e := mongoerr.As(err); err == nil || e.Code != tt.code || e.Msg != tt.msg {
				t.Fatalf("Verify = %v, want %d %q", err, tt.code, tt.msg)
			}
		})
	}
}

// The key rotates with the cluster time: a new period has a new key id, and a signature made
// with one period's key does not pass for a time of the next.
func TestKeysRotate(t *testing.T) {
	k := NewKeys([]byte("secret"))
	end := bson.Timestamp{T: 20*RotationSecs - 1, I: 1}
	next := bson.Timestamp{T: 20 * RotationSecs, I: 1}
	a, b := k.Sign(end), k.Sign(next)
	if a.KeyID == b.KeyID || a.KeyID != int64(19*RotationSecs)<<32|1 || b.KeyID != int64(20*RotationSecs)<<32|1 {
		t.Fatalf("key ids %d and %d across a period boundary", a.KeyID, b.KeyID)
	}
	fresh := NewKeys([]byte("secret"))
	wantCode(t, fresh.Verify(Signed{Time: next, Signature: Signature{Hash: a.Hash, KeyID: b.KeyID}}), mongoerr.TimeProofMismatch)
	if err := fresh.Verify(Signed{Time: end, Signature: a}); err != nil {
		t.Fatal(err)
	}
}

// Signing a time far ahead must not make an unchecked way in for later ones: only times at or
// below what was signed pass unchecked.
func TestKeysSignedMark(t *testing.T) {
	k := NewKeys([]byte("secret"))
	low, high := bson.Timestamp{T: 100, I: 1}, bson.Timestamp{T: 200, I: 1}
	k.Sign(high)
	k.Sign(low) // the mark never goes back
	if err := k.Verify(Signed{Time: bson.Timestamp{T: 150}}); err != nil {
		t.Fatalf("below the mark: %v", err)
	}
	wantCode(t, k.Verify(Signed{Time: bson.Timestamp{T: 200, I: 2}}), mongoerr.KeyNotFound)
}

func BenchmarkSignCached(b *testing.B) {
	k := NewKeys([]byte("secret"))
	ts := bson.Timestamp{T: 1_750_000_000}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ts.I = uint32(i) & 0xFFF
		k.Sign(ts)
	}
}
