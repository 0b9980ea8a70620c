package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/clustertime"
)

// A set gossips $clusterTime as a mongod replica set does: every time a client sends passes the
// rate limiter, and with auth on the set signs what it returns with keys of its own (as the keys
// a replica set keeps in admin.system.keys, which no other set holds) and checks the signature
// of what comes back, unless the client holds advanceClusterTime (the key file's __system: a
// router).

// WithMaxClockDrift sets maxAcceptableLogicalClockDriftSecs: how far past the set's wall clock a
// gossiped cluster time may be (default one year, as mongod).
func WithMaxClockDrift(secs int64) Option { return func(o *setOptions) { o.maxDriftSecs = secs } }

func newGossip(o setOptions) clustertime.Gossip {
	g := clustertime.Gossip{Limit: clustertime.Limit{MaxDriftSecs: o.maxDriftSecs, Now: o.now}}
	if o.auth.on {
		g.Keys = clustertime.RandomKeys()
	}
	return g
}

// gossipIn takes the request's $clusterTime into the set's clock, once the command is
// authorized, as mongod's service entry point does; an error refuses the command.
func (r *request) gossipIn() error {
	clock := &r.m.rs.clock
	ts, ok, err := clock.gossip.In(r.name, r.body, r.clockSender(), clock.now())
	if ok {
		clock.advance(ts)
	}
	return err
}

func (r *request) clockSender() clustertime.Sender {
	return clustertime.SenderOf(r.m.rs.opts.auth.on, r.user())
}

// appendClusterTime appends the reply's $clusterTime, signed for this client.
func (r *request) appendClusterTime(dst []byte, ts bson.Timestamp) []byte {
	return clustertime.AppendElement(dst, r.m.rs.clock.gossip.Out(ts, r.clockSender()))
}
