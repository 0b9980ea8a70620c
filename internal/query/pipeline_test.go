package query

import (
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

const pipelineInput = `[
	{"_id": 1, "k": "a", "n": 1, "tags": ["x", "y"], "s": {"v": 10}},
	{"_id": 2, "k": "b", "n": 2.5, "tags": [], "s": {"v": 20}},
	{"_id": 3, "k": "a", "n": {"$numberLong": "3"}, "s": {"v": 5}},
	{"_id": 4, "k": "c", "n": "not a number", "tags": ["y"]},
	{"_id": 5, "n": 4}
]`

func TestPipelineRun(t *testing.T) {
	tests := []struct {
		name, pipeline, want string
	}{
		{"empty pipeline", `[]`, pipelineInput},
		{"match", `[{"$match": {"k": "a"}}]`,
			`[{"_id": 1, "k": "a", "n": 1, "tags": ["x", "y"], "s": {"v": 10}}, {"_id": 3, "k": "a", "n": {"$numberLong": "3"}, "s": {"v": 5}}]`},
		{"sort skip limit project", `[{"$sort": {"s.v": -1}}, {"$skip": 1}, {"$limit": 2}, {"$project": {"_id": 1}}]`,
			`[{"_id": 1}, {"_id": 3}]`},
		{"project exclusion", `[{"$match": {"_id": 3}}, {"$project": {"s": 0, "n": 0}}]`, `[{"_id": 3, "k": "a"}]`},
		{"project computed", `[{"$match": {"_id": 1}}, {"$project": {"_id": 0, "key": "$k", "v": "$s.v"}}]`, `[{"key": "a", "v": 10}]`},
		{"unset string", `[{"$match": {"_id": 5}}, {"$unset": "n"}]`, `[{"_id": 5}]`},
		{"unset array", `[{"$match": {"_id": 1}}, {"$unset": ["tags", "s.v", "n"]}]`, `[{"_id": 1, "k": "a", "s": {}}]`},
		{"addFields", `[{"$match": {"_id": 1}}, {"$addFields": {"k": "$s.v", "new": {"$literal": 7}, "s.w": "$n"}}]`,
			`[{"_id": 1, "k": 10, "n": 1, "tags": ["x", "y"], "s": {"v": 10, "w": 1}, "new": 7}]`},
		{"set nested spec merges", `[{"$match": {"_id": 1}}, {"$set": {"s": {"w": 1}}}, {"$project": {"s": 1}}]`,
			`[{"_id": 1, "s": {"v": 10, "w": 1}}]`},
		{"count", `[{"$match": {"k": "a"}}, {"$count": "total"}]`, `[{"total": 2}]`},
		{"count nothing", `[{"$match": {"k": "zz"}}, {"$count": "total"}]`, `[]`},
		{"group by path", `[{"$group": {"_id": "$k", "c": {"$sum": 1}, "total": {"$sum": "$n"}}}]`, `[
			{"_id": "a", "c": 2, "total": {"$numberLong": "4"}},
			{"_id": "b", "c": 1, "total": 2.5},
			{"_id": "c", "c": 1, "total": 0},
			{"_id": null, "c": 1, "total": 4}]`},
		{"group null id", `[{"$group": {"_id": null, "n": {"$count": {}}, "avg": {"$avg": "$s.v"}}}]`,
			`[{"_id": null, "n": 5, "avg": 11.666666666666666}]`},
		{"group constant id", `[{"$group": {"_id": 1, "min": {"$min": "$n"}, "max": {"$max": "$n"}}}]`,
			`[{"_id": 1, "min": 1, "max": "not a number"}]`},
		{"group compound id", `[{"$match": {"_id": {"$lte": 2}}}, {"$group": {"_id": {"k": "$k", "v": "$s.v"}, "ids": {"$push": "$_id"}}}]`,
			`[{"_id": {"k": "a", "v": 10}, "ids": [1]}, {"_id": {"k": "b", "v": 20}, "ids": [2]}]`},
		{"group numeric keys merge", `[{"$group": {"_id": "$n", "c": {"$sum": 1}}}, {"$match": {"_id": 1}}]`, `[{"_id": 1, "c": 1}]`},
		{"group first last addToSet", `[{"$sort": {"_id": 1}}, {"$group": {"_id": null, "f": {"$first": "$k"}, "l": {"$last": "$k"}, "set": {"$addToSet": "$k"}}}]`,
			`[{"_id": null, "f": "a", "l": null, "set": ["a", "b", "c"]}]`},
		{"group empty input", `[{"$match": {"k": "zz"}}, {"$group": {"_id": null, "c": {"$sum": 1}}}]`, `[]`},
		{"group avg none", `[{"$match": {"_id": 4}}, {"$group": {"_id": null, "a": {"$avg": "$n"}, "m": {"$min": "$nope"}}}]`,
			`[{"_id": null, "a": null, "m": null}]`},
		{"sum int32 overflow", `[{"$project": {"x": {"$literal": 2147483647}}}, {"$group": {"_id": null, "s": {"$sum": "$x"}}}]`,
			`[{"_id": null, "s": {"$numberLong": "10737418235"}}]`},
		{"unwind", `[{"$match": {"_id": {"$lte": 2}}}, {"$unwind": "$tags"}, {"$project": {"tags": 1}}]`,
			`[{"_id": 1, "tags": "x"}, {"_id": 1, "tags": "y"}]`},
		{"unwind preserve and index", `[{"$match": {"_id": {"$in": [2, 5]}}}, {"$unwind": {"path": "$tags", "preserveNullAndEmptyArrays": true, "includeArrayIndex": "i"}}, {"$project": {"tags": 1, "i": 1}}]`,
			`[{"_id": 2, "i": null}, {"_id": 5, "i": null}]`},
		{"unwind scalar", `[{"$match": {"_id": 1}}, {"$unwind": "$k"}, {"$project": {"k": 1}}]`, `[{"_id": 1, "k": "a"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPipeline(docs(t, tt.pipeline))
			if err != nil {
				t.Fatalf("NewPipeline: %v", err)
			}
			in := docs(t, pipelineInput)
			got, err := p.Run(in)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := docs(t, tt.want)
			if len(got) != len(want) {
				t.Fatalf("got %d documents %v, want %d", len(got), got, len(want))
			}
			for i := range want {
				sameDoc(t, got[i], want[i].String())
			}
		})
	}
}

func TestPipelineDoesNotModifyInput(t *testing.T) {
	in := docs(t, pipelineInput)
	before := make([]string, len(in))
	for i, d := range in {
		before[i] = string(d)
	}
	p, err := NewPipeline(docs(t, `[{"$sort": {"_id": -1}}, {"$set": {"k": 1}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(in); err != nil {
		t.Fatal(err)
	}
	for i, d := range in {
		if string(d) != before[i] {
			t.Fatalf("input document %d changed", i)
		}
	}
}

func TestPipelineErrors(t *testing.T) {
	tests := []struct {
		pipeline string
		code     mongoerr.Code
		msg      string
	}{
		{`[{"$bogus": {}}]`, 40324, "Unrecognized pipeline stage name: '$bogus'"},
		{`[{"$lookup": {}}]`, mongoerr.BadValue, "memshard does not support pipeline stage $lookup"},
		{`[{"$match": {}, "$limit": 1}]`, 40323, "A pipeline stage specification object must contain exactly one field."},
		{`[{}]`, 40323, ""},
		{`[{"$match": 1}]`, 15959, "the match filter must be an expression in an object"},
		{`[{"$match": {"$bad": 1}}]`, mongoerr.BadValue, "unknown top level operator: $bad"},
		{`[{"$project": {}}]`, 51272, "Invalid $project :: caused by :: projection specification must have at least one field"},
		{`[{"$project": {"a": 1, "b": 0}}]`, 31254, "Invalid $project :: caused by :: Cannot do exclusion on field b in inclusion projection"},
		{`[{"$sort": 1}]`, 15973, "the $sort key specification must be an object"},
		{`[{"$sort": {}}]`, 15976, "$sort stage must have at least one sort key"},
		{`[{"$sort": {"a": 3}}]`, 15975, ""},
		{`[{"$skip": -1}]`, 15956, "Argument to $skip cannot be negative"},
		{`[{"$skip": "x"}]`, 15972, "Argument to $skip must be a number"},
		{`[{"$limit": 0}]`, 15958, "the limit must be positive"},
		{`[{"$limit": "x"}]`, 15957, "the limit must be specified as a number"},
		{`[{"$count": 1}]`, 40156, "the count field must be a non-empty string"},
		{`[{"$count": ""}]`, 40157, "the count field must be a non-empty string"},
		{`[{"$count": "$x"}]`, 40158, "the count field cannot be a $-prefixed path"},
		{`[{"$count": "a.b"}]`, 40160, "the count field cannot contain '.'"},
		{`[{"$group": 1}]`, 15947, "a group's fields must be specified in an object"},
		{`[{"$group": {"c": {"$sum": 1}}}]`, 15955, "a group specification must include an _id"},
		{`[{"$group": {"_id": null, "c": {"$foo": 1}}}]`, 15952, "unknown group operator '$foo'"},
		{`[{"$group": {"_id": null, "c": 1}}]`, 40234, "The field 'c' must be an accumulator object"},
		{`[{"$group": {"_id": null, "c": {"$sum": 1, "$avg": 1}}}]`, 40238, "The field 'c' must specify one accumulator"},
		{`[{"$group": {"_id": null, "a.b": {"$sum": 1}}}]`, 40235, "The field name 'a.b' cannot contain '.'"},
		{`[{"$group": {"_id": null, "c": {"$count": 1}}}]`, mongoerr.FailedToParse, "$count takes no arguments, i.e. $count:{}"},
		{`[{"$group": {"_id": "$$NOPE"}}]`, 17276, "Use of undefined variable: NOPE"},
		{`[{"$unset": 1}]`, 31002, ""},
		{`[{"$unset": ["a", 1]}]`, 31120, ""},
		{`[{"$addFields": 1}]`, 40272, ""},
		{`[{"$unwind": "tags"}]`, 28818, "path option to $unwind stage should be prefixed with a '$': tags"},
		{`[{"$unwind": {"includeArrayIndex": "i"}}]`, 28812, ""},
		{`[{"$unwind": 5}]`, 15981, ""},
	}
	for _, tt := range tests {
		t.Run(tt.pipeline, func(t *testing.T) {
			_, err := NewPipeline(docs(t, tt.pipeline))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestPipelineRunError(t *testing.T) {
	p, err := NewPipeline(docs(t, `[{"$set": {"a.b": 1}}]`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Run(docs(t, `[{"_id": 1, "a": 5}]`))
	wantCode(t, err, mongoerr.PathNotViable, "Cannot create field 'b' in element {a: 5}")
}
