package query

import (
	"testing"
	"time"
)

func TestFilterOperators(t *testing.T) {
	env, err := NewEnv(doc(t, `{"id": 2, "min": 10}`), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		filter string
		match  []string
		miss   []string
	}{
		{`{"$expr": {"$eq": ["$_id", "$$id"]}}`, []string{`{"_id": 2}`, `{"_id": 2.0}`}, []string{`{"_id": 1}`, `{}`}},
		{`{"$expr": {"$gt": ["$a", "$b"]}}`, []string{`{"a": 2, "b": 1}`, `{"a": 1}`}, []string{`{"a": 1, "b": 2}`, `{"b": 1}`}},
		{`{"$expr": "$flag"}`, []string{`{"flag": 1}`}, []string{`{"flag": 0}`, `{}`}},
		{`{"n": {"$gte": 1}, "$expr": {"$lt": ["$n", "$$min"]}}`, []string{`{"n": 9}`}, []string{`{"n": 10}`, `{"n": 0}`}},
		{`{"_id": {"$type": "null"}}`, []string{`{"_id": null}`}, []string{`{"_id": 0}`, `{}`}},
		{`{"a": {"$type": ["string", "bool"]}}`, []string{`{"a": "x"}`, `{"a": true}`, `{"a": [1, "x"]}`}, []string{`{"a": 1}`}},
		{`{"a": {"$type": "number"}}`, []string{`{"a": 1}`, `{"a": 1.5}`, `{"a": {"$numberLong": "1"}}`}, []string{`{"a": "1"}`}},
		{`{"a": {"$type": 4}}`, []string{`{"a": []}`, `{"a": [[1]]}`}, []string{`{"a": 1}`}},
		{`{"a": {"$mod": [4, 1]}}`, []string{`{"a": 5}`, `{"a": 9.9}`, `{"a": [2, 13]}`}, []string{`{"a": 4}`, `{"a": "5"}`, `{}`}},
		{`{"a": {"$mod": [-3, -1]}}`, []string{`{"a": -4}`}, []string{`{"a": 4}`}},
	} {
		f, err := env.Filter(doc(t, tt.filter))
		if err != nil {
			t.Fatalf("%s: %v", tt.filter, err)
		}
		for _, d := range tt.match {
			if !f.Match(doc(t, d)) {
				t.Errorf("%s does not match %s", tt.filter, d)
			}
		}
		for _, d := range tt.miss {
			if f.Match(doc(t, d)) {
				t.Errorf("%s matches %s", tt.filter, d)
			}
		}
		if err := f.Err(); err != nil {
			t.Errorf("%s: %v", tt.filter, err)
		}
	}
}

func TestExprMatchError(t *testing.T) {
	f, err := NewFilter(doc(t, `{"$expr": {"$add": ["$a", 1]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(doc(t, `{"a": 1}`)) || f.Err() != nil {
		t.Fatal("a number plus one should match")
	}
	if f.Match(doc(t, `{"a": "x"}`)) {
		t.Error("a failing $expr matched")
	}
	wantCode(t, f.Err(), 16554, "$add only supports numeric or date types, not string")
}
