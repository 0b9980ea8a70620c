package memshard

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// $collStats (document_source_coll_stats.cpp): one document about the collection, with the
// sections asked for: count, and storageStats as collStats reports them (stats.go).
// latencyStats and queryExecStats need counters memshard does not keep, and are refused.

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
	idx, out := bsoncore.AppendDocumentStart(nil)
	out = bsoncore.AppendStringElement(out, "ns", r.ns(coll))
	out = bsoncore.AppendStringElement(out, "host", r.m.host)
	out = bsoncore.AppendDateTimeElement(out, "localTime", time.Now().UnixMilli())
	err := r.read(coll, func(c *collection, view *txn) error {
		for _, section := range sections {
			if c == nil {
				return mongoerr.New(mongoerr.NamespaceNotFound, "PlanExecutor error during aggregation :: caused by :: "+
					"Unable to retrieve %s in $collStats stage :: caused by :: Collection [%s] not found.", section, r.ns(coll))
			}
			if c.meta.view != nil {
				return viewError(c.ns())
			}
			sizes := c.sizes(view)
			if section == "count" {
				out = appendNumber(out, "count", sizes.count)
				continue
			}
			sidx, stats := bsoncore.AppendDocumentElementStart(out, "storageStats")
			out, _ = bsoncore.AppendDocumentEnd(appendStorageStats(stats, sizes, true, scale), sidx)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return []bson.Raw{bson.Raw(out)}, nil
}
