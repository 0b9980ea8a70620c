package query

import (
	"errors"
	"testing"

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
	})
}

// FuzzSpecs feeds the same kind of input to the other parsers: the first argument as a
// projection, sort, update and one-stage pipeline, applied to the second.
func FuzzSpecs(f *testing.F) {
	f.Add([]byte(doc(f, `{"$set": {"a.b": 1}, "$push": {"c": {"$each": [1], "$sort": 1}}}`)), []byte(doc(f, `{"_id": 1, "c": [2]}`)))
	f.Add([]byte(doc(f, `{"$group": {"_id": "$a", "n": {"$sum": "$b"}}}`)), []byte(doc(f, `{"a": 1, "b": 2.5}`)))
	f.Add([]byte(doc(f, `{"a.b": 1, "c": "$d"}`)), []byte(doc(f, `{"a": [{"b": 1}], "d": {"e": 1}}`)))
	f.Fuzz(func(t *testing.T, spec, d []byte) {
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
