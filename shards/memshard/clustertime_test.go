package memshard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func pingWith(s clustertime.Signed) bson.D {
	return bson.D{{Key: "ping", Value: 1}, {Key: clustertime.Field, Value: bson.Raw(clustertime.AppendDoc(nil, s))},
		{Key: "$db", Value: "admin"}}
}

// replyTime is a reply's $clusterTime, signature included.
func replyTime(t *testing.T, reply bson.Raw) clustertime.Signed {
	t.Helper()
	s, present, err := clustertime.Parse("reply", bsoncore.Document(reply))
	if err != nil || !present {
		t.Fatalf("no readable $clusterTime in %s: %v", reply, err)
	}
	return s
}

// The set refuses, as mongod, a gossiped time past its drift limit or past the largest possible
// time, and its clock stays where it was.
func TestClusterTimeRateLimiter(t *testing.T) {
	rs := startSet(t, 1, WithMaxClockDrift(100))
	c := dialRaw(t, rs.Hosts()[0])
	before := replyTime(t, mustOK(t, c.run(pingCmd))).Time
	far := bson.Timestamp{T: uint32(time.Now().Unix()) + 200, I: 1}
	reply := c.run(pingWith(clustertime.Signed{Time: far}))
	wantCode(t, reply, mongoerr.ClusterTimeFailsRateLimiter, "")
	if msg, _ := reply.Lookup("errmsg").StringValueOK(); !strings.HasPrefix(msg,
		fmt.Sprintf("New $clusterTime, %d, is too far from this node's wall clock time, ", far.T)) {
		t.Fatalf("errmsg %q", msg)
	}
	wantCode(t, c.run(pingWith(clustertime.Signed{Time: bson.Timestamp{T: before.T, I: 1 << 31}})), 40484,
		"$clusterTime cannot be advanced beyond its maximum value")
	if got := replyTime(t, mustOK(t, c.run(pingCmd))).Time; got != before {
		t.Fatalf("refused times moved the clock from %v to %v", before, got)
	}
	inside := bson.Timestamp{T: uint32(time.Now().Unix()) + 50, I: 1}
	if got := replyTime(t, mustOK(t, c.run(pingWith(clustertime.Signed{Time: inside})))).Time; got != inside {
		t.Fatalf("a time inside the limit: clock %v, want %v", got, inside)
	}
	v, ok := mustOK(t, c.run(bson.D{{Key: "getParameter", Value: 1}, {Key: "maxAcceptableLogicalClockDriftSecs", Value: 1},
		{Key: "$db", Value: "admin"}})).Lookup("maxAcceptableLogicalClockDriftSecs").Int64OK()
	if !ok || v != 100 {
		t.Fatalf("getParameter maxAcceptableLogicalClockDriftSecs = %v, %v", v, ok)
	}
	if _, err := StartReplicaSet("rs9", 1, WithMaxClockDrift(0)); err == nil {
		t.Fatal("a drift limit of 0 was accepted")
	}
}

// With auth, the set signs what it returns with a key of its own and checks what comes back, as
// a mongod replica set: its own signature passes, another set's, a forged or a zero one does
// not; the internal user (a router) may send any time and gets the dummy signature.
func TestClusterTimeSignatures(t *testing.T) {
	rs := startAuthSet(t)
	other := startAuthSet(t) // another replica set: the same key file, keys of its own
	alice := dialRaw(t, rs.Hosts()[0])
	rawLogin(t, alice, "alice", "alice-pw", "admin")
	mine := replyTime(t, mustOK(t, alice.run(pingCmd)))
	if mine.Dummy() || mine.KeyID == 0 {
		t.Fatalf("a user got an unsigned time: %+v", mine)
	}
	mustOK(t, alice.run(pingWith(mine)))

	otherAlice := dialRaw(t, other.Hosts()[0])
	rawLogin(t, otherAlice, "alice", "alice-pw", "admin")
	for range 3 { // writes move the other set's clock past this one's
		mustOK(t, otherAlice.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "$db", Value: "test"}}))
	}
	foreign := replyTime(t, mustOK(t, otherAlice.run(pingCmd)))
	ahead := clustertime.Signed{Time: bson.Timestamp{T: uint32(time.Now().Unix()) + 30, I: 1}, Signature: mine.Signature}
	zero := clustertime.Signed{Time: ahead.Time}
	for _, tc := range []struct {
		name string
		s    clustertime.Signed
		code mongoerr.Code
	}{
		{"another set's signature", foreign, mongoerr.TimeProofMismatch},
		{"its own signature moved to a later time", ahead, mongoerr.TimeProofMismatch},
		{"a zero signature", zero, mongoerr.KeyNotFound},
	} {
		if !tc.s.Time.After(mine.Time) {
			t.Fatalf("%s: %v is not ahead of %v, the check proves nothing", tc.name, tc.s.Time, mine.Time)
		}
		wantCode(t, alice.run(pingWith(tc.s)), tc.code, "")
	}
	if got := replyTime(t, mustOK(t, alice.run(pingCmd))).Time; got != mine.Time {
		t.Fatalf("refused times moved the clock from %v to %v", mine.Time, got)
	}

	anon := dialRaw(t, rs.Hosts()[0]) // before login, a dummy-signed time is ignored, not refused
	if got := replyTime(t, mustOK(t, anon.run(bson.D{{Key: "hello", Value: 1}, {Key: clustertime.Field,
		Value: bson.Raw(clustertime.AppendDoc(nil, zero))}, {Key: "$db", Value: "admin"}}))).Time; got != mine.Time {
		t.Fatalf("an anonymous dummy-signed time moved the clock to %v", got)
	}

	system := dialRaw(t, rs.Hosts()[0])
	rawLogin(t, system, "__system", testKey, "local")
	back := replyTime(t, mustOK(t, system.run(pingWith(zero))))
	if back.Time != zero.Time || back.Signature != (clustertime.Signature{}) {
		t.Fatalf("the internal user's unsigned time: reply %+v, want %v with the dummy signature", back, zero.Time)
	}
}
