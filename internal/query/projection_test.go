package query

import (
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestProjectionApply(t *testing.T) {
	const d = `{"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "e": [{"c": 4, "d": 5}, 6, [{"c": 7, "x": 8}]], "f": "s"}`
	tests := []struct{ name, spec, doc, want string }{
		{"empty keeps all", `{}`, d, d},
		{"inclusion keeps _id", `{"a": 1}`, d, `{"_id": 1, "a": 1}`},
		{"inclusion true", `{"a": true}`, d, `{"_id": 1, "a": 1}`},
		{"inclusion any nonzero", `{"a": 5}`, d, `{"_id": 1, "a": 1}`},
		{"inclusion without _id", `{"_id": 0, "a": 1}`, d, `{"a": 1}`},
		{"inclusion _id last in spec", `{"a": 1, "_id": 0}`, d, `{"a": 1}`},
		{"inclusion document order", `{"f": 1, "a": 1}`, d, `{"_id": 1, "a": 1, "f": "s"}`},
		{"inclusion dotted", `{"b.c": 1}`, d, `{"_id": 1, "b": {"c": 2}}`},
		{"inclusion nested spec", `{"b": {"d": 1}}`, d, `{"_id": 1, "b": {"d": 3}}`},
		{"inclusion through array", `{"e.c": 1}`, d, `{"_id": 1, "e": [{"c": 4}, [{"c": 7}]]}`},
		{"inclusion missing field", `{"zz": 1}`, d, `{"_id": 1}`},
		{"inclusion dotted into scalar", `{"a.x": 1}`, d, `{"_id": 1}`},
		{"inclusion dotted missing sub", `{"b.zz": 1}`, d, `{"_id": 1, "b": {}}`},
		{"only _id", `{"_id": 1}`, d, `{"_id": 1}`},
		{"exclusion", `{"a": 0}`, d, `{"_id": 1, "b": {"c": 2, "d": 3}, "e": [{"c": 4, "d": 5}, 6, [{"c": 7, "x": 8}]], "f": "s"}`},
		{"exclusion false", `{"a": false, "f": 0}`, d, `{"_id": 1, "b": {"c": 2, "d": 3}, "e": [{"c": 4, "d": 5}, 6, [{"c": 7, "x": 8}]]}`},
		{"exclusion _id only", `{"_id": 0}`, `{"_id": 1, "a": 2}`, `{"a": 2}`},
		{"exclusion with _id 1", `{"_id": 1, "a": 0}`, `{"_id": 1, "a": 2, "b": 3}`, `{"_id": 1, "b": 3}`},
		{"exclusion dotted", `{"b.c": 0}`, `{"_id": 1, "b": {"c": 2, "d": 3}}`, `{"_id": 1, "b": {"d": 3}}`},
		{"exclusion through array", `{"e.c": 0}`, d, `{"_id": 1, "a": 1, "b": {"c": 2, "d": 3}, "e": [{"d": 5}, 6, [{"x": 8}]], "f": "s"}`},
		{"exclusion dotted scalar kept", `{"a.x": 0}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "a": 1}`},
		{"computed path", `{"x": "$b.c"}`, d, `{"_id": 1, "x": 2}`},
		{"computed appended after included", `{"x": "$a", "f": 1}`, d, `{"_id": 1, "f": "s", "x": 1}`},
		{"computed missing omitted", `{"x": "$nope"}`, d, `{"_id": 1}`},
		{"computed literal", `{"x": "lit", "y": {"$literal": 1}}`, d, `{"_id": 1, "x": "lit", "y": 1}`},
		{"computed through array", `{"x": "$e.c"}`, d, `{"_id": 1, "x": [4, [7]]}`},
		{"computed object", `{"x": {"p": "$a", "q": "$nope"}}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "x": {"p": 1}}`},
		{"computed nested path new parent", `{"n.x": "$a"}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "n": {"x": 1}}`},
		{"computed nested existing parent", `{"b.x": "$a", "b.c": 1}`, d, `{"_id": 1, "b": {"c": 2, "x": 1}}`},
		{"computed root", `{"r": "$$ROOT"}`, `{"_id": 1}`, `{"_id": 1, "r": {"_id": 1}}`},
		{"no _id in doc", `{"a": 1}`, `{"a": 1, "b": 2}`, `{"a": 1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewProjection(doc(t, tt.spec))
			if err != nil {
				t.Fatalf("NewProjection(%s): %v", tt.spec, err)
			}
			out, err := p.Apply(doc(t, tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			sameDoc(t, out, tt.want)
		})
	}
}

func TestProjectionErrors(t *testing.T) {
	tests := []struct {
		spec string
		code mongoerr.Code
		msg  string
	}{
		{`{"a": 1, "b": 0}`, 31254, "Cannot do exclusion on field b in inclusion projection"},
		{`{"a": 0, "b": 1}`, 31253, "Cannot do inclusion on field b in exclusion projection"},
		{`{"a": 0, "b.c": true}`, 31253, "Cannot do inclusion on field b.c in exclusion projection"},
		{`{"a": {"b": 1, "c": 0}}`, 31254, "Cannot do exclusion on field a.c in inclusion projection"},
		{`{"x": "$a", "b": 0}`, 31254, "Cannot do exclusion on field b in inclusion projection"},
		{`{"b": 0, "x": "$a"}`, 31252, "Cannot use expression other than $meta in exclusion projection"},
		{`{"a": 1, "a.b": 1}`, 31249, "Path collision at a.b remaining portion b"},
		{`{"a.b": 1, "a": 1}`, 31250, "Path collision at a"},
		{`{"a": {}}`, 51270, ""},
		{`{"a.$": 1}`, mongoerr.BadValue, "memshard does not support positional projection"},
		{`{"a": {"$slice": 1}}`, mongoerr.BadValue, "memshard does not support projection operator $slice"},
		{`{"x": "$"}`, 16872, "'$' by itself is not a valid FieldPath"},
		{`{"x": "$$NOPE"}`, 17276, "Use of undefined variable: NOPE"},
		{`{"x": {"$nope": [1, 2]}}`, 168, "Unrecognized expression '$nope'"},
		{`{"x": {"$eq": [1]}}`, 16020, "Expression $eq takes exactly 2 arguments. 1 were passed in."},
		{`{"a..b": 1}`, 15998, ""},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			_, err := NewProjection(doc(t, tt.spec))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestProjectionMalformedDocNeverPanics(t *testing.T) {
	for _, spec := range []string{`{"a.b": 1, "x": "$a.b"}`, `{"a.b": 0}`} {
		p, err := NewProjection(doc(t, spec))
		if err != nil {
			t.Fatal(err)
		}
		good := doc(t, `{"_id": 1, "a": [{"b": "x"}, {"b": [1, 2]}], "c": 1}`)
		for i := range good {
			bad := append([]byte(nil), good...)
			bad[i] ^= 0xff
			_, _ = p.Apply(bad)
			_, _ = p.Apply(bad[:i])
		}
	}
}
