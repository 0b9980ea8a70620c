package router

import (
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/clustertime"
)

// clusterClock is the router's cluster time, as mongos's vector clock: the highest $clusterTime
// that a shard reported or that a client was allowed to gossip in. The router gossips it to every
// shard it forwards to and returns it, signed with its own key, on every reply, so that a
// client's causal chain survives moving from shard to shard and from router to router
// (docs/architecture.md, "Cluster time"). Every time it adopts passes mongod's rate limiter.
type clusterClock struct {
	cur    atomic.Pointer[clusterTime]
	gossip clustertime.Gossip
}

func newClusterClock(cfg Config) *clusterClock {
	k := &clusterClock{gossip: clustertime.Gossip{
		Limit: clustertime.Limit{MaxDriftSecs: cfg.MaxClockDriftSecs, Now: time.Now},
	}}
	if cfg.Auth != nil {
		k.gossip.Keys = cfg.ClusterTimeKeys
		if k.gossip.Keys == nil {
			k.gossip.Keys = clustertime.RandomKeys()
		}
	}
	return k
}

type clusterTime struct {
	ts bson.Timestamp
	// doc is the $clusterTime sent to shards: a shard's own, as it sent it, or a client's time with
	// the dummy signature. The router authenticates to shards as a member of the cluster
	// (__system), which may advance their clocks, so shards need no signature of the router's.
	doc bsoncore.Document
}

// internedName is a command name as a string, without allocating for the commands the router
// knows.
func internedName(name []byte) string {
	if n, ok := knownNames[string(name)]; ok {
		return n
	}
	return string(name)
}

// clockSender is the connection as cluster-time gossip sees it.
func (c *conn) clockSender() clustertime.Sender {
	if c.conv == nil {
		return clustertime.SenderOf(false, nil)
	}
	return clustertime.SenderOf(true, c.conv.User())
}

// gossipIn takes the $clusterTime of a client's command, as mongos does once the command is
// authorized (strategy.cpp): the signature checked unless the client may advance the clock, then
// the rate limiter. An error refuses the command and leaves the clock as it was.
func (k *clusterClock) gossipIn(cmd string, body bsoncore.Document, who clustertime.Sender) error {
	var cur bson.Timestamp
	if ct := k.cur.Load(); ct != nil {
		cur = ct.ts
	}
	ts, ok, err := k.gossip.In(cmd, body, who, cur)
	if ok {
		k.advance(ts, clustertime.AppendDoc(nil, clustertime.Signed{Time: ts}))
	}
	return err
}

// observe takes a shard reply's $clusterTime (its status's ClusterTime). The router trusts its
// shards' signatures, as mongos does (a reply is internal), but not their clocks: a time the
// rate limiter refuses fails the command, as on mongos, and is not adopted. A reply without a
// readable time changes nothing. It allocates only when the clock moves.
func (k *clusterClock) observe(doc bsoncore.Document) error {
	if doc == nil {
		return nil
	}
	t, i, ok := doc.Lookup("clusterTime").TimestampOK()
	if !ok {
		return nil
	}
	ts := bson.Timestamp{T: t, I: i}
	if cur := k.cur.Load(); cur != nil && !ts.After(cur.ts) {
		return nil // it cannot move the clock, and the clock passed the limiter (gossip.In)
	}
	if err := k.gossip.Limit.Check(ts); err != nil {
		return err
	}
	k.advance(ts, append(bsoncore.Document(nil), doc...))
	return nil
}

// advance moves the clock to ts unless another command moved it as far already.
func (k *clusterClock) advance(ts bson.Timestamp, doc bsoncore.Document) {
	next := &clusterTime{ts: ts, doc: doc}
	for {
		cur := k.cur.Load()
		if cur != nil && !ts.After(cur.ts) {
			return
		}
		if k.cur.CompareAndSwap(cur, next) {
			return
		}
	}
}

// load returns the current cluster time, nil before any shard or client has given one.
func (k *clusterClock) load() *clusterTime { return k.cur.Load() }

// appendOut appends the $clusterTime a client is sent: the router's time, signed with the
// router's own key, or dummy-signed for a client that may advance the clock (vector_clock.cpp's
// SignedComponentFormat::out). A shard's signature never reaches a client: another router could
// not check it.
func (k *clusterClock) appendOut(dst []byte, ts bson.Timestamp, who clustertime.Sender) []byte {
	return clustertime.AppendElement(dst, k.gossip.Out(ts, who))
}
