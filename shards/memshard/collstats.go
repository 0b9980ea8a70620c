package memshard

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// $collStats (document_source_coll_stats.cpp): one document about the collection, with the
// sections asked for: count, and storageStats in mongod's shape (memshard stores documents
// as their BSON, so storage size is data size and nothing is free). latencyStats and
// queryExecStats need counters memshard does not keep, and are refused.

func (r *request) collStats(coll string, stage bson.Raw) ([]bson.Raw, error) {
	spec, ok := stage.Lookup("$collStats").DocumentOK()
	if !ok {
		return nil, mongoerr.New(mongoerr.Code(5447000), "$collStats must take a nested object but found: %s", stage.Lookup("$collStats"))
	}
	scale := int64(1)
	var sections []string
	elems, _ := spec.Elements()
	for _, e := range elems {
		switch e.Key() {
		case "count", "storageStats":
			d, ok := e.Value().DocumentOK()
			if !ok {
				return nil, mongoerr.WrongType("$collStats."+e.Key(), bsoncore.Type(e.Value().Type), "object")
			}
			if e.Key() == "storageStats" {
				if v, err := bsoncore.Document(d).LookupErr("scale"); err == nil {
					n, ok := v.AsInt64OK()
					if !ok || n < 1 {
						return nil, mongoerr.New(mongoerr.Code(51024), "BSON field 'scale' value must be >= 1, actual value '%s'", v)
					}
					scale = n
				}
			}
			sections = append(sections, e.Key())
		case "latencyStats", "queryExecStats":
			return nil, mongoerr.New(mongoerr.BadValue, "memshard does not support $collStats %s", e.Key())
		default:
			return nil, mongoerr.New(mongoerr.IDLUnknownField, "BSON field '$collStats.%s' is an unknown field.", e.Key())
		}
	}
	out := bsoncore.NewDocumentBuilder().AppendString("ns", r.ns(coll)).AppendString("host", r.m.host).
		AppendDateTime("localTime", time.Now().UnixMilli())
	err := r.read(coll, func(c *collection, view *txn) error {
		for _, section := range sections {
			if c == nil {
				return mongoerr.New(mongoerr.NamespaceNotFound, "PlanExecutor error during aggregation :: caused by :: "+
					"Unable to retrieve %s in $collStats stage :: caused by :: Collection [%s] not found.", section, r.ns(coll))
			}
			if c.meta.view != nil {
				return viewError(c.ns())
			}
			docs := c.scan(view, nil)
			if section == "count" {
				out.AppendInt64("count", int64(len(docs)))
				continue
			}
			out.AppendDocument("storageStats", c.storageStats(docs, scale))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []bson.Raw{bson.Raw(out.Build())}, nil
}

// storageStats is the storageStats section for the documents, sizes divided by scale.
func (c *collection) storageStats(docs []bson.Raw, scale int64) bsoncore.Document {
	var size int64
	for _, d := range docs {
		size += int64(len(d))
	}
	b := bsoncore.NewDocumentBuilder().AppendInt64("size", size/scale).AppendInt64("count", int64(len(docs)))
	if len(docs) > 0 {
		b.AppendInt64("avgObjSize", size/int64(len(docs)))
	}
	b.AppendInt64("numOrphanDocs", 0).AppendInt64("storageSize", size/scale).AppendInt64("freeStorageSize", 0).
		AppendBoolean("capped", isCapped(c.meta.options)).AppendInt32("nindexes", int32(len(c.indexes))).
		AppendArray("indexBuilds", bsoncore.NewArrayBuilder().Build())
	sizes := bsoncore.NewDocumentBuilder()
	var total int64
	for _, ix := range c.indexes {
		n := ix.size() / scale
		sizes.AppendInt64(ix.name, n)
		total += n
	}
	return b.AppendInt64("totalIndexSize", total).AppendDocument("indexSizes", sizes.Build()).
		AppendInt64("totalSize", size/scale+total).AppendInt32("scaleFactor", int32(scale)).Build()
}

func isCapped(options bsoncore.Document) bool {
	b, _ := options.Lookup("capped").BooleanOK()
	return b
}

// size is what ix holds: each key's bytes plus a record id per document.
func (ix *index) size() int64 {
	var n int64
	for _, g := range ix.groups {
		for _, v := range g.key {
			n += int64(len(v.Value)) + 1
		}
		n += 8 * int64(len(g.docs))
	}
	return n
}
