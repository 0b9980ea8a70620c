package router

import (
	"context"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The config database as mongosh's sh.status() reads it (docs/commands.md). config.shards is the
// router's own list; config.databases, config.collections, config.chunks, config.tags,
// config.version, config.settings and config.mongos are real collections on the config shard,
// which reads of the config database reach as any read does. config.changelog,
// config.actionlog and config.locks are where a mongos's config servers log chunk migrations
// and splits, balancer rounds and distributed locks: nothing mongos-lite ever does, so the
// router answers them as empty, as a mongos whose balancer never ran. (A set that once was a
// shard or a config server may still hold collections of those names: they are not this
// cluster's.)

// emptyViews are the config collections the router answers as empty.
var emptyViews = map[string]bool{"changelog": true, "actionlog": true, "locks": true}

// onEmptyInput are the aggregation stages that produce nothing from no documents; a pipeline of
// only these reads an empty view as empty.
var onEmptyInput = map[string]bool{"$match": true, "$project": true, "$addFields": true, "$set": true,
	"$unset": true, "$group": true, "$sort": true, "$skip": true, "$limit": true, "$count": true,
	"$unwind": true, "$replaceRoot": true, "$replaceWith": true, "$sortByCount": true}

// configView answers an aggregate of a collection the router owns (ok false for any other):
// config.shards, over the router's shard list, and the empty views when every stage produces
// nothing from nothing (any other pipeline goes to the config shard, which holds nothing of them).
func (c *conn) configView(r *request, stages bsoncore.Array) (bsoncore.Document, bool, error) {
	coll, _ := r.Lookup("aggregate")
	name, _ := coll.StringValueOK()
	if string(r.DB) != "config" {
		return nil, false, nil
	}
	vals, _ := stages.Values()
	switch {
	case name == "shards":
		docs, err := runStages(c.s.shardDocs(), vals)
		if err != nil {
			return nil, true, err
		}
		reply, err := c.queuedCursor(r, "config.shards", rawDocs(docs))
		return reply, true, err
	case !emptyViews[name]:
		return nil, false, nil
	}
	for _, v := range vals {
		stage, _ := v.DocumentOK()
		if !onEmptyInput[string(bsonview.FirstKey(stage))] {
			return nil, false, nil
		}
	}
	reply, err := c.queuedCursor(r, "config."+name, nil)
	return reply, true, err
}

// find answers config.shards from the router's own registry (there are no config servers),
// filtered, sorted, skipped, limited and projected as the find asks. Other finds go to their
// database's primary shard; a find of the config database first makes sure the cluster metadata
// a mongos always has (config.version, the balancer settings) is there.
func (c *conn) find(ctx context.Context, r *request) (bsoncore.Document, error) {
	coll, _ := bsonview.Lookup(r.Body, "find")
	name, _ := bsonview.String(coll)
	if string(r.DB) != "config" {
		return c.findRouted(ctx, r, string(name))
	}
	switch {
	case string(name) == "shards":
		return c.findShards(r)
	case emptyViews[string(name)]:
		return c.queuedCursor(r, "config."+string(name), nil)
	}
	if err := c.s.ensureMetadata(ctx); err != nil {
		c.log.Debug().Err(err).Msg("cluster metadata not written yet")
	}
	return c.forwardToPrimary(ctx, r, false)
}

// findShards runs a find of config.shards over the router's shard list.
func (c *conn) findShards(r *request) (bsoncore.Document, error) {
	var stages []bsoncore.Value
	stage := func(name string, v bsoncore.Value) {
		stages = append(stages, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument,
			Data: bsoncore.BuildDocument(nil, bsoncore.AppendValueElement(nil, name, v))})
	}
	for _, opt := range []struct{ field, stage string }{
		{"filter", "$match"}, {"sort", "$sort"}, {"skip", "$skip"}, {"limit", "$limit"}, {"projection", "$project"},
	} {
		v, ok := r.Lookup(opt.field)
		if !ok || emptyOption(v) {
			continue
		}
		stage(opt.stage, v)
	}
	docs, err := runStages(c.s.shardDocs(), stages)
	if err != nil {
		return nil, err
	}
	return c.queuedCursor(r, "config.shards", rawDocs(docs))
}

// emptyOption reports a find option that asks for nothing: an empty document, or a skip or
// limit of 0.
func emptyOption(v bsoncore.Value) bool {
	if d, ok := v.DocumentOK(); ok {
		return len(d) <= 5
	}
	n, ok := v.AsInt64OK()
	return ok && n == 0
}

// shardedDataDistribution answers $shardedDataDistribution as mongos's stage computes it
// (document_source_sharded_data_distribution.cpp): for each sharded collection, each shard that
// holds it with its owned and orphaned documents and bytes, from the shard's $collStats storage
// statistics. Every result is in the first batch (cursor id 0).
func (c *conn) shardedDataDistribution(ctx context.Context, r *request, stages bsoncore.Array) (bsoncore.Document, error) {
	all, _ := stages.Values()
	stage, _ := all[0].DocumentOK()
	if spec, ok := stage.Index(0).Value().DocumentOK(); !ok || len(spec) > 5 {
		return nil, mongoerr.New(6789100, "The $shardedDataDistribution stage specification must be an empty object")
	}
	if coll, _ := r.Lookup("aggregate"); string(r.DB) != "admin" || coll.Type == bsoncore.TypeString {
		return nil, mongoerr.New(6789102, "The $shardedDataDistribution stage must be run on the admin database")
	}
	if r.op.Autocommit {
		return nil, mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Stage not supported inside of a multi-document transaction: $shardedDataDistribution")
	}
	names, err := c.s.cluster.ShardedCollections(ctx)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	storageStats := bsoncore.NewDocumentBuilder().AppendDocument("$collStats", bsoncore.NewDocumentBuilder().
		AppendDocument("storageStats", bsoncore.NewDocumentBuilder().Build()).Build()).Build()
	docs := make([]bson.Raw, 0, len(names))
	for _, ns := range names {
		db, coll, _ := strings.Cut(ns, ".")
		where, err := c.s.cluster.CollectionShards(ctx, db, coll)
		if err != nil {
			return nil, mongoerr.As(err)
		}
		sub := *r
		sub.DB, sub.Sequences = []byte(db), nil
		sub.Body = bsoncore.NewDocumentBuilder().
			AppendString("aggregate", coll).
			AppendArray("pipeline", bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: storageStats})).
			AppendDocument("cursor", bsoncore.NewDocumentBuilder().Build()).
			AppendString("$db", db).Build()
		answers := c.askShards(ctx, &sub, where.Shards)
		if err := firstError(answers); err != nil {
			return nil, err
		}
		docs = append(docs, distributionOf(ns, answers))
	}
	if docs, err = runStages(docs, all[1:]); err != nil {
		return nil, err
	}
	return c.queuedCursor(r, "admin.$cmd.aggregate", rawDocs(docs))
}

// distributionOf is one collection's $shardedDataDistribution document from its shards'
// $collStats: owned documents are those that are not orphans, and bytes are counted at each
// shard's average object size.
func distributionOf(ns string, answers []shardAnswer) bson.Raw {
	shardsArr := make([]bsoncore.Value, 0, len(answers))
	for _, a := range answers {
		batch, _ := a.body.Lookup("cursor", "firstBatch").ArrayOK()
		first, _ := batch.IndexErr(0)
		doc, _ := first.DocumentOK()
		stats, _ := doc.Lookup("storageStats").DocumentOK()
		count, orphans, avg := numberLong(stats, "count"), numberLong(stats, "numOrphanDocs"), numberLong(stats, "avgObjSize")
		entry := bsoncore.NewDocumentBuilder().AppendString("shardName", a.name)
		appendNumber(entry, "numOrphanedDocs", orphans)
		appendNumber(entry, "numOwnedDocuments", count-orphans)
		appendNumber(entry, "ownedSizeBytes", avg*(count-orphans))
		appendNumber(entry, "orphanedSizeBytes", avg*orphans)
		shardsArr = append(shardsArr, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: entry.Build()})
	}
	return bson.Raw(bsoncore.NewDocumentBuilder().
		AppendString("ns", ns).
		AppendArray("shards", bsoncore.BuildArray(nil, shardsArr...)).Build())
}
