package router

import (
	"sync/atomic"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// clusterClock is the highest $clusterTime any shard has reported. The router gossips it to
// every shard it forwards to and returns it on every reply, so a client's causal chain survives
// moving from shard to shard.
type clusterClock struct {
	cur atomic.Pointer[clusterTime]
}

type clusterTime struct {
	ts  uint64            // clusterTime as t<<32 | i, for ordering
	doc bsoncore.Document // the whole $clusterTime document, signature included
}

func tsKey(t, i uint32) uint64 { return uint64(t)<<32 | uint64(i) }

// observe advances the clock from a shard reply's $clusterTime; it allocates only when the
// clock moves.
func (k *clusterClock) observe(reply bsoncore.Document) {
	v, ok := lookup(reply, "$clusterTime")
	if !ok {
		return
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return
	}
	t, i, ok := doc.Lookup("clusterTime").TimestampOK()
	if !ok {
		return
	}
	ts := tsKey(t, i)
	for {
		cur := k.cur.Load()
		if cur != nil && cur.ts >= ts {
			return
		}
		next := &clusterTime{ts: ts, doc: append(bsoncore.Document(nil), doc...)}
		if k.cur.CompareAndSwap(cur, next) {
			return
		}
	}
}

// load returns the current cluster time, nil before any shard has answered.
func (k *clusterClock) load() *clusterTime { return k.cur.Load() }
