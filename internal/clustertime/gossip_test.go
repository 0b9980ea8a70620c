package clustertime

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func signedCommand(s Signed) bsoncore.Document {
	return command(bson.D{{Key: "clusterTime", Value: s.Time},
		{Key: "signature", Value: bson.D{{Key: "hash", Value: bson.Binary{Data: s.Hash[:]}}, {Key: "keyId", Value: s.KeyID}}}})
}

func TestGossipIn(t *testing.T) {
	wall := time.Now()
	now := uint32(wall.Unix())
	keys := NewKeys([]byte("secret"))
	withKeys := &Gossip{Limit: Limit{MaxDriftSecs: DefaultMaxDriftSecs, Now: func() time.Time { return wall }}, Keys: keys}
	noKeys := &Gossip{Limit: withKeys.Limit}
	soon := bson.Timestamp{T: now + 60, I: 1}
	future := bson.Timestamp{T: now + DefaultMaxDriftSecs + 1, I: 1}
	peer := NewKeys([]byte("secret")) // another router with the same key file
	user := Sender{AuthOn: true, Authenticated: true}
	trusted := Sender{AuthOn: true, Authenticated: true, MayAdvance: true}
	tests := []struct {
		name string
		g    *Gossip
		s    Signed
		who  Sender
		ok   bool
		code mongoerr.Code
	}{
		{name: "auth off: an unsigned time is taken", g: noKeys, s: Signed{Time: soon}, who: Sender{MayAdvance: true}, ok: true},
		{name: "auth off: the year 2100 fails the limiter", g: noKeys, s: Signed{Time: future}, who: Sender{MayAdvance: true},
			code: mongoerr.ClusterTimeFailsRateLimiter},
		{name: "a peer's signature", g: withKeys, s: Signed{Time: soon, Signature: peer.Sign(soon)}, who: user, ok: true},
		{name: "an unsigned time from a user", g: withKeys, s: Signed{Time: soon}, who: user, code: mongoerr.KeyNotFound},
		{name: "a forged signature from a user", g: withKeys, s: Signed{Time: soon, Signature: Signature{Hash: [hashLen]byte{1}, KeyID: peer.Sign(soon).KeyID}},
			who: user, code: mongoerr.TimeProofMismatch},
		{name: "a far-future forged time fails the signature first", g: withKeys, s: Signed{Time: future}, who: user, code: mongoerr.KeyNotFound},
		{name: "an unsigned time from a user with advanceClusterTime", g: withKeys, s: Signed{Time: soon}, who: trusted, ok: true},
		{name: "advanceClusterTime does not lift the limiter", g: withKeys, s: Signed{Time: future}, who: trusted,
			code: mongoerr.ClusterTimeFailsRateLimiter},
		{name: "a dummy signature before login is ignored", g: withKeys, s: Signed{Time: future}, who: Sender{AuthOn: true}},
		{name: "a real one before login is checked", g: withKeys, s: Signed{Time: soon, Signature: peer.Sign(soon)},
			who: Sender{AuthOn: true}, ok: true},
		{name: "no keys, no privilege", g: noKeys, s: Signed{Time: soon}, who: user, code: mongoerr.CannotVerifyAndSignLogicalTime},
		{name: "a time not after the clock moves nothing", g: noKeys, s: Signed{Time: bson.Timestamp{T: now - 100}},
			who: Sender{MayAdvance: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, ok, err := tt.g.In("find", signedCommand(tt.s), tt.who, bson.Timestamp{T: now - 100})
			if tt.code != 0 {
				if e := mongoerr.As(err); err == nil || e.Code != tt.code || ok {
					t.Fatalf("In = %v, %v, %v; want code %d", ts, ok, err, tt.code)
				}
				return
			}
			if err != nil || ok != tt.ok || ok && ts != tt.s.Time {
				t.Fatalf("In = %v, %v, %v; want %v, %v", ts, ok, err, tt.s.Time, tt.ok)
			}
		})
	}
}

func TestGossipOut(t *testing.T) {
	g := &Gossip{Keys: NewKeys([]byte("secret"))}
	ts := bson.Timestamp{T: 1_750_000_000, I: 4}
	if s := g.Out(ts, Sender{AuthOn: true, Authenticated: true, MayAdvance: true}); s != (Signed{Time: ts}) {
		t.Fatalf("to a client that may advance the clock: %+v, want the dummy signature", s)
	}
	s := g.Out(ts, Sender{AuthOn: true, Authenticated: true})
	if s.Dummy() || s.KeyID == 0 || NewKeys([]byte("secret")).Verify(s) != nil {
		t.Fatalf("to a user: %+v, want a signature its peers verify", s)
	}
	if s := (&Gossip{}).Out(ts, Sender{}); s != (Signed{Time: ts}) {
		t.Fatalf("without keys: %+v", s)
	}
}
