package query

import (
	"errors"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// FuzzFilter: any filter bytes and any document bytes must give a MongoDB-shaped error or a
// match result, never a panic. Seeds live in testdata/fuzz/FuzzFilter.
func FuzzFilter(f *testing.F) {
	f.Add([]byte(doc(f, `{"a": {"$in": [1, "x"]}, "b.c": {"$exists": true}}`)), []byte(doc(f, `{"a": [1], "b": [{"c": 1}]}`)))
	f.Fuzz(func(t *testing.T, filter, d []byte) {
		flt, err := NewFilter(filter)
		if err != nil {
			mustBeMongoErr(t, err)
			return
		}
		flt.Match(d)
		flt.IDEquality()
		for _, p := range flt.Paths() {
			for _, multikey := range []bool{false, true} {
				if ivs, ok := flt.Bounds(p, multikey); ok {
					Within(ivs, ivs)
					BoundsArray(ivs, multikey)
				}
			}
		}
	})
}

// FuzzIndexKeys: any document and key pattern give keys or a MongoDB-shaped error.
func FuzzIndexKeys(f *testing.F) {
	f.Add([]byte(doc(f, `{"a": [{"b": 1}, {"b": [2, 3]}], "c": 1}`)), "a.b", "c")
	f.Fuzz(func(t *testing.T, d []byte, p1, p2 string) {
		if !validDoc(d) || p1 == "" || p2 == "" {
			return
		}
		if _, _, _, err := IndexKeys(d, [][]string{splitPath(p1), splitPath(p2)}); err != nil {
			mustBeMongoErr(t, err)
		}
	})
}

// FuzzSpecs feeds the same kind of input to the other parsers: the first argument as a
// projection, sort, update and one-stage pipeline, applied to the second.
func FuzzSpecs(f *testing.F) {
	f.Add([]byte(doc(f, `{"$set": {"a.b": 1}, "$push": {"c": {"$each": [1], "$sort": 1}}}`)), []byte(doc(f, `{"_id": 1, "c": [2]}`)))
	f.Add([]byte(doc(f, `{"$group": {"_id": "$a", "n": {"$sum": "$b"}}}`)), []byte(doc(f, `{"a": 1, "b": 2.5}`)))
	f.Add([]byte(doc(f, `{"a.b": 1, "c": "$d"}`)), []byte(doc(f, `{"a": [{"b": 1}], "d": {"e": 1}}`)))
	f.Add([]byte(doc(f, `{"$replaceWith": {"$setField": {"field": {"$literal": "$a"}, "value": {"$add": ["$x", 1]}, "input": "$$ROOT"}}}`)), []byte(doc(f, `{"_id": 1, "x": 2}`)))
	f.Add([]byte(doc(f, `{"$set": {"y.$[i].b": {"$cond": [true, 1, 2]}}}`)), []byte(doc(f, `{"_id": 1, "y": [{"b": 1}]}`)))
	f.Add([]byte(doc(f, `{"locale": "en", "strength": 2}`)), []byte(doc(f, `{"x": "A"}`)))
	f.Fuzz(func(t *testing.T, spec, d []byte) {
		if c, err := NewCollation(spec); err == nil {
			c.Compare(docValue(d), docValue(spec))
		} else {
			mustBeMongoErr(t, err)
		}
		if env, err := NewEnv(spec, nil, time.Time{}); err != nil {
			mustBeMongoErr(t, err)
		} else if _, err := env.Update(arrayValue([]bson.RawValue{docValue(spec)}), nil); err != nil {
			mustBeMongoErr(t, err)
		}
		if u, err := (*Env)(nil).Update(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: spec}, []bson.Raw{d}); err == nil {
			if _, _, err := u.Apply(d); err != nil {
				mustBeMongoErr(t, err)
			}
		} else {
			mustBeMongoErr(t, err)
		}
		if p, err := NewProjection(spec); err == nil {
			if _, err := p.Apply(d); err != nil {
				mustBeMongoErr(t, err)
			}
		} else {
			mustBeMongoErr(t, err)
		}
		if s, err := NewSort(spec); err == nil {
			s.Sort([]bson.Raw{d, d, spec})
		} else {
			mustBeMongoErr(t, err)
		}
		if u, err := NewUpdate(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: spec}); err == nil {
			_, _, err = u.Apply(d)
			if err != nil {
				mustBeMongoErr(t, err)
			}
			if _, err = u.Upsert(d); err != nil {
				mustBeMongoErr(t, err)
			}
		} else {
			mustBeMongoErr(t, err)
		}
		if p, err := NewPipeline([]bson.Raw{spec}); err == nil {
			if _, err := p.Run([]bson.Raw{d, d}); err != nil {
				mustBeMongoErr(t, err)
			}
		} else {
			mustBeMongoErr(t, err)
		}
	})
}

func mustBeMongoErr(t *testing.T, err error) {
	t.Helper()
	var me *mongoerr.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v (%T) is not a *mongoerr.Error", err, err)
	}
}
