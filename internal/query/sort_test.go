package query

import (
	"slices"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestSort(t *testing.T) {
	tests := []struct {
		name, spec, in string
		want           []int32 // _ids in expected order
	}{
		{"ascending", `{"a": 1}`, `[{"_id": 1, "a": 3}, {"_id": 2, "a": 1}, {"_id": 3, "a": 2}]`, []int32{2, 3, 1}},
		{"descending", `{"a": -1}`, `[{"_id": 1, "a": 3}, {"_id": 2, "a": 1}, {"_id": 3, "a": 2}]`, []int32{1, 3, 2}},
		{"stable", `{"a": 1}`, `[{"_id": 1, "a": 1}, {"_id": 2, "a": 0}, {"_id": 3, "a": 1}, {"_id": 4, "a": 1}]`, []int32{2, 1, 3, 4}},
		{"multi-key", `{"a": 1, "b": -1}`, `[{"_id": 1, "a": 1, "b": 1}, {"_id": 2, "a": 1, "b": 2}, {"_id": 3, "a": 0, "b": 0}]`, []int32{3, 2, 1}},
		{"missing as null", `{"a": 1}`, `[{"_id": 1, "a": 1}, {"_id": 2}, {"_id": 3, "a": null}, {"_id": 4, "a": {"$minKey": 1}}]`, []int32{4, 2, 3, 1}},
		{"cross-type", `{"a": 1}`, `[{"_id": 1, "a": "s"}, {"_id": 2, "a": 5}, {"_id": 3, "a": {"x": 1}}, {"_id": 4, "a": true}]`, []int32{2, 1, 3, 4}},
		{"mixed numbers", `{"a": 1}`, `[{"_id": 1, "a": 2.5}, {"_id": 2, "a": {"$numberLong": "2"}}, {"_id": 3, "a": 3}]`, []int32{2, 1, 3}},
		{"array min ascending", `{"a": 1}`, `[{"_id": 1, "a": [5, 0]}, {"_id": 2, "a": 1}]`, []int32{1, 2}},
		{"array max descending", `{"a": -1}`, `[{"_id": 1, "a": 4}, {"_id": 2, "a": [1, 9]}]`, []int32{2, 1}},
		{"empty array below null", `{"a": 1}`, `[{"_id": 1}, {"_id": 2, "a": []}]`, []int32{2, 1}},
		{"dotted", `{"a.b": 1}`, `[{"_id": 1, "a": {"b": 2}}, {"_id": 2, "a": {"b": 1}}]`, []int32{2, 1}},
		{"dotted through array", `{"a.b": 1}`, `[{"_id": 1, "a": [{"b": 5}, {"b": 3}]}, {"_id": 2, "a": [{"b": 4}]}]`, []int32{1, 2}},
		{"double -1", `{"a": -1.0}`, `[{"_id": 1, "a": 1}, {"_id": 2, "a": 2}]`, []int32{2, 1}},
		{"empty spec keeps order", `{}`, `[{"_id": 2}, {"_id": 1}]`, []int32{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSort(doc(t, tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			ds := docs(t, tt.in)
			s.Sort(ds)
			if got := ids(ds); !slices.Equal(got, tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSortErrors(t *testing.T) {
	tests := []struct {
		spec string
		code mongoerr.Code
	}{
		{`{"a": 2}`, 15975},
		{`{"a": 0}`, 15975},
		{`{"a": "asc"}`, 15974},
		{`{"a": {"$meta": "textScore"}}`, mongoerr.BadValue},
		{`{"": 1}`, 15998},
	}
	for _, tt := range tests {
		_, err := NewSort(doc(t, tt.spec))
		wantCode(t, err, tt.code, "")
	}
}

func ids(ds []bson.Raw) []int32 {
	var out []int32
	for _, d := range ds {
		v, _ := d.Lookup("_id").Int32OK()
		out = append(out, v)
	}
	return out
}
