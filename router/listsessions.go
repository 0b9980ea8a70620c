package router

import (
	"context"
	"strconv"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/currentop"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// aggregate answers $listLocalSessions from the router's cache and $listSessions from every
// shard, merges a change stream that covers several shards (mergedstream.go); any other pipeline
// is routed by its collection.
func (c *conn) aggregate(ctx context.Context, r *request) (bsoncore.Document, error) {
	pv, _ := bsonview.Lookup(r.Body, "pipeline")
	stages, _ := pv.ArrayOK()
	first, _ := stages.IndexErr(0)
	stage, _ := first.DocumentOK()
	switch string(bsonview.FirstKey(stage)) {
	case "$listLocalSessions":
		return c.listLocalSessions(r, stage, stages)
	case "$listSessions":
		return c.listSessions(ctx, r, stage)
	case "$collStats":
		return c.collStatsStage(ctx, r, stages)
	case "$shardedDataDistribution":
		return c.shardedDataDistribution(ctx, r, stages)
	case currentop.Stage:
		vals, _ := stages.Values()
		return c.currentOpAggregate(ctx, r, stage, vals)
	case "$changeStream":
		if reply, merged, err := c.changeStream(ctx, r, stage); merged {
			return reply, err
		}
	}
	if reply, ok, err := c.configView(r, stages); ok {
		return reply, err
	}
	docs := make([]bsoncore.Document, 0, 8)
	bsonview.Each(bsoncore.Document(stages), func(el bsoncore.Element) bool {
		d, _ := el.Value().DocumentOK()
		docs = append(docs, d)
		return true
	})
	return c.aggregateRouted(ctx, r, docs)
}

func (c *conn) listLocalSessions(r *request, stage bsoncore.Document, stages bsoncore.Array) (bsoncore.Document, error) {
	if v, _ := bsonview.Lookup(r.Body, "aggregate"); v.Type == bsoncore.TypeString {
		return nil, mongoerr.New(mongoerr.InvalidNamespace,
			"$listLocalSessions must be run against the database with {aggregate: 1}, not a collection")
	}
	spec, err := sessionid.ParseListSpec("$listLocalSessions", stage.Lookup("$listLocalSessions"), r.who.uid)
	if err != nil {
		return nil, err
	}
	// auth.Authorize has checked listSessions for other users' sessions.
	if err := r.who.requireSessions(); err != nil {
		return nil, err
	}
	records := c.s.sessions.List(spec)
	docs := make([]bson.Raw, len(records))
	for i, rec := range records {
		docs[i] = rec.AppendDoc(nil)
	}
	rest, _ := stages.Values()
	docs, err = runStages(docs, rest[1:])
	if err != nil {
		return nil, err
	}
	return c.queuedCursor(r, string(r.DB)+".$cmd.aggregate", rawDocs(docs))
}

// rawDocs is docs as bsoncore documents.
func rawDocs(docs []bson.Raw) []bsoncore.Document {
	out := make([]bsoncore.Document, len(docs))
	for i, d := range docs {
		out[i] = bsoncore.Document(d)
	}
	return out
}

// listSessions reads config.system.sessions on every shard and merges the records, one per _id:
// a session used on several shards has a record on each.
func (c *conn) listSessions(ctx context.Context, r *request, stage bsoncore.Document) (bsoncore.Document, error) {
	if coll, _ := bsonview.Lookup(r.Body, "aggregate"); string(r.DB) != "config" || coll.StringValue() != "system.sessions" {
		return nil, mongoerr.New(mongoerr.InvalidNamespace, "$listSessions may only be run against config.system.sessions")
	}
	if _, err := sessionid.ParseListSpec("$listSessions", stage.Lookup("$listSessions"), r.who.uid); err != nil {
		return nil, err
	}
	perShard, failed := c.s.gather(ctx, c.fanoutBody(r), c.s.primaryTargets())
	if failed != nil {
		return failed, nil
	}
	seen := map[string]bool{}
	var docs []bsoncore.Document
	for _, shardDocs := range perShard {
		for _, doc := range shardDocs {
			key := string(doc.Lookup("_id").Data)
			if !seen[key] {
				seen[key] = true
				docs = append(docs, doc)
			}
		}
	}
	return c.queuedCursor(r, "config.system.sessions", docs)
}

// runStages applies the stages after the first to locally produced documents.
func runStages(docs []bson.Raw, stages []bsoncore.Value) ([]bson.Raw, error) {
	if len(stages) == 0 {
		return docs, nil
	}
	raw := make([]bson.Raw, len(stages))
	for i, s := range stages {
		d, ok := s.DocumentOK()
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch, "Each element of the 'pipeline' array must be an object")
		}
		raw[i] = bson.Raw(d)
	}
	p, err := query.NewPipeline(raw)
	if err != nil {
		return nil, err
	}
	return p.Run(docs)
}

// cursorReply is a finished cursor: {cursor: {firstBatch, id: 0, ns}, ok: 1}.
func cursorReply(ns string, docs []bson.Raw) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendDocument("cursor", bsoncore.NewDocumentBuilder().
			AppendArray("firstBatch", docArray(docs)).
			AppendInt64("id", 0).
			AppendString("ns", ns).Build()).
		AppendDouble("ok", 1).Build()
}

// docArray is an array of documents.
func docArray[D ~[]byte](docs []D) []byte {
	idx, arr := bsoncore.AppendArrayStart(nil)
	for i, d := range docs {
		arr = bsoncore.AppendDocumentElement(arr, strconv.Itoa(i), d)
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, idx)
	return arr
}
