package router

import (
	"context"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// bulkWrite (the client-level bulk write of MongoDB 8.0) runs on admin but writes the namespaces
// its nsInfo lists; it goes to the shard that holds their databases. A bulk write spanning
// shards is refused: a shard cannot apply another shard's part.
func (c *conn) bulkWrite(ctx context.Context, r *request) (bsoncore.Document, error) {
	dbs, err := bulkWriteDatabases(r)
	if err != nil {
		return nil, err
	}
	target := -1
	for _, db := range dbs {
		idx, err := c.s.cluster.PrimaryShard(ctx, []byte(db), true)
		if err != nil {
			return nil, err
		}
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

// bulkWriteDatabases lists the databases of nsInfo, from the body or its document sequence.
func bulkWriteDatabases(r *request) ([]string, error) {
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
	var dbs []string
	for _, e := range entries {
		ns, ok := e.Lookup("ns").StringValueOK()
		if !ok {
			return nil, mongoerr.New(mongoerr.IDLFailedToParse, "BSON field 'bulkWrite.nsInfo.ns' is missing but a required field")
		}
		db, _, _ := strings.Cut(ns, ".")
		if !seen[db] {
			seen[db] = true
			dbs = append(dbs, db)
		}
	}
	return dbs, nil
}
