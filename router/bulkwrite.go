package router

import (
	"context"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/topology"
)

// bulkWrite (the client-level bulk write of MongoDB 8.0) runs on admin but writes the namespaces
// its nsInfo lists; it goes to the shard that holds their databases. A bulk write spanning
// shards is refused: a shard cannot apply another shard's part. So is one that writes a sharded
// collection: its operations would have to be split per shard, which mongos-lite does for
// insert, update and delete (shardedwrites.go) but not for bulkWrite.
func (c *conn) bulkWrite(ctx context.Context, r *request) (bsoncore.Document, error) {
	nss, err := bulkWriteNamespaces(r)
	if err != nil {
		return nil, err
	}
	target := -1
	for k, ns := range nss {
		db, coll, _ := strings.Cut(ns, ".")
		var rt *topology.Routing
		if k == 0 {
			var hold *topology.Hold
			if rt, hold, err = c.s.cluster.Acquire(ctx, db, coll, true); err == nil {
				defer hold.Release()
			}
		} else {
			rt, err = c.s.cluster.RoutingHeld(ctx, db, coll, true)
		}
		if err != nil {
			return nil, mongoerr.As(err)
		}
		if rt.Sharded {
			return nil, mongoerr.New(mongoerr.IllegalOperation,
				"bulkWrite is not supported on the sharded collection %s by mongos-lite: use insert, update and delete, "+
					"which it splits per shard", ns)
		}
		idx := rt.Primary
		if target >= 0 && idx != target {
			return nil, mongoerr.New(mongoerr.IllegalOperation,
				"bulkWrite writes to databases on shards %s and %s; mongos-lite runs a bulkWrite on one shard",
				c.s.cluster.Shard(target).Name(), c.s.cluster.Shard(idx).Name())
		}
		target = idx
	}
	if target < 0 {
		return nil, mongoerr.New(mongoerr.BadValue, "bulkWrite needs at least one namespace in nsInfo")
	}
	return c.forwardTo(ctx, r, target)
}

// bulkWriteNamespaces lists the namespaces of nsInfo, each once, from the body or its document
// sequence.
func bulkWriteNamespaces(r *request) ([]string, error) {
	var entries []bsoncore.Document
	for _, seq := range r.Sequences {
		if seq.Identifier == "nsInfo" {
			docs, err := seq.Docs()
			if err != nil {
				return nil, err
			}
			entries = append(entries, docs...)
		}
	}
	if v, ok := bsonview.Lookup(r.Body, "nsInfo"); ok {
		arr, ok := v.ArrayOK()
		if !ok {
			return nil, mongoerr.WrongType("bulkWrite.nsInfo", v.Type, "array")
		}
		vals, _ := arr.Values()
		for _, ev := range vals {
			doc, ok := ev.DocumentOK()
			if !ok {
				return nil, mongoerr.WrongType("bulkWrite.nsInfo.ns", ev.Type, "object")
			}
			entries = append(entries, doc)
		}
	}
	seen := map[string]bool{}
	var nss []string
	for _, e := range entries {
		ns, ok := e.Lookup("ns").StringValueOK()
		if !ok {
			return nil, mongoerr.New(mongoerr.IDLFailedToParse, "BSON field 'bulkWrite.nsInfo.ns' is missing but a required field")
		}
		if !seen[ns] {
			seen[ns] = true
			nss = append(nss, ns)
		}
	}
	return nss, nil
}
