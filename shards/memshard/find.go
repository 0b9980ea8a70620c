package memshard

import (
	"encoding/binary"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/query"
)

// Reads through the query layer: find, count and distinct.

func cmdFind(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	q, err := r.readSpec("filter")
	if err != nil {
		return err
	}
	proj, sortKeyFields, err := r.findProjection()
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
	rows, a, _, err := r.readQuery(coll, q)
	if err != nil {
		return err
	}
	rows = window(rows, skip, limit)
	docs := make([]bson.Raw, len(rows))
	for i, x := range rows {
		switch {
		case returnKey: // only the index key; mongod drops the record id with the document
			docs[i] = a.keyDoc(x.doc)
		case proj != nil:
			if docs[i], err = proj.Apply(x.doc); err != nil {
				return err
			}
		default:
			docs[i] = x.doc
		}
		if showRecordID && !returnKey {
			docs[i] = withRecordID(docs[i], x.rid)
		}
		if len(sortKeyFields) > 0 {
			docs[i] = withSortKey(docs[i], sortKeyFields, q.sorter, x.doc)
		}
	}
	r.replyCursor(r.ns(coll), docs, batchSize, r.boolArg("singleBatch", false))
	return nil
}

// readSpec reads a read command's filter (under filterKey), sort and hint.
func (r *request) readSpec(filterKey string) (querySpec, error) {
	var q querySpec
	var err error
	if q.filter, _, err = r.filterArg(filterKey); err != nil {
		return q, err
	}
	env, err := r.queryEnv()
	if err != nil {
		return q, err
	}
	if err := q.sortArg(env, r.body, r.name); err != nil {
		return q, err
	}
	q.hint = hintArg(r.body)
	return q, nil
}

// found is a document a read matched, with its record id.
type found struct {
	doc bson.Raw
	rid int64
}

// readQuery runs a read's query on coll as the request reads it: the documents q matches in
// q's sort order (else the plan's), the access the plan chose, and what it examined. A view's
// documents are its pipeline's output, filtered and sorted in memory.
func (r *request) readQuery(coll string, q querySpec) ([]found, *access, scanStats, error) {
	var rows []found
	var st scanStats
	a := &access{kind: collScan}
	err := r.read(coll, func(c *collection, view *txn) error {
		s := r.m.rs.store
		if c != nil && c.meta.view != nil {
			docs, err := s.viewDocs(c, view)
			if err != nil {
				return err
			}
			for _, d := range docs {
				st.docs++
				if q.filter.Match(d) {
					rows = append(rows, found{doc: d})
				}
			}
			return q.filter.Err()
		}
		var err error
		if a, err = c.plan(q); err != nil {
			return err
		}
		docs, err := c.execute(s, a, q.filter, view, 0, &st)
		for _, d := range docs {
			rows = append(rows, found{visible(d, view), d.rid})
		}
		return err
	})
	if err != nil || q.sorter == nil || a.sorted {
		return rows, a, st, err
	}
	query.SortBy(q.sorter, rows, func(x found) []byte { return x.doc })
	return rows, a, st, nil
}

// window applies skip and limit (0: none).
func window[T any](rows []T, skip, limit int) []T {
	rows = rows[min(skip, len(rows)):]
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	return rows
}

// keyDoc is returnKey's document: the key of the index the plan read, or nothing when it read
// no index.
func (a *access) keyDoc(doc bson.Raw) bson.Raw {
	b := bsoncore.NewDocumentBuilder()
	switch a.kind {
	case idHack:
		if id, err := doc.LookupErr("_id"); err == nil {
			b.AppendValue("_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
		}
	case ixScan:
		if keys, _, _ := a.ix.keysOf(doc); len(keys) > 0 {
			for i, f := range a.ix.fields {
				b.AppendValue(f, bsoncore.Value{Type: bsoncore.Type(keys[0][i].Type), Data: keys[0][i].Value})
			}
		}
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
	q, err := r.readSpec("query")
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
	rows, _, _, err := r.readQuery(coll, q)
	if err != nil {
		return err
	}
	n := max(len(rows)-skip, 0)
	if limit > 0 {
		n = min(n, limit)
	}
	r.out = bsoncore.AppendInt32Element(r.out, "n", int32(n))
	return nil
}

// cmdDistinct returns the distinct values (array elements counted singly) in BSON order, as
// mongod's ordered value set does, equal by the command's collation.
func cmdDistinct(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	key, err := r.stringArg("key", true)
	if err != nil {
		return err
	}
	q, err := r.readSpec("query")
	if err != nil {
		return err
	}
	rows, _, _, err := r.readQuery(coll, q)
	if err != nil {
		return err
	}
	path := strings.Split(key, ".")
	byColl := r.env.Collation
	seen := map[string]bool{}
	var vals []bson.RawValue
	addVal := func(v bson.RawValue) {
		if k := byColl.IndexKey(v); !seen[k] {
			seen[k] = true
			vals = append(vals, v)
		}
	}
	for _, x := range rows {
		v, err := x.doc.LookupErr(path...)
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
	slices.SortStableFunc(vals, byColl.Compare)
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

// findProjection is find's projection, and the fields of {$meta: "sortKey"}, which a router asks
// for to merge sorted results from several shards.
func (r *request) findProjection() (*query.Projection, []string, error) {
	spec, _, err := r.docArg("projection")
	if err != nil {
		return nil, nil, err
	}
	spec, sortKeyFields := query.SplitSortKeyMeta(spec)
	proj, err := r.projection(spec)
	return proj, sortKeyFields, err
}

// withSortKey appends, under each name, doc's sort key: the array of its values for the find's
// sort (mongod's {$meta: "sortKey"}; empty without a sort).
func withSortKey(projected bson.Raw, names []string, sorter *query.Sort, doc bson.Raw) bson.Raw {
	var keys []bson.RawValue
	if sorter != nil {
		keys = sorter.Keys(doc)
	}
	aidx, arr := bsoncore.AppendArrayStart(nil)
	for i, k := range keys {
		arr = bsoncore.AppendValueElement(arr, strconv.Itoa(i), bsoncore.Value{Type: bsoncore.Type(k.Type), Data: k.Value})
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, aidx)
	out := bsoncore.Document(slices.Clone(projected[:len(projected)-1]))
	for _, name := range names {
		out = bsoncore.AppendArrayElement(out, name, arr)
	}
	out = append(out, 0)
	binary.LittleEndian.PutUint32(out, uint32(len(out)))
	return bson.Raw(out)
}
