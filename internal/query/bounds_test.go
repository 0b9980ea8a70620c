package query

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func boundsText(ivs []Interval, desc bool) string {
	parts := make([]string, len(ivs))
	for i, iv := range ivs {
		parts[i] = iv.String(desc)
	}
	return strings.Join(parts, " ")
}

func TestBounds(t *testing.T) {
	for _, tt := range []struct {
		filter, path string
		multikey     bool
		want         string // "" when the filter does not bound path
	}{
		{`{"a": 5}`, "a", false, `[5, 5]`},
		{`{"a": {"$eq": "x"}}`, "a", false, `["x", "x"]`},
		{`{"a": null}`, "a", false, `[null, null]`},
		{`{"a": {"$in": [3, 1, 3.0]}}`, "a", false, `[1, 1] [3, 3]`},
		{`{"a": {"$gt": 5}}`, "a", false, `(5, inf.0]`},
		{`{"a": {"$lte": 5}}`, "a", false, `[-inf.0, 5]`},
		{`{"a": {"$gt": 1, "$lt": 5}}`, "a", false, `(1, 5)`},
		{`{"a": {"$gt": 1, "$lt": 5}}`, "a", true, `(1, inf.0]`},
		{`{"a": {"$gte": "m"}}`, "a", false, `["m", {})`},
		{`{"$and": [{"a": {"$gte": 2}}, {"a": {"$in": [1, 2, 3]}}]}`, "a", false, `[2, 2] [3, 3]`},
		{`{"a": {"$gt": 5, "$lt": 1}}`, "a", false, ``},
		{`{"b": 1, "a.c": 2}`, "a.c", false, `[2, 2]`},
		{`{"a": {"$ne": 1}}`, "a", false, "-"},
		{`{"a": {"$in": [{"$regularExpression": {"pattern": "x", "options": ""}}]}}`, "a", false, "-"},
		{`{"a": [1, 2]}`, "a", false, "-"},
		{`{"$or": [{"a": 1}, {"a": 2}]}`, "a", false, "-"},
		{`{"a": {"$gt": null}}`, "a", false, "-"},
	} {
		f, err := NewFilter(doc(t, tt.filter))
		if err != nil {
			t.Fatal(err)
		}
		ivs, ok := f.Bounds(tt.path, tt.multikey)
		switch got := boundsText(ivs, false); {
		case tt.want == "-" && ok:
			t.Errorf("%s bounds %s: %s", tt.filter, tt.path, got)
		case tt.want != "-" && (!ok || got != tt.want):
			t.Errorf("%s on %s: got %q (%v), want %q", tt.filter, tt.path, got, ok, tt.want)
		}
	}
}

func TestIntervalContains(t *testing.T) {
	f, err := NewFilter(doc(t, `{"a": {"$gt": 1, "$lte": 3}}`))
	if err != nil {
		t.Fatal(err)
	}
	ivs, _ := f.Bounds("a", false)
	for _, tt := range []struct {
		v    string
		want bool
	}{{`1`, false}, {`1.5`, true}, {`3`, true}, {`3.01`, false}, {`"2"`, false}, {`null`, false}} {
		if got := ivs[0].Contains(val(t, tt.v)); got != tt.want {
			t.Errorf("(1, 3] contains %s = %v", tt.v, got)
		}
	}
	if got := boundsText(ivs, true); got != "[3, 1)" {
		t.Errorf("descending text %q, want [3, 1)", got)
	}
}

func TestWithin(t *testing.T) {
	get := func(filter string) []Interval {
		f, err := NewFilter(doc(t, filter))
		if err != nil {
			t.Fatal(err)
		}
		ivs, _ := f.Bounds("a", false)
		return ivs
	}
	outer := get(`{"a": {"$gt": 5}}`)
	for _, tt := range []struct {
		inner string
		want  bool
	}{
		{`{"a": 6}`, true},
		{`{"a": 5}`, false},
		{`{"a": {"$gte": 7, "$lt": 9}}`, true},
		{`{"a": {"$gt": 5}}`, true},
		{`{"a": {"$gte": 5}}`, false},
		{`{"a": {"$in": [6, 7]}}`, true},
		{`{"a": {"$in": [4, 7]}}`, false},
		{`{"a": "x"}`, false},
	} {
		if got := Within(get(tt.inner), outer); got != tt.want {
			t.Errorf("%s within (5, inf.0] = %v", tt.inner, got)
		}
	}
}

func TestIndexKeys(t *testing.T) {
	paths := func(ps ...string) [][]string {
		var out [][]string
		for _, p := range ps {
			out = append(out, splitPath(p))
		}
		return out
	}
	for _, tt := range []struct {
		doc      string
		paths    [][]string
		want     string // keys as JSON arrays, space separated
		multikey bool
		present  int
	}{
		{`{"a": 1, "b": "x"}`, paths("a", "b"), `[1,"x"]`, false, 2},
		{`{"b": 1}`, paths("a"), `[null]`, false, 0},
		{`{"a": [1, 2]}`, paths("a", "b"), `[1,null] [2,null]`, true, 1},
		{`{"a": []}`, paths("a"), `[{"$undefined":true}]`, true, 1},
		{`{"a": [{"b": 1}, {"b": 2}, {"c": 3}]}`, paths("a.b"), `[1] [2]`, true, 1},
		{`{"a": {"b": [5]}}`, paths("a.b"), `[5]`, true, 1},
	} {
		keys, multikey, present, err := IndexKeys(doc(t, tt.doc), tt.paths)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, k := range keys {
			arr := arrayValue(k)
			js, _ := bson.MarshalExtJSON(bson.D{{Key: "k", Value: arr}}, false, false)
			s := strings.TrimSuffix(strings.TrimPrefix(string(js), `{"k":`), "}")
			parts = append(parts, s)
		}
		if got := strings.Join(parts, " "); got != tt.want || multikey != tt.multikey || present != tt.present {
			t.Errorf("%s: keys %s multikey %v present %d, want %s %v %d", tt.doc, got, multikey, present, tt.want, tt.multikey, tt.present)
		}
	}
	_, _, _, err := IndexKeys(doc(t, `{"a": [1], "b": [2]}`), paths("a", "b"))
	wantCode(t, err, 171, "cannot index parallel arrays [b] [a]")
}
