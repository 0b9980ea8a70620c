package router

import (
	"bytes"
	"context"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/topology"
)

// The index commands of a sharded collection reach every shard that owns a chunk, and are
// answered as mongos answers them: createIndexes with each shard's reply under raw by its
// connection string (cluster_create_indexes_cmd.cpp, appendRawResponses), dropIndexes with the
// primary shard's reply (its drop-indexes coordinator drops on every shard), listIndexes from the
// shard that owns the MinKey chunk (cluster_list_indexes_cmd.cpp). An unsharded collection's go to
// its database's primary shard, as any command.

func (c *conn) createIndexes(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.onCollection(ctx, r, true, false, func(rt *topology.Routing) (bsoncore.Document, error) {
		return c.createShardedIndexes(ctx, r, rt)
	})
}

func (c *conn) createShardedIndexes(ctx context.Context, r *request, rt *topology.Routing) (bsoncore.Document, error) {
	if err := checkUniqueIndexes(r, rt); err != nil {
		return nil, err
	}
	raw := bsoncore.NewDocumentBuilder()
	var failure *mongoerr.Error
	for _, i := range rt.Shards() {
		sh := c.s.cluster.Shard(i)
		reply, err := c.forwardTo(ctx, r, i)
		if err != nil {
			reply = errorReply(mongoerr.As(err))
		}
		if e := outcome.ErrOf(reply); e != nil && failure == nil {
			failure = e
		}
		raw.AppendDocument(connString(sh), passthrough(reply))
	}
	out := bsoncore.NewDocumentBuilder().AppendDocument("raw", raw.Build())
	if failure != nil {
		return out.AppendDouble("ok", 0).
			AppendString("errmsg", failure.Msg).
			AppendInt32("code", int32(failure.Code)).
			AppendString("codeName", failure.Code.Name()).Build(), nil
	}
	return out.AppendDouble("ok", 1).Build(), nil
}

// errorReply is e as a shard's error reply.
func errorReply(e *mongoerr.Error) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = e.AppendFields(dst)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// passthrough is a copy of a shard's reply without the fields mongos does not pass on.
func passthrough(reply bsoncore.Document) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(reply)))
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		if command.FromShard(el.KeyBytes()) {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// checkUniqueIndexes refuses a unique index that does not start with the shard key: each shard
// could only enforce it over its own documents (mongod's check, shard_key_index_util.cpp).
func checkUniqueIndexes(r *request, rt *topology.Routing) error {
	return r.EachDoc("indexes", func(spec bsoncore.Document) error {
		if !flag(spec, "unique") {
			return nil
		}
		key, _ := spec.Lookup("key").DocumentOK()
		first, err := key.IndexErr(0)
		if err == nil && (first.Key() == "_id" || first.Key() == rt.Key && first.Value().Type != bsoncore.TypeString) {
			return nil
		}
		return mongoerr.New(mongoerr.CannotCreateIndex, "cannot create unique index over %s with shard key pattern %s",
			auth.BSONText(key), shardKeyPattern(rt))
	})
}

func (c *conn) dropIndexes(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.onCollection(ctx, r, false, false, func(rt *topology.Routing) (bsoncore.Document, error) {
		reply, err := c.onEveryShard(ctx, r, rt.Primary)
		if err != nil {
			return nil, err
		}
		return bytes.Clone(reply), nil
	})
}

func (c *conn) listIndexes(ctx context.Context, r *request) (bsoncore.Document, error) {
	return c.onCollection(ctx, r, false, false, func(rt *topology.Routing) (bsoncore.Document, error) {
		return c.forwardTo(ctx, r, rt.Chunks[0].Shard)
	})
}
