package memshard

import (
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards/memshard/query"
)

const collStatsStage = "$collStats"

// aggregateCollStats answers a pipeline that begins with $collStats as a replica-set member does
// (document_source_coll_stats.cpp makeStatsForNs): one document about the collection, {ns, host,
// localTime}, with storageStats (stats.go's sizes, appendCollectionStorageStats's shape) and
// count as asked, then the rest of the pipeline. A member of a plain replica set is no shard
// server, so it names no shard. latencyStats and queryExecStats need counters memshard does not
// keep, and are refused.
func (r *request) aggregateCollStats(specs []bsoncore.Document) error {
	coll, ok := r.body.Index(0).Value().StringValueOK()
	if !ok {
		return mongoerr.New(mongoerr.InvalidNamespace, "{aggregate: 1} is not valid for '$collStats'; a collection is required.")
	}
	spec, ok := specs[0].Index(0).Value().DocumentOK()
	if !ok {
		return mongoerr.New(40166, "$collStats must take a nested object but found: %s",
			auth.ElementText(collStatsStage, specs[0].Index(0).Value()))
	}
	if r.txn != nil {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Stage not supported inside of a multi-document transaction: $collStats")
	}
	batchSize, err := r.aggregateBatchSize()
	if err != nil {
		return err
	}
	doc, err := r.collStatsDoc(coll, spec)
	if err != nil {
		return err
	}
	docs, err := runLater(specs, []bson.Raw{doc})
	if err != nil {
		return err
	}
	r.replyCursor(r.ns(coll), docs, batchSize, false)
	return nil
}

// runLater runs the stages after a pipeline's first over the documents the first produced.
func runLater(specs []bsoncore.Document, docs []bson.Raw) ([]bson.Raw, error) {
	rest := make([]bson.Raw, len(specs)-1)
	for i, d := range specs[1:] {
		rest[i] = bson.Raw(d)
	}
	p, err := query.NewPipeline(rest)
	if err != nil {
		return nil, err
	}
	return p.Run(docs)
}

// collStatsDoc builds the stage's one document, in the order mongod appends its sections.
func (r *request) collStatsDoc(coll string, spec bsoncore.Document) (bson.Raw, error) {
	var storage bsoncore.Document
	count := false
	elems, _ := spec.Elements()
	for _, e := range elems {
		switch e.Key() {
		case "storageStats":
			d, ok := e.Value().DocumentOK()
			if !ok {
				return nil, mongoerr.WrongType("$collStats.storageStats", e.Value().Type, "object")
			}
			storage = d
		case "count":
			if _, ok := e.Value().DocumentOK(); !ok {
				return nil, mongoerr.WrongType("$collStats.count", e.Value().Type, "object")
			}
			count = true
		case "latencyStats", "queryExecStats":
			return nil, mongoerr.New(mongoerr.BadValue, "memshard does not keep the figures of $collStats %s", e.Key())
		default:
			return nil, mongoerr.New(40415, "BSON field '$collStats.%s' is an unknown field.", e.Key())
		}
	}
	scale, err := storageScale(storage)
	if err != nil {
		return nil, err
	}
	s := r.m.rs.store
	s.mu.RLock()
	c := s.coll(r.db, coll, nil)
	dbExists := len(s.dbs[r.db]) > 0
	var cs collSizes
	if c != nil {
		cs = c.sizes(nil)
	}
	s.mu.RUnlock()
	idx, out := bsoncore.AppendDocumentStart(nil)
	out = bsoncore.AppendStringElement(out, "ns", r.ns(coll))
	out = bsoncore.AppendStringElement(out, "host", r.m.host)
	out = bsoncore.AppendDateTimeElement(out, "localTime", time.Now().UnixMilli())
	missing := func(section string) error {
		what := "Collection [" + r.ns(coll) + "]"
		if !dbExists {
			what = "Database [" + r.db + "]"
		}
		return mongoerr.New(mongoerr.NamespaceNotFound,
			"Unable to retrieve %s in $collStats stage :: caused by :: %s not found.", section, what)
	}
	if storage != nil {
		if c == nil {
			return nil, missing("storageStats")
		}
		sidx, o := bsoncore.AppendDocumentElementStart(out, "storageStats")
		out, _ = bsoncore.AppendDocumentEnd(appendStorageStats(o, cs, true, scale), sidx)
	}
	if count {
		if c == nil {
			return nil, missing("count")
		}
		out = appendNumber(out, "count", cs.count)
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return bson.Raw(out), nil
}

// storageScale is storageStats's scale (StorageStatsSpec: a safeInt of at least 1).
func storageScale(storage bsoncore.Document) (int64, error) {
	v, err := storage.LookupErr("scale")
	if err != nil {
		return 1, nil
	}
	n, ok := safeNumber(v, math.MinInt32, math.MaxInt32)
	if !ok {
		return 0, wrongTypes("scale", v.Type, numberTypes)
	}
	if n < 1 {
		return 0, mongoerr.New(51024, "BSON field 'scale' value must be >= 1, actual value '%d'", n)
	}
	return n, nil
}
