package clustertime

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Sender is who sent a command's $clusterTime, as far as gossip cares.
type Sender struct {
	AuthOn        bool // the server requires authentication
	Authenticated bool // the connection has logged in
	// MayAdvance: the sender holds advanceClusterTime on the cluster (everyone does with auth
	// off). Its times need no signature, and what it is sent carries the dummy one.
	MayAdvance bool
}

// actionAdvanceClusterTime lets a client move the clock without a signature (mongod's
// LogicalTimeValidator::isAuthorizedToAdvanceClock).
const actionAdvanceClusterTime = "advanceClusterTime"

// SenderOf is a connection's standing: whether its server requires authentication, and the user
// it logged in as (nil: nobody yet). With auth off everyone may advance the clock, as on mongod.
func SenderOf(authOn bool, u *auth.User) Sender {
	if !authOn {
		return Sender{MayAdvance: true}
	}
	return Sender{AuthOn: true, Authenticated: u != nil,
		MayAdvance: u != nil && u.Can(actionAdvanceClusterTime, auth.ClusterResource())}
}

// Gossip is a server's rules for the cluster times it takes in and gives out.
type Gossip struct {
	Limit Limit
	Keys  *Keys // nil: the server signs nothing (auth off: every sender may advance the clock)
}

// In checks the $clusterTime of a command a client sent, in vector_clock.cpp's order: parse;
// ignore a dummy-signed time from a connection that has not logged in (with auth on); unless the
// sender may advance the clock, verify the signature; then the rate limiter. cur is the server's
// clock: a time not after it cannot move the clock, and is not checked against a wall clock that
// has only moved on since the clock passed the limiter. ok is true when the clock is to move to
// ts. An error refuses the command and leaves the clock alone.
func (g *Gossip) In(cmd string, body bsoncore.Document, who Sender, cur bson.Timestamp) (ts bson.Timestamp, ok bool, err error) {
	s, present, err := Parse(cmd, body)
	if err != nil || !present {
		return bson.Timestamp{}, false, err
	}
	if who.AuthOn && !who.Authenticated && s.Dummy() {
		return bson.Timestamp{}, false, nil
	}
	if !who.MayAdvance {
		if g.Keys == nil {
			return bson.Timestamp{}, false, mongoerr.New(mongoerr.CannotVerifyAndSignLogicalTime,
				"Cannot accept logicalTime: %s. May not be a part of a sharded cluster", logicalTime(s.Time))
		}
		if err := g.Keys.Verify(s); err != nil {
			return bson.Timestamp{}, false, err
		}
	}
	if !s.Time.After(cur) {
		return bson.Timestamp{}, false, nil
	}
	if err := g.Limit.Check(s.Time); err != nil {
		return bson.Timestamp{}, false, err
	}
	return s.Time, true, nil
}

// Out is the $clusterTime a server returns to a client: dummy-signed for one that may advance
// the clock (or with no keys), else signed with the server's own key (SignedComponentFormat::out).
func (g *Gossip) Out(ts bson.Timestamp, who Sender) Signed {
	if who.MayAdvance || g.Keys == nil {
		return Signed{Time: ts}
	}
	return Signed{Time: ts, Signature: g.Keys.Sign(ts)}
}
