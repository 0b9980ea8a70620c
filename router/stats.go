package router

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
)

// Statistics of a database or a collection: asked of every shard that holds it and merged as
// mongos merges them (docs/commands.md). The merges take any number of shards: a database lives
// whole on its primary shard until collections are sharded, but admin and config are on every
// shard, and a sharded collection on each shard that owns one of its chunks.

// shardAnswer is one shard's reply to a statistics command: its body, copied out of the
// connection's buffer, or its error.
type shardAnswer struct {
	name string // the shard's name
	conn string // its connection string, which names it in dbStats's raw
	body bsoncore.Document
	err  *mongoerr.Error
}

// askShards sends r to each target in turn, as any forwarded command goes (forwardTo: the
// client's read preference, mongos's retries) and keeps every answer.
func (c *conn) askShards(ctx context.Context, r *request, targets []int) []shardAnswer {
	out := make([]shardAnswer, len(targets))
	for i, idx := range targets {
		sh := c.s.cluster.Shard(idx)
		a := shardAnswer{name: sh.Name(), conn: connString(sh)}
		body, err := c.forwardTo(ctx, r, idx)
		if err == nil {
			err = outcome.NewReply(body).Err()
		}
		if err != nil {
			a.err = mongoerr.As(err)
		} else {
			a.body = slices.Clone(body)
		}
		out[i] = a
	}
	return out
}

// firstError is the first shard's error, which mongos returns for collStats and dataSize
// (uassertStatusOK over the responses in order).
func firstError(answers []shardAnswer) error {
	for _, a := range answers {
		if a.err != nil {
			return a.err
		}
	}
	return nil
}

// notInTransaction refuses a statistics command in a transaction, as mongod refuses a command
// that is not allowedInTransactions (service_entry_point_common.cpp).
func notInTransaction(r *request) error {
	if r.op.Autocommit {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Cannot run '%s' in a multi-document transaction.", r.Name)
	}
	return nil
}

// appendNumber appends n as BSONObjBuilder::appendNumber(long long) does: an int when it fits,
// else a long.
func appendNumber(b *bsoncore.DocumentBuilder, key string, n int64) {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		b.AppendInt32(key, int32(n))
	} else {
		b.AppendInt64(key, n)
	}
}

// numberLong reads a number as BSONElement::numberLong: truncated toward zero, 0 when absent or
// not a number.
func numberLong(doc bsoncore.Document, key string) int64 {
	v, _ := bsonview.Lookup(doc, key)
	if f, ok := v.AsFloat64OK(); ok && v.Type == bsoncore.TypeDouble {
		if math.IsNaN(f) {
			return 0
		}
		return int64(max(min(f, math.MaxInt64), math.MinInt64))
	}
	n, _ := v.AsInt64OK()
	return n
}

func numberDouble(doc bsoncore.Document, key string) float64 {
	v, _ := bsonview.Lookup(doc, key)
	f, _ := v.AsFloat64OK()
	return f
}

// withoutReplyFields is a shard's reply without the generic reply fields mongos never passes
// on (filterCommandReplyForPassthrough): its cluster time, operation time and the like.
func withoutReplyFields(body bsoncore.Document) bsoncore.Document {
	return keepFields(body, command.FromShard)
}

// keepFields is doc with only the top-level fields whose key keep accepts.
func keepFields(doc bsoncore.Document, keep func(key []byte) bool) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if keep(el.KeyBytes()) {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// --- dbStats ---

// dbStats asks every shard, as mongos 8.0 does (cluster_db_stats_cmd.cpp,
// scatterGatherUnversionedTargetAllShards): a shard without the database answers zeros.
func (c *conn) dbStats(ctx context.Context, r *request) (bsoncore.Document, error) {
	if err := notInTransaction(r); err != nil {
		return nil, err
	}
	scale, freeStorage, err := dbStatsArgs(r)
	if err != nil {
		return nil, err
	}
	targets := make([]int, len(c.s.cluster.Shards()))
	for i := range targets {
		targets[i] = i
	}
	return mergeDBStats(string(r.DB), scale, freeStorage, c.askShards(ctx, r, targets))
}

// dbStatsArgs reads scale and freeStorage as the DBStatsCommand IDL does: a positive number and
// a flag.
func dbStatsArgs(r *request) (scale int64, freeStorage bool, err error) {
	scale = 1
	if v, ok := r.Lookup("scale"); ok {
		f, isNum := v.AsFloat64OK()
		if !isNum && v.Type != bsoncore.TypeDecimal128 {
			return 0, false, mongoerr.New(mongoerr.TypeMismatch,
				"BSON field 'dbStats.scale' is the wrong type '%s', expected types '[long, int, decimal, double]'", mongoerr.TypeName(v.Type))
		}
		if n, ok := v.AsInt64OK(); ok {
			scale = n
		} else {
			scale = int64(f)
		}
		if scale <= 0 {
			return 0, false, mongoerr.New(mongoerr.BadValue, "Scale must be greater than zero")
		}
	}
	freeStorage, err = command.TrueValue(r.Body, "freeStorage", "dbStats")
	return scale, freeStorage, err
}

// mergeDBStats sums the shards' figures as mongos's aggregateResults does: every shard's reply
// under raw (by its connection string), then the sums; avgObjSize is the average over every
// object, from each shard's unscaled average. A shard's error fails the command with
// OperationFailed and the first error's message, raw showing each shard's outcome.
func mergeDBStats(db string, scale int64, freeStorage bool, answers []shardAnswer) (bsoncore.Document, error) {
	raw := bsoncore.NewDocumentBuilder()
	for _, a := range answers {
		if a.err == nil {
			raw.AppendDocument(a.conn, withoutReplyFields(a.body))
		}
	}
	var failed *mongoerr.Error
	for _, a := range answers {
		if a.err != nil {
			raw.AppendDocument(a.conn, bsoncore.BuildDocument(nil, a.err.AppendFields(nil)))
			if failed == nil {
				failed = a.err
			}
		}
	}
	if failed != nil {
		e := mongoerr.New(mongoerr.OperationFailed, "%s", failed.Msg)
		e.Extra = bsoncore.BuildDocument(nil, bsoncore.AppendDocumentElement(nil, "raw", raw.Build()))
		return nil, e
	}
	var collections, views, objects, indexes int64
	var unscaledData, dataSize, storageSize, totalSize, indexSize, fsUsed, fsTotal, free, totalFree, indexFree float64
	for _, a := range answers {
		b := a.body
		collections += numberLong(b, "collections")
		views += numberLong(b, "views")
		n := numberLong(b, "objects")
		objects += n
		unscaledData += numberDouble(b, "avgObjSize") * float64(n)
		dataSize += numberDouble(b, "dataSize")
		storageSize += numberDouble(b, "storageSize")
		totalSize += numberDouble(b, "totalSize")
		indexes += numberLong(b, "indexes")
		indexSize += numberDouble(b, "indexSize")
		fsUsed += numberDouble(b, "fsUsedSize")
		fsTotal += numberDouble(b, "fsTotalSize")
		free += numberDouble(b, "freeStorageSize")
		totalFree += numberDouble(b, "totalFreeStorageSize")
		indexFree += numberDouble(b, "indexFreeStorageSize")
	}
	avg := 0.0
	if objects > 0 {
		avg = unscaledData / float64(objects)
	}
	out := bsoncore.NewDocumentBuilder().AppendDocument("raw", raw.Build()).AppendString("db", db)
	appendNumber(out, "collections", collections)
	appendNumber(out, "views", views)
	appendNumber(out, "objects", objects)
	out.AppendDouble("avgObjSize", avg).AppendDouble("dataSize", dataSize).AppendDouble("storageSize", storageSize)
	if freeStorage {
		out.AppendDouble("freeStorageSize", free)
	}
	appendNumber(out, "indexes", indexes)
	out.AppendDouble("indexSize", indexSize)
	if freeStorage {
		out.AppendDouble("indexFreeStorageSize", indexFree)
	}
	out.AppendDouble("totalSize", totalSize)
	if freeStorage {
		out.AppendDouble("totalFreeStorageSize", totalFree)
	}
	appendNumber(out, "scaleFactor", scale)
	return out.AppendDouble("fsUsedSize", fsUsed).AppendDouble("fsTotalSize", fsTotal).AppendDouble("ok", 1).Build(), nil
}

// --- collStats ---

// collectionArg is the collection a command names with its first value, as
// parseNsCollectionRequired reads it.
func collectionArg(r *request) (string, error) {
	v, _ := r.Lookup(string(r.Name))
	name, ok := v.StringValueOK()
	if !ok {
		return "", mongoerr.New(mongoerr.InvalidNamespace, "collection name has invalid type %s", mongoerr.TypeName(v.Type))
	}
	if name == "" {
		return "", mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s.'", r.DB)
	}
	return name, nil
}

// collStats asks the shards that hold the collection without the scale, and scales the sums
// (cluster_coll_stats_cmd.cpp): scaling each shard's figures first would lose what each
// division drops.
func (c *conn) collStats(ctx context.Context, r *request) (bsoncore.Document, error) {
	if err := notInTransaction(r); err != nil {
		return nil, err
	}
	coll, err := collectionArg(r)
	if err != nil {
		return nil, err
	}
	scale := int64(1)
	if v, ok := r.Lookup("scale"); ok {
		if f, isNum := v.AsFloat64OK(); isNum {
			if scale = int64(max(min(f, math.MaxInt32), math.MinInt32)); scale < 1 {
				return nil, mongoerr.New(4390200, "scale has to be >= 1")
			}
		} else if trueValue(v) {
			return nil, mongoerr.New(4390201, "scale has to be a number >= 1")
		}
	}
	where, err := c.s.cluster.CollectionShards(ctx, string(r.DB), coll)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	sub := *r
	sub.Body = keepFields(r.Body, func(key []byte) bool { return string(key) != "scale" })
	answers := c.askShards(ctx, &sub, where.Shards)
	if err := firstError(answers); err != nil {
		return nil, err
	}
	info := collInfo{ns: string(r.DB) + "." + coll, sharded: where.Sharded, chunks: where.Chunks,
		primary: c.s.cluster.Shard(where.Primary).Name()}
	return mergeCollStats(info, scale, answers), nil
}

// collInfo is what collStats says of the collection itself.
type collInfo struct {
	ns      string
	sharded bool
	primary string // the database's primary shard, named when the collection is not sharded
	chunks  int
}

// Fields of the shards' collStats that mongos copies from the first shard (they must agree),
// sums, and scales.
var (
	collStatsFirst  = []string{"userFlags", "capped", "max", "paddingFactorNote", "indexDetails", "wiredTiger"}
	collStatsSummed = []string{"count", "size", "storageSize", "totalIndexSize", "totalSize"}
	collStatsScaled = []string{"size", "maxSize", "storageSize", "totalIndexSize", "totalSize"}
)

// mergeCollStats merges the shards' collStats as mongos does: sharded and, for an unsharded
// collection, its primary shard; the fields copied from the first shard; ns; the sums (sizes
// scaled once summed); indexSizes summed per index; avgObjSize over every document; the largest
// nindexes (with mongos's warning when the shards differ); scaleFactor, nchunks, and each
// shard's own figures, scaled, under shards. Other fields of the shards' replies are not
// merged, as mongos drops them.
func mergeCollStats(info collInfo, scale int64, answers []shardAnswer) bsoncore.Document {
	out := bsoncore.NewDocumentBuilder().AppendBoolean("sharded", info.sharded)
	if !info.sharded {
		out.AppendString("primary", info.primary)
	}
	copied := map[string]bool{}
	counts := map[string]int64{}
	indexSizes := map[string]int64{}
	var unscaledSize int64
	var nindexes int32
	warned := false
	shardStats := bsoncore.NewDocumentBuilder()
	for _, a := range answers {
		count := numberLong(a.body, "count")
		bsonview.Each(a.body, func(el bsoncore.Element) bool {
			key := el.Key()
			switch {
			case slices.Contains(collStatsFirst, key):
				if !copied[key] {
					copied[key] = true
					out.AppendValue(key, el.Value())
				}
			case slices.Contains(collStatsSummed, key):
				counts[key] += numberLong(a.body, key)
			case key == "avgObjSize":
				unscaledSize += numberLong(a.body, key) * count
			case key == "indexSizes":
				sizes, _ := el.Value().DocumentOK()
				bsonview.Each(sizes, func(ix bsoncore.Element) bool {
					n, _ := ix.Value().AsInt64OK()
					indexSizes[ix.Key()] += n
					return true
				})
			case key == "nindexes":
				n, _ := el.Value().AsInt64OK()
				switch mine := int32(n); {
				case nindexes == 0:
					nindexes = mine
				case mine != nindexes:
					nindexes = max(nindexes, mine)
					if !warned {
						warned = true
						out.AppendString("warning", "indexes don't all match - ok if ensureIndex is running")
					}
				}
			}
			return true
		})
		shardStats.AppendDocument(a.name, scaleShardStats(withoutReplyFields(a.body), scale))
	}
	out.AppendString("ns", info.ns)
	for _, key := range sortedKeys(counts) {
		n := counts[key]
		if slices.Contains(collStatsScaled, key) {
			n /= scale
		}
		appendNumber(out, key, n)
	}
	sizes := bsoncore.NewDocumentBuilder()
	for _, name := range sortedKeys(indexSizes) {
		appendNumber(sizes, name, indexSizes[name]/scale)
	}
	out.AppendDocument("indexSizes", sizes.Build())
	avg := 0.0
	if counts["count"] > 0 {
		avg = float64(unscaledSize) / float64(counts["count"])
	}
	return out.AppendDouble("avgObjSize", avg).
		AppendInt64("maxSize", 0).
		AppendInt32("nindexes", nindexes).
		AppendInt32("scaleFactor", int32(scale)).
		AppendInt32("nchunks", int32(info.chunks)).
		AppendDocument("shards", shardStats.Build()).
		AppendDouble("ok", 1).Build()
}

// scaleShardStats is one shard's collStats scaled, as mongos's scaleIndividualShardStatistics.
func scaleShardStats(stats bsoncore.Document, scale int64) bsoncore.Document {
	out := bsoncore.NewDocumentBuilder()
	bsonview.Each(stats, func(el bsoncore.Element) bool {
		key := el.Key()
		switch {
		case slices.Contains(collStatsScaled, key):
			appendNumber(out, key, numberLong(stats, key)/scale)
		case key == "scaleFactor":
			appendNumber(out, key, scale)
		case key == "indexSizes":
			sizes, _ := el.Value().DocumentOK()
			scaled := bsoncore.NewDocumentBuilder()
			bsonview.Each(sizes, func(ix bsoncore.Element) bool {
				n, _ := ix.Value().AsInt64OK()
				appendNumber(scaled, ix.Key(), n/scale)
				return true
			})
			out.AppendDocument(key, scaled.Build())
		default:
			out.AppendValue(key, el.Value())
		}
		return true
	})
	return out.Build()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- $collStats ---

// collStatsStage answers an aggregate that begins with $collStats: each shard that holds the
// collection runs the stage alone and its document gets the shard's name, as a shard server's
// $collStats names itself (document_source_coll_stats.cpp); the rest of the pipeline runs on the
// router over those documents, one per shard, as mongos merges it. Every result is in the first
// batch (cursor id 0).
func (c *conn) collStatsStage(ctx context.Context, r *request, stages bsoncore.Array) (bsoncore.Document, error) {
	coll, ok := bsonview.Lookup(r.Body, "aggregate")
	name, isColl := coll.StringValueOK()
	if !ok || !isColl {
		return nil, mongoerr.New(mongoerr.InvalidNamespace, "{aggregate: 1} is not valid for '$collStats'; a collection is required.")
	}
	all, _ := stages.Values()
	stage, _ := all[0].DocumentOK()
	if spec := stage.Index(0).Value(); spec.Type != bsoncore.TypeEmbeddedDocument {
		return nil, mongoerr.New(40166, "$collStats must take a nested object but found: %s", auth.ElementText("$collStats", spec))
	}
	if r.op.Autocommit {
		return nil, mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Stage not supported inside of a multi-document transaction: $collStats")
	}
	where, err := c.s.cluster.CollectionShards(ctx, string(r.DB), name)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	sub := *r
	sub.Body = aggregateOf(r.Body, stage)
	answers := c.askShards(ctx, &sub, where.Shards)
	if err := firstError(answers); err != nil {
		return nil, err
	}
	var docs []bson.Raw
	for _, a := range answers {
		batch, _ := a.body.Lookup("cursor", "firstBatch").ArrayOK()
		vals, _ := batch.Values()
		for _, v := range vals {
			if d, ok := v.DocumentOK(); ok {
				docs = append(docs, withShard(d, a.name))
			}
		}
	}
	if docs, err = runStages(docs, all[1:]); err != nil {
		return nil, err
	}
	return c.queuedCursor(r, string(r.DB)+"."+name, rawDocs(docs))
}

// aggregateOf is the client's aggregate with the one stage for its pipeline, and every result in
// the first batch.
func aggregateOf(body bsoncore.Document, stage bsoncore.Document) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(body, func(el bsoncore.Element) bool {
		switch el.Key() {
		case "pipeline":
			dst = bsoncore.AppendArrayElement(dst, "pipeline", bsoncore.BuildArray(nil,
				bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: stage}))
		case "cursor":
			dst = bsoncore.AppendDocumentElement(dst, "cursor", bsoncore.NewDocumentBuilder().Build())
		default:
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// withShard is a $collStats document with shard: name after its ns.
func withShard(doc bsoncore.Document, name string) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if el.Key() != "shard" {
			dst = append(dst, el...)
		}
		if el.Key() == "ns" {
			dst = bsoncore.AppendStringElement(dst, "shard", name)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return bson.Raw(dst)
}

// --- dataSize ---

// dataSize sums size, numObjects and millis over the shards that hold the namespace it names
// (cluster_data_size_cmd.cpp).
func (c *conn) dataSize(ctx context.Context, r *request) (bsoncore.Document, error) {
	if err := notInTransaction(r); err != nil {
		return nil, err
	}
	db, coll, err := dataSizeNS(r)
	if err != nil {
		return nil, err
	}
	where, err := c.s.cluster.CollectionShards(ctx, db, coll)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	answers := c.askShards(ctx, r, where.Shards)
	if err := firstError(answers); err != nil {
		return nil, err
	}
	var size, objects, millis int64
	for _, a := range answers {
		size += numberLong(a.body, "size")
		objects += numberLong(a.body, "numObjects")
		millis += numberLong(a.body, "millis")
	}
	return bsoncore.NewDocumentBuilder().
		AppendInt64("size", size).
		AppendInt64("numObjects", objects).
		AppendInt64("millis", millis).
		AppendDouble("ok", 1).Build(), nil
}

// dataSizeNS reads the namespace dataSize names, "db.coll" (DataSizeCommand's namespacestring
// parameter).
func dataSizeNS(r *request) (db, coll string, err error) {
	v, _ := r.Lookup(string(r.Name))
	ns, ok := v.StringValueOK()
	if !ok {
		return "", "", mongoerr.WrongType(string(r.Name)+"."+string(r.Name), v.Type, "string")
	}
	db, coll, ok = strings.Cut(ns, ".")
	if !ok || db == "" || coll == "" {
		return "", "", mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s'", ns)
	}
	return db, coll, nil
}
