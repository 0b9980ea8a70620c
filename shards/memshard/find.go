package memshard

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/shards/memshard/query"
)

// Reads through the query layer: find, count and distinct.

func cmdFind(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	f, _, err := r.filterArg("filter")
	if err != nil {
		return err
	}
	sorter, err := r.sortArg("sort")
	if err != nil {
		return err
	}
	proj, err := r.projectionArg("projection")
	if err != nil {
		return err
	}
	skip, err := r.intArg("skip", 0)
	if err != nil {
		return err
	}
	limit, err := r.intArg("limit", 0)
	if err != nil {
		return err
	}
	batchSize, err := r.intArg("batchSize", defaultFirstBatch)
	if err != nil {
		return err
	}
	returnKey, showRecordID := r.boolArg("returnKey", false), r.boolArg("showRecordId", false)
	var rows []found
	err = r.read(coll, func(c *collection, view *txn) error {
		for _, d := range c.matching(f, view, false) {
			rows = append(rows, found{visible(d, view), d.rid})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sorter != nil {
		query.SortBy(sorter, rows, func(x found) []byte { return x.doc })
	}
	rows = window(rows, skip, limit)
	idIndex := returnKey && r.usesIDIndex(f)
	docs := make([]bson.Raw, len(rows))
	for i, x := range rows {
		switch {
		case returnKey: // only the index key; mongod drops the record id with the document
			docs[i] = indexKey(x.doc, idIndex)
		case proj != nil:
			docs[i] = proj.Apply(x.doc)
		default:
			docs[i] = x.doc
		}
		if showRecordID && !returnKey {
			docs[i] = withRecordID(docs[i], x.rid)
		}
	}
	r.replyCursor(r.ns(coll), docs, batchSize, r.boolArg("singleBatch", false))
	return nil
}

// found is a document a read matched, with its record id.
type found struct {
	doc bson.Raw
	rid int64
}

// window applies skip and limit (0: none).
func window[T any](rows []T, skip, limit int) []T {
	rows = rows[min(skip, len(rows)):]
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	return rows
}

// usesIDIndex reports whether mongod would read a find through the _id index (the only index
// memshard keeps): an _id equality, range or $in, or a sort on _id alone.
func (r *request) usesIDIndex(f *query.Filter) bool {
	if f.UsesIDIndex() {
		return true
	}
	spec, _, _ := r.docArg("sort")
	elems, _ := bsoncore.Document(spec).Elements()
	return len(elems) == 1 && elems[0].Key() == "_id"
}

// indexKey is returnKey's document: the _id index key, or nothing when no index was used.
func indexKey(doc bson.Raw, idIndex bool) bson.Raw {
	b := bsoncore.NewDocumentBuilder()
	if id, err := doc.LookupErr("_id"); err == nil && idIndex {
		b.AppendValue("_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	}
	return bson.Raw(b.Build())
}

// withRecordID is showRecordId's document: doc with $recordId (a long) last.
func withRecordID(doc bson.Raw, rid int64) bson.Raw {
	return bson.Raw(withElement(bsoncore.Document(doc), bsoncore.AppendInt64Element(nil, "$recordId", rid)))
}

// withElement is a copy of doc with the element elem added last.
func withElement(doc bsoncore.Document, elem []byte) bsoncore.Document {
	out := make([]byte, 0, len(doc)+len(elem))
	out = append(append(out, doc[:len(doc)-1]...), elem...)
	out = append(out, 0)
	bsoncore.UpdateLength(out, 0, int32(len(out)))
	return out
}

func cmdCount(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	f, _, err := r.filterArg("query")
	if err != nil {
		return err
	}
	skip, err := r.intArg("skip", 0)
	if err != nil {
		return err
	}
	limit := 0
	if v, ok := r.body.Lookup("limit").AsInt64OK(); ok {
		limit = int(min(max(v, -v), 1<<31-1)) // a negative limit counts like its absolute value
	}
	var n int
	err = r.read(coll, func(c *collection, view *txn) error {
		n = len(c.matching(f, view, false))
		return nil
	})
	if err != nil {
		return err
	}
	n = max(n-skip, 0)
	if limit > 0 {
		n = min(n, limit)
	}
	r.out = bsoncore.AppendInt32Element(r.out, "n", int32(n))
	return nil
}

// cmdDistinct returns the distinct values (array elements counted singly) in BSON order, as
// mongod's ordered value set does.
func cmdDistinct(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	key, err := r.stringArg("key", true)
	if err != nil {
		return err
	}
	f, _, err := r.filterArg("query")
	if err != nil {
		return err
	}
	path := strings.Split(key, ".")
	seen := map[string]bool{}
	var vals []bson.RawValue
	addVal := func(v bson.RawValue) {
		if k := query.IndexKey(v); !seen[k] {
			seen[k] = true
			vals = append(vals, v)
		}
	}
	err = r.read(coll, func(c *collection, view *txn) error {
		for _, d := range c.matching(f, view, false) {
			v, err := visible(d, view).LookupErr(path...)
			if err != nil {
				continue
			}
			if arr, ok := v.ArrayOK(); ok {
				elems, _ := arr.Values()
				for _, e := range elems {
					addVal(e)
				}
				continue
			}
			addVal(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sortValues(vals)
	idx, out := bsoncore.AppendArrayElementStart(r.out, "values")
	for i, v := range vals {
		out = bsoncore.AppendValueElement(out, arrayKey(i), bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	}
	r.out, _ = bsoncore.AppendArrayEnd(out, idx)
	if r.snapshotRead {
		r.out = bsoncore.AppendTimestampElement(r.out, "atClusterTime", r.readAt.T, r.readAt.I)
	}
	return nil
}

func sortValues(vals []bson.RawValue) { slices.SortStableFunc(vals, query.Compare) }
