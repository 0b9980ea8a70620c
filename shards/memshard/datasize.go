package memshard

import (
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// cmdDataSize: {dataSize: "db.coll", keyPattern, min, max, estimate, maxSize, maxObjects}
// (CmdDatasize in src/mongo/db/commands/dbcommands.cpp): the bytes and the number of the
// documents whose key lies in [min, max), or of the whole collection without bounds; with
// estimate, each document counts as the collection's average size. An empty or missing
// collection answers zeros. mongod walks an index that has keyPattern as its prefix and refuses
// the command without one; memshard compares each document's key instead and needs no index.
func cmdDataSize(r *request) error {
	start := time.Now()
	v := r.body.Index(0).Value()
	ns, ok := v.StringValueOK()
	if !ok {
		return mongoerr.New(mongoerr.BadValue, "collection name has invalid type %s", mongoerr.TypeName(v.Type))
	}
	db, coll, ok := strings.Cut(ns, ".")
	if !ok || db == "" || coll == "" {
		return mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s'", ns)
	}
	bounds, err := dataSizeBounds(r.body)
	if err != nil {
		return err
	}
	estimate := r.boolArg("estimate", false)
	maxSize, maxObjects := numberLongArg(r.body, "maxSize"), numberLongArg(r.body, "maxObjects")
	s := r.m.rs.store
	s.mu.RLock()
	var docs []bson.Raw
	if c := s.coll(db, coll, nil); c != nil {
		for _, d := range c.docs {
			if raw := visible(d, nil); raw != nil {
				docs = append(docs, raw)
			}
		}
	}
	s.mu.RUnlock()
	out := r.out
	if len(docs) == 0 {
		out = appendNumber(out, "size", 0)
		out = appendNumber(out, "numObjects", 0)
		r.out = bsoncore.AppendInt64Element(out, "millis", time.Since(start).Milliseconds())
		return nil
	}
	out = bsoncore.AppendBooleanElement(out, "estimate", estimate)
	var total int64
	for _, d := range docs {
		total += int64(len(d))
	}
	avg := total / int64(len(docs))
	var size, objects int64
	for _, d := range docs {
		if !bounds.contains(d) {
			continue
		}
		if estimate {
			size += avg
		} else {
			size += int64(len(d))
		}
		objects++
		if maxSize > 0 && size > maxSize || maxObjects > 0 && objects > maxObjects {
			out = bsoncore.AppendBooleanElement(out, "maxReached", true)
			break
		}
	}
	out = appendNumber(out, "size", size)
	out = appendNumber(out, "numObjects", objects)
	r.out = bsoncore.AppendInt64Element(out, "millis", time.Since(start).Milliseconds())
	return nil
}

// keyRange is dataSize's [min, max) over the key pattern's fields; no fields: every document.
type keyRange struct {
	fields   []string
	dirs     []int
	min, max []bson.RawValue
}

// dataSizeBounds reads min, max and keyPattern (inferred from min's fields when absent, as
// Helpers::inferKeyPattern does).
func dataSizeBounds(body bsoncore.Document) (keyRange, error) {
	minV, minErr := body.LookupErr("min")
	maxV, maxErr := body.LookupErr("max")
	hasMin, hasMax := minErr == nil, maxErr == nil
	switch {
	case hasMin && !hasMax:
		return keyRange{}, mongoerr.New(mongoerr.BadValue, "max must be set if min is set")
	case hasMax && !hasMin:
		return keyRange{}, mongoerr.New(mongoerr.BadValue, "min must be set if max is set")
	case !hasMin:
		return keyRange{}, nil
	}
	minDoc, ok := minV.DocumentOK()
	if !ok {
		return keyRange{}, mongoerr.New(mongoerr.BadValue, "min key must be an object")
	}
	maxDoc, ok := maxV.DocumentOK()
	if !ok {
		return keyRange{}, mongoerr.New(mongoerr.BadValue, "max key must be an object")
	}
	pattern, _ := body.Lookup("keyPattern").DocumentOK()
	if len(pattern) <= 5 {
		pattern = minDoc
	}
	var kr keyRange
	elems, _ := pattern.Elements()
	for i, e := range elems {
		kr.fields = append(kr.fields, e.Key())
		dir := 1
		if f, _ := e.Value().AsFloat64OK(); f < 0 {
			dir = -1
		}
		kr.dirs = append(kr.dirs, dir)
		kr.min = append(kr.min, boundValue(minDoc, i))
		kr.max = append(kr.max, boundValue(maxDoc, i))
	}
	return kr, nil
}

// boundValue is a bound's i-th value (bounds are matched to the pattern by position); MinKey
// past its end, as KeyPattern::extendRangeBound extends a bound.
func boundValue(bound bsoncore.Document, i int) bson.RawValue {
	elems, _ := bound.Elements()
	if i >= len(elems) {
		return bson.RawValue{Type: bson.TypeMinKey}
	}
	v := elems[i].Value()
	return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}
}

// contains reports whether doc's key is in [min, max); a missing field keys as null.
func (kr keyRange) contains(doc bson.Raw) bool {
	if len(kr.fields) == 0 {
		return true
	}
	key := make([]bson.RawValue, len(kr.fields))
	for i, f := range kr.fields {
		v, err := doc.LookupErr(strings.Split(f, ".")...)
		if err != nil {
			v = bson.RawValue{Type: bson.TypeNull}
		}
		key[i] = v
	}
	return query.CompareKeys(key, kr.min, kr.dirs) >= 0 && query.CompareKeys(key, kr.max, kr.dirs) < 0
}

// numberLongArg is an optional number of the command, 0 when absent (BSONElement::numberLong).
func numberLongArg(body bsoncore.Document, key string) int64 {
	n, _ := body.Lookup(key).AsInt64OK()
	return n
}
