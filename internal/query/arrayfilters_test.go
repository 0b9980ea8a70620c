package query

import (
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func arrayFilterDocs(t *testing.T, js string) []bson.Raw {
	t.Helper()
	if js == "" {
		return nil
	}
	return docs(t, js)
}

func TestArrayFilterUpdates(t *testing.T) {
	d := `{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}, {"b": 6, "c": [{"d": 1}]}], "n": [1, 2, 3]}`
	for _, tt := range []struct {
		update, filters, want string
	}{
		{`{"$set": {"y.$[i].c.$[j].d": 0}}`, `[{"i.b": 5}, {"j.d": 1}]`,
			`{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 0}]}, {"b": 6, "c": [{"d": 1}]}], "n": [1, 2, 3]}`},
		{`{"$set": {"y.$[].b": 0}}`, ``,
			`{"_id": 3, "y": [{"b": 0, "c": [{"d": 2}, {"d": 1}]}, {"b": 0, "c": [{"d": 1}]}], "n": [1, 2, 3]}`},
		{`{"$inc": {"n.$[big]": 10}}`, `[{"big": {"$gte": 2}}]`,
			`{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}, {"b": 6, "c": [{"d": 1}]}], "n": [1, 12, 13]}`},
		{`{"$set": {"y.$[i].new": true}}`, `[{"i.b": {"$gt": 5}}]`,
			`{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}, {"b": 6, "c": [{"d": 1}], "new": true}], "n": [1, 2, 3]}`},
		{`{"$set": {"y.$[i].b": 1}}`, `[{"i.b": 99}]`, d},
		{`{"$unset": {"n.$[x]": 1}}`, `[{"x": 2}]`,
			`{"_id": 3, "y": [{"b": 5, "c": [{"d": 2}, {"d": 1}]}, {"b": 6, "c": [{"d": 1}]}], "n": [1, null, 3]}`},
	} {
		u, err := (*Env)(nil).Update(val(t, tt.update), arrayFilterDocs(t, tt.filters))
		if err != nil {
			t.Fatalf("%s: %v", tt.update, err)
		}
		out, _, err := u.Apply(doc(t, d))
		if err != nil {
			t.Fatalf("%s: %v", tt.update, err)
		}
		sameDoc(t, out, tt.want)
	}
}

func TestArrayFilterErrors(t *testing.T) {
	for _, tt := range []struct {
		update, filters string
		code            mongoerr.Code
		msg             string
	}{
		{`{"$set": {"a.$[i]": 1}}`, `[{"i": 0}, {"j": 0}]`, mongoerr.FailedToParse, `The array filter for identifier 'j' was not used in the update { $set: { a.$[i]: 1 } }`},
		{`{"$set": {"a.$[i]": 1}}`, `[{"i": 0}, {"i": 1}]`, mongoerr.FailedToParse, "Found multiple array filters with the same top-level field name i"},
		{`{"$set": {"a.$[i]": 1}}`, `[{"i": 0, "j": 1}]`, mongoerr.FailedToParse, "Error parsing array filter :: caused by :: Expected a single top-level field name, found 'i' and 'j'"},
		{`{"$set": {"a.$[I]": 1}}`, `[{"I": 0}]`, mongoerr.BadValue, "Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found 'I'"},
		{`{"$set": {"a.$[i]": 1}}`, `[{}]`, mongoerr.FailedToParse, ""},
		{`{"$rename": {"a.$[]": "b"}}`, ``, mongoerr.BadValue, "The source field for $rename may not be dynamic: a.$[]"},
		{`[{"$set": {"a": 1}}]`, `[{"i": 0}]`, mongoerr.FailedToParse, "arrayFilters may not be specified for pipeline-style updates"},
	} {
		_, err := (*Env)(nil).Update(val(t, tt.update), arrayFilterDocs(t, tt.filters))
		wantCode(t, err, tt.code, tt.msg)
	}
	for _, tt := range []struct {
		doc, update string
		msg         string
	}{
		{`{"_id": 1}`, `{"$set": {"y.$[].b": 1}}`, "The path 'y' must exist in the document in order to apply array updates."},
		{`{"_id": 1, "y": 5}`, `{"$set": {"y.$[].b": 1}}`, "Cannot apply array updates to non-array element y: 5"},
	} {
		u, err := NewUpdate(val(t, tt.update))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = u.Apply(doc(t, tt.doc))
		wantCode(t, err, mongoerr.BadValue, tt.msg)
	}
}

func TestPipelineUpdates(t *testing.T) {
	env, err := NewEnv(doc(t, `{"x": "foo"}`), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		update, doc, want string
	}{
		{`[{"$replaceRoot": {"newRoot": "$t"}}, {"$addFields": {"foo": 1}}]`, `{"_id": 1, "t": {"u": {"v": 1}}}`, `{"_id": 1, "u": {"v": 1}, "foo": 1}`},
		{`[{"$set": {"x": "$$x"}}, {"$unset": "y"}]`, `{"_id": 1, "y": 2}`, `{"_id": 1, "x": "foo"}`},
		{`[{"$replaceWith": {"$setField": {"field": {"$literal": "$a"}, "value": 1, "input": "$$ROOT"}}}]`, `{"_id": 1, "foo": {}}`, `{"_id": 1, "foo": {}, "$a": 1}`},
		{`[{"$project": {"a": 1}}]`, `{"_id": 1, "a": 2, "b": 3}`, `{"_id": 1, "a": 2}`},
		{`[{"$replaceWith": {"k": 1}}]`, `{"a": 1, "_id": 7}`, `{"_id": 7, "k": 1}`},
	} {
		u, err := env.Update(val(t, tt.update), nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.update, err)
		}
		out, modified, err := u.Apply(doc(t, tt.doc))
		if err != nil || !modified {
			t.Fatalf("%s: modified %v, %v", tt.update, modified, err)
		}
		sameDoc(t, out, tt.want)
	}
	u, err := env.Update(val(t, `[{"$replaceWith": {"_id": 2}}]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = u.Apply(doc(t, `{"_id": 1}`))
	wantCode(t, err, mongoerr.ImmutableField, "")
	up, err := env.Update(val(t, `[{"$set": {"n": {"$add": ["$a", 1]}}}]`), nil)
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := up.Upsert(doc(t, `{"_id": 5, "a": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	sameDoc(t, seeded, `{"_id": 5, "a": 1, "n": 2}`)
}

func TestPositionalUpdates(t *testing.T) {
	d := `{"_id": 1, "grades": [80, 85, 90], "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "n": {"list": [{"k": 1}, {"k": 2}]}}`
	for _, tt := range []struct {
		filter, update, want string
	}{
		{`{"grades": 85}`, `{"$set": {"grades.$": 86}}`,
			`{"_id": 1, "grades": [80, 86, 90], "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "n": {"list": [{"k": 1}, {"k": 2}]}}`},
		{`{"items.sku": "b"}`, `{"$inc": {"items.$.qty": 5}}`,
			`{"_id": 1, "grades": [80, 85, 90], "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 7}], "n": {"list": [{"k": 1}, {"k": 2}]}}`},
		{`{"_id": 1, "items": {"$elemMatch": {"sku": "a", "qty": {"$lt": 5}}}}`, `{"$set": {"items.$.qty": 0}}`,
			`{"_id": 1, "grades": [80, 85, 90], "items": [{"sku": "a", "qty": 0}, {"sku": "b", "qty": 2}], "n": {"list": [{"k": 1}, {"k": 2}]}}`},
		{`{"n.list.k": {"$gt": 1}}`, `{"$unset": {"n.list.$": 1}}`,
			`{"_id": 1, "grades": [80, 85, 90], "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "n": {"list": [{"k": 1}, null]}}`},
	} {
		f, err := NewFilter(doc(t, tt.filter))
		if err != nil {
			t.Fatal(err)
		}
		u, err := NewUpdate(val(t, tt.update))
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := u.ApplyMatched(doc(t, d), f)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.filter, tt.update, err)
		}
		sameDoc(t, out, tt.want)
	}
	u, err := NewUpdate(val(t, `{"$set": {"grades.$": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFilter(doc(t, `{"_id": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = u.ApplyMatched(doc(t, d), f)
	wantCode(t, err, mongoerr.BadValue, "The positional operator did not find the match needed from the query.")
	_, err = u.Upsert(doc(t, `{"grades": 5}`))
	wantCode(t, err, mongoerr.BadValue, "The positional operator did not find the match needed from the query.")
}
