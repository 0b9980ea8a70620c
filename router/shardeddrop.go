package router

import (
	"bytes"
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
)

// Dropping a sharded collection or a database removes the data on every shard that may hold
// some and the routing metadata, under the namespace's critical section, as mongos's drop
// coordinators do (drop_collection_coordinator.cpp, drop_database_coordinator.cpp): no router
// writes to it meanwhile, and every router reads its metadata afresh afterwards.

// drop drops a collection on its database's primary shard, or a sharded one on every shard.
func (c *conn) drop(ctx context.Context, r *request) (bsoncore.Document, error) {
	coll := string(collectionOf(r))
	if coll == "" || r.op.Autocommit {
		return c.forwardToPrimary(ctx, r, false) // the shard refuses it as mongod does
	}
	db := string(r.DB)
	rt, hold, err := c.s.cluster.Acquire(ctx, db, coll, false)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	if !rt.Sharded {
		defer hold.Release()
		reply, err := c.forwardTo(ctx, r, rt.Primary)
		if err == nil && len(c.s.cluster.Shards()) == 1 && outcome.Read(reply).OK {
			// One shard holds everything, so the router does not route by the metadata, but a
			// collection sharded there has some to remove.
			reply = bytes.Clone(reply)
			if err := c.s.cluster.ForgetShardedCollection(ctx, rt.NS); err != nil {
				return nil, mongoerr.As(err)
			}
		}
		return reply, err
	}
	hold.Release() // the change waits for every hold, this one's too
	change, err := c.s.cluster.BeginChange(ctx, rt.NS, "dropCollection")
	if err != nil {
		return nil, mongoerr.As(err)
	}
	defer change.End(ctx)
	if rt, err = c.s.cluster.ReadRouting(ctx, db, coll); err != nil {
		return nil, mongoerr.As(err)
	}
	if !rt.Sharded { // dropped meanwhile by another router
		return c.forwardTo(ctx, r, rt.Primary)
	}
	reply, err := c.onEveryShard(ctx, r, rt.Primary, mongoerr.NamespaceNotFound)
	if err != nil {
		return nil, err
	}
	if err := c.s.cluster.ForgetShardedCollection(ctx, rt.NS); err != nil {
		return nil, mongoerr.As(err)
	}
	c.log.Info().Str("ns", rt.NS).Msg("sharded collection dropped")
	return reply, nil
}

// dropDatabase drops a database under its critical section: on every shard when it holds a
// sharded collection, else on its primary shard; then its sharded collections' metadata and its
// placement go, so the name can be placed afresh and every router sees it so.
func (c *conn) dropDatabase(ctx context.Context, r *request) (bsoncore.Document, error) {
	db := string(r.DB)
	cl := c.s.cluster
	if isInternalDB(db) || r.op.Autocommit {
		return c.forwardToPrimary(ctx, r, false)
	}
	change, err := cl.BeginChange(ctx, db, "dropDatabase")
	if err != nil {
		return nil, mongoerr.As(err)
	}
	defer change.End(ctx)
	primary, err := cl.PrimaryShard(ctx, r.DB, false)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	all, err := cl.ShardedCollections(ctx)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	var sharded []string
	for _, ns := range all {
		if strings.HasPrefix(ns, db+".") {
			sharded = append(sharded, ns)
		}
	}
	var reply bsoncore.Document
	if len(sharded) > 0 {
		reply, err = c.onEveryShard(ctx, r, primary)
	} else {
		reply, err = c.forwardTo(ctx, r, primary)
	}
	if err != nil || !outcome.Read(reply).OK {
		return reply, err
	}
	reply = bytes.Clone(reply)
	for _, ns := range sharded {
		if err := cl.ForgetShardedCollection(ctx, ns); err != nil {
			return nil, mongoerr.As(err)
		}
	}
	if err := cl.Forget(ctx, db); err != nil {
		c.log.Warn().Err(err).Str("db", db).Msg("database dropped but its placement was not removed")
	}
	return reply, nil
}

// onEveryShard sends the client's command to every shard, the primary shard last, and answers
// with the primary's reply; the first failure (but one with an allowed code) fails it.
func (c *conn) onEveryShard(ctx context.Context, r *request, primary int, allowed ...mongoerr.Code) (bsoncore.Document, error) {
	n := len(c.s.cluster.Shards())
	for k := 1; k <= n; k++ {
		i := (primary + k) % n
		reply, err := c.forwardTo(ctx, r, i)
		if err != nil {
			return nil, err
		}
		if e := outcome.ErrOf(reply); e != nil && !containsCode(allowed, e.Code) || i == primary {
			return reply, nil
		}
	}
	return nil, nil // unreachable: the primary is one of the shards
}

func containsCode(codes []mongoerr.Code, code mongoerr.Code) bool {
	for _, c := range codes {
		if c == code {
			return true
		}
	}
	return false
}

// renameCollection renames on the source database's primary shard. A sharded collection is
// neither renamed nor replaced (its chunks name it), and a rename between databases on
// different shards is refused: a shard cannot move a collection to another.
func (c *conn) renameCollection(ctx context.Context, r *request) (bsoncore.Document, error) {
	from, _ := bsonview.Lookup(r.Body, string(r.Name))
	to, _ := bsonview.Lookup(r.Body, "to")
	fns, _ := from.StringValueOK()
	tns, _ := to.StringValueOK()
	fdb, fcoll, ok1 := strings.Cut(fns, ".")
	tdb, tcoll, ok2 := strings.Cut(tns, ".")
	if !ok1 || !ok2 || fcoll == "" || tcoll == "" {
		return c.forwardToPrimary(ctx, r, false) // the shard refuses it as mongod does
	}
	cl := c.s.cluster
	src, hold, err := cl.Acquire(ctx, fdb, fcoll, false)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	defer hold.Release()
	dst, err := cl.RoutingHeld(ctx, tdb, tcoll, false)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	for _, rt := range [2]struct {
		sharded bool
		ns      string
	}{{src.Sharded, fns}, {dst.Sharded, tns}} {
		if rt.sharded {
			return nil, mongoerr.New(mongoerr.IllegalOperation,
				"mongos-lite does not rename to or from a sharded collection, and %s is sharded: its chunks name it", rt.ns)
		}
	}
	if fdb != tdb && src.Primary != dst.Primary {
		return nil, mongoerr.New(mongoerr.IllegalOperation,
			"Source and destination collections must be on the same database primary shard: %s is on shard %s, %s on shard %s",
			fdb, cl.Shard(src.Primary).Name(), tdb, cl.Shard(dst.Primary).Name())
	}
	return c.forwardTo(ctx, r, src.Primary)
}
