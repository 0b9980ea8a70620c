package query

import (
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		name, filter, doc string
		want              bool
	}{
		{"empty filter", `{}`, `{"a": 1}`, true},
		{"scalar equal", `{"a": 1}`, `{"a": 1}`, true},
		{"scalar differs", `{"a": 1}`, `{"a": 2}`, false},
		{"numbers across types", `{"a": 1}`, `{"a": 1.0}`, true},
		{"int64 vs int32", `{"a": {"$numberLong": "7"}}`, `{"a": 7}`, true},
		{"no type coercion", `{"a": 1}`, `{"a": "1"}`, false},
		{"array element", `{"a": 2}`, `{"a": [1, 2, 3]}`, true},
		{"whole array", `{"a": [1, 2]}`, `{"a": [1, 2]}`, true},
		{"array order matters", `{"a": [2, 1]}`, `{"a": [1, 2]}`, false},
		{"nested array element", `{"a": [1, 2]}`, `{"a": [[1, 2], 3]}`, true},
		{"no double expansion", `{"a": 1}`, `{"a": [[1, 2]]}`, false},
		{"document equality", `{"a": {"b": 1, "c": 2}}`, `{"a": {"b": 1, "c": 2}}`, true},
		{"document field order", `{"a": {"c": 2, "b": 1}}`, `{"a": {"b": 1, "c": 2}}`, false},
		{"dotted", `{"a.b": 1}`, `{"a": {"b": 1}}`, true},
		{"dotted deep", `{"a.b.c": "x"}`, `{"a": {"b": {"c": "x"}}}`, true},
		{"dotted through array", `{"a.b": 2}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{"dotted through array to array", `{"a.b": 3}`, `{"a": [{"b": [1, 3]}]}`, true},
		{"dotted through scalar", `{"a.b": 1}`, `{"a": 1}`, false},
		{"array index", `{"a.1": 5}`, `{"a": [4, 5]}`, true},
		{"array index miss", `{"a.0": 5}`, `{"a": [4, 5]}`, false},
		{"index or field named 0", `{"a.0": 1}`, `{"a": [{"0": 1}]}`, true},
		{"index then field", `{"a.1.b": 2}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{"nested arrays not traversed", `{"a.b": 1}`, `{"a": [[{"b": 1}]]}`, false},
		{"null matches missing", `{"a": null}`, `{"b": 1}`, true},
		{"null matches null", `{"a": null}`, `{"a": null}`, true},
		{"null not value", `{"a": null}`, `{"a": 0}`, false},
		{"null in array", `{"a": null}`, `{"a": [1, null]}`, true},
		{"null vs empty array", `{"a": null}`, `{"a": []}`, false},
		{"dotted null missing in element", `{"a.b": null}`, `{"a": [{}, {"b": 5}]}`, true},
		{"dotted null all present", `{"a.b": null}`, `{"a": [{"b": 5}]}`, false},
		{"dotted null scalar elements", `{"a.b": null}`, `{"a": [5, {"b": 5}]}`, false},
		{"dotted null empty array", `{"a.b": null}`, `{"a": []}`, false},
		{"dotted null missing parent", `{"a.b": null}`, `{}`, true},
		{"$eq", `{"a": {"$eq": 3}}`, `{"a": 3}`, true},
		{"$eq document", `{"a": {"$eq": {"b": 1}}}`, `{"a": {"b": 1}}`, true},
		{"$eq regex is literal", `{"a": {"$eq": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, `{"a": "x"}`, false},
		{"$ne", `{"a": {"$ne": 1}}`, `{"a": 2}`, true},
		{"$ne equal", `{"a": {"$ne": 1}}`, `{"a": 1}`, false},
		{"$ne missing", `{"a": {"$ne": 1}}`, `{}`, true},
		{"$ne array containing", `{"a": {"$ne": 1}}`, `{"a": [1, 2]}`, false},
		{"$ne null", `{"a": {"$ne": null}}`, `{}`, false},
		{"$gt", `{"a": {"$gt": 1}}`, `{"a": 2}`, true},
		{"$gt equal", `{"a": {"$gt": 2}}`, `{"a": 2}`, false},
		{"$gte", `{"a": {"$gte": 2}}`, `{"a": 2.0}`, true},
		{"$lt", `{"a": {"$lt": 2}}`, `{"a": 1.5}`, true},
		{"$lte", `{"a": {"$lte": 2}}`, `{"a": 3}`, false},
		{"$gt type bracketed", `{"a": {"$gt": 1}}`, `{"a": "z"}`, false},
		{"$lt string", `{"a": {"$lt": "b"}}`, `{"a": "a"}`, true},
		{"$gt missing", `{"a": {"$gt": 1}}`, `{}`, false},
		{"$gte null missing", `{"a": {"$gte": null}}`, `{}`, true},
		{"$gt null", `{"a": {"$gt": null}}`, `{"a": null}`, false},
		{"$gt MinKey any type", `{"a": {"$gt": {"$minKey": 1}}}`, `{"a": "x"}`, true},
		{"$lt MaxKey any type", `{"a": {"$lt": {"$maxKey": 1}}}`, `{"a": {"b": 1}}`, true},
		{"$lt NaN", `{"a": {"$lt": 5}}`, `{"a": {"$numberDouble": "NaN"}}`, false},
		{"$gte NaN NaN", `{"a": {"$gte": {"$numberDouble": "NaN"}}}`, `{"a": {"$numberDouble": "NaN"}}`, true},
		{"range", `{"a": {"$gt": 1, "$lt": 5}}`, `{"a": 3}`, true},
		{"range elements separately", `{"a": {"$gt": 5, "$lt": 2}}`, `{"a": [1, 6]}`, true},
		{"range array element", `{"a": {"$gt": 5}}`, `{"a": [1, 6]}`, true},
		{"$gt dates", `{"a": {"$gt": {"$date": "2020-01-01T00:00:00Z"}}}`, `{"a": {"$date": "2021-01-01T00:00:00Z"}}`, true},
		{"$in", `{"a": {"$in": [1, 2]}}`, `{"a": 2}`, true},
		{"$in none", `{"a": {"$in": [1, 2]}}`, `{"a": 3}`, false},
		{"$in empty", `{"a": {"$in": []}}`, `{"a": 3}`, false},
		{"$in array field", `{"a": {"$in": [5, 3]}}`, `{"a": [1, 3]}`, true},
		{"$in null missing", `{"a": {"$in": [null]}}`, `{}`, true},
		{"$in regex", `{"a": {"$in": [{"$regularExpression": {"pattern": "^ab", "options": ""}}]}}`, `{"a": "abc"}`, true},
		{"$nin", `{"a": {"$nin": [1, 2]}}`, `{"a": 3}`, true},
		{"$nin hit", `{"a": {"$nin": [1, 2]}}`, `{"a": 1}`, false},
		{"$nin missing", `{"a": {"$nin": [1]}}`, `{}`, true},
		{"$exists true", `{"a": {"$exists": true}}`, `{"a": null}`, true},
		{"$exists true missing", `{"a": {"$exists": true}}`, `{"b": 1}`, false},
		{"$exists false", `{"a": {"$exists": false}}`, `{"b": 1}`, true},
		{"$exists 0", `{"a": {"$exists": 0}}`, `{"a": 1}`, false},
		{"$exists dotted array", `{"a.b": {"$exists": true}}`, `{"a": [{"c": 1}, {"b": 1}]}`, true},
		{"$exists false dotted array", `{"a.b": {"$exists": false}}`, `{"a": [{"c": 1}]}`, true},
		{"$exists empty array", `{"a": {"$exists": true}}`, `{"a": []}`, true},
		{"$size", `{"a": {"$size": 2}}`, `{"a": [1, [2, 3]]}`, true},
		{"$size miss", `{"a": {"$size": 1}}`, `{"a": [1, 2]}`, false},
		{"$size scalar", `{"a": {"$size": 1}}`, `{"a": 1}`, false},
		{"$size double", `{"a": {"$size": 0.0}}`, `{"a": []}`, true},
		{"$all", `{"a": {"$all": [1, 3]}}`, `{"a": [1, 2, 3]}`, true},
		{"$all missing one", `{"a": {"$all": [1, 4]}}`, `{"a": [1, 2, 3]}`, false},
		{"$all scalar", `{"a": {"$all": [1]}}`, `{"a": 1}`, true},
		{"$all empty", `{"a": {"$all": []}}`, `{"a": [1]}`, false},
		{"$all elemMatch", `{"a": {"$all": [{"$elemMatch": {"b": 1}}, {"$elemMatch": {"b": 2}}]}}`, `{"a": [{"b": 1}, {"b": 2}]}`, true},
		{"$elemMatch object", `{"a": {"$elemMatch": {"b": 1, "c": 2}}}`, `{"a": [{"b": 1, "c": 1}, {"b": 1, "c": 2}]}`, true},
		{"$elemMatch object same element", `{"a": {"$elemMatch": {"b": 1, "c": 2}}}`, `{"a": [{"b": 1}, {"c": 2}]}`, false},
		{"$elemMatch value", `{"a": {"$elemMatch": {"$gt": 1, "$lt": 3}}}`, `{"a": [0, 2]}`, true},
		{"$elemMatch value split", `{"a": {"$elemMatch": {"$gt": 5, "$lt": 2}}}`, `{"a": [1, 6]}`, false},
		{"$elemMatch non-array", `{"a": {"$elemMatch": {"$gt": 1}}}`, `{"a": 2}`, false},
		{"$elemMatch value $ne", `{"a": {"$elemMatch": {"$ne": 1}}}`, `{"a": [1, 1]}`, false},
		{"$elemMatch with $or", `{"a": {"$elemMatch": {"$or": [{"b": 1}, {"b": 2}]}}}`, `{"a": [{"b": 2}]}`, true},
		{"$not", `{"a": {"$not": {"$gt": 5}}}`, `{"a": 3}`, true},
		{"$not missing", `{"a": {"$not": {"$gt": 5}}}`, `{}`, true},
		{"$not hit", `{"a": {"$not": {"$gt": 5}}}`, `{"a": 6}`, false},
		{"$not regex", `{"a": {"$not": {"$regularExpression": {"pattern": "^x", "options": ""}}}}`, `{"a": "yx"}`, true},
		{"regex literal", `{"a": {"$regularExpression": {"pattern": "b+", "options": ""}}}`, `{"a": "abbc"}`, true},
		{"regex case", `{"a": {"$regularExpression": {"pattern": "^AB", "options": "i"}}}`, `{"a": "abc"}`, true},
		{"regex not string", `{"a": {"$regularExpression": {"pattern": "1", "options": ""}}}`, `{"a": 1}`, false},
		{"regex array", `{"a": {"$regularExpression": {"pattern": "^z", "options": ""}}}`, `{"a": ["a", "zz"]}`, true},
		{"$regex string", `{"a": {"$regex": "^a.c$"}}`, `{"a": "abc"}`, true},
		{"$regex options", `{"a": {"$regex": "^A", "$options": "i"}}`, `{"a": "abc"}`, true},
		{"$options first", `{"a": {"$options": "i", "$regex": "^A"}}`, `{"a": "abc"}`, true},
		{"$regex multiline", `{"a": {"$regex": "^b", "$options": "m"}}`, `{"a": "a\nb"}`, true},
		{"$and", `{"$and": [{"a": 1}, {"b": 2}]}`, `{"a": 1, "b": 2}`, true},
		{"$and fails", `{"$and": [{"a": 1}, {"b": 3}]}`, `{"a": 1, "b": 2}`, false},
		{"$or", `{"$or": [{"a": 5}, {"b": 2}]}`, `{"a": 1, "b": 2}`, true},
		{"$or none", `{"$or": [{"a": 5}, {"b": 5}]}`, `{"a": 1, "b": 2}`, false},
		{"$nor", `{"$nor": [{"a": 5}, {"b": 5}]}`, `{"a": 1, "b": 2}`, true},
		{"$nor hit", `{"$nor": [{"a": 1}]}`, `{"a": 1}`, false},
		{"$or empty clause", `{"$or": [{}]}`, `{"a": 1}`, true},
		{"implicit and", `{"a": 1, "b": 2}`, `{"a": 1, "b": 3}`, false},
		{"$comment ignored", `{"a": 1, "$comment": "hi"}`, `{"a": 1}`, true},
		{"dbref equality", `{"r": {"$ref": "c", "$id": 1}}`, `{"r": {"$ref": "c", "$id": 1}}`, true},
		{"objectid", `{"_id": {"$oid": "5f0000000000000000000001"}}`, `{"_id": {"$oid": "5f0000000000000000000001"}}`, true},
		{"bool", `{"a": true}`, `{"a": false}`, false},
		{"binary", `{"a": {"$binary": {"base64": "AQI=", "subType": "00"}}}`, `{"a": {"$binary": {"base64": "AQI=", "subType": "00"}}}`, true},
		{"decimal", `{"a": {"$numberDecimal": "1.5"}}`, `{"a": 1.5}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFilter(doc(t, tt.filter))
			if err != nil {
				t.Fatalf("NewFilter(%s): %v", tt.filter, err)
			}
			if got := f.Match(doc(t, tt.doc)); got != tt.want {
				t.Errorf("%s on %s = %v, want %v", tt.filter, tt.doc, got, tt.want)
			}
		})
	}
}

func TestFilterNil(t *testing.T) {
	f, err := NewFilter(nil)
	if err != nil || !f.Match(doc(t, `{"a": 1}`)) {
		t.Fatalf("nil filter: %v, must match everything", err)
	}
}

func TestFilterErrors(t *testing.T) {
	tests := []struct {
		filter string
		code   mongoerr.Code
		msg    string
	}{
		{`{"$foo": 1}`, mongoerr.BadValue, "unknown top level operator: $foo"},
		{`{"a": {"$foo": 1}}`, mongoerr.BadValue, "unknown operator: $foo"},
		{`{"a": {"$gt": 1, "b": 1}}`, mongoerr.BadValue, "unknown operator: b"},
		{`{"$and": []}`, mongoerr.BadValue, "$and/$or/$nor must be a nonempty array"},
		{`{"$or": []}`, mongoerr.BadValue, "$and/$or/$nor must be a nonempty array"},
		{`{"$nor": [1]}`, mongoerr.BadValue, "$or/$and/$nor entries need to be full objects"},
		{`{"$and": {"a": 1}}`, mongoerr.BadValue, "$and must be an array"},
		{`{"$or": [{"a": {"$bad": 1}}]}`, mongoerr.BadValue, "unknown operator: $bad"},
		{`{"a": {"$in": 1}}`, mongoerr.BadValue, "$in needs an array"},
		{`{"a": {"$nin": {"x": 1}}}`, mongoerr.BadValue, "$nin needs an array"},
		{`{"a": {"$in": [{"$gt": 1}]}}`, mongoerr.BadValue, "cannot nest $ under $in"},
		{`{"a": {"$not": 5}}`, mongoerr.BadValue, "$not needs a regex or a document"},
		{`{"a": {"$not": {}}}`, mongoerr.BadValue, "$not cannot be empty"},
		{`{"a": {"$not": {"$bad": 1}}}`, mongoerr.BadValue, "unknown operator: $bad"},
		{`{"a": {"$size": "x"}}`, mongoerr.BadValue, "$size needs a number"},
		{`{"a": {"$size": -1}}`, mongoerr.BadValue, "$size may not be negative"},
		{`{"a": {"$size": 1.5}}`, mongoerr.BadValue, "$size must be a whole number"},
		{`{"a": {"$all": 1}}`, mongoerr.BadValue, "$all needs an array"},
		{`{"a": {"$all": [{"$elemMatch": {"b": 1}}, 5]}}`, mongoerr.BadValue, "$all/$elemMatch has to be consistent"},
		{`{"a": {"$elemMatch": 1}}`, mongoerr.BadValue, "$elemMatch needs an Object"},
		{`{"a": {"$ne": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, mongoerr.BadValue, "Can't have regex as arg to $ne."},
		{`{"a": {"$gt": {"$regularExpression": {"pattern": "x", "options": ""}}}}`, mongoerr.BadValue, "Can't have RegEx as arg to predicate over field 'a'."},
		{`{"a": {"$options": "i"}}`, mongoerr.BadValue, "$options needs a $regex"},
		{`{"a": {"$regex": 5}}`, mongoerr.BadValue, "$regex has to be a string"},
		{`{"a": {"$regex": "x", "$options": "q"}}`, 51108, "invalid flag in regex options: q"},
		{`{"a": {"$regex": "("}}`, 51091, ""},
		{`{"a": {"$where": "x"}}`, mongoerr.BadValue, "$where cannot be applied to a field"},
		{`{"$expr": {"$eq": ["$a", "$$x"]}}`, 17276, "Use of undefined variable: x"},
		{`{"$expr": {"$foo": 1}}`, 168, "Unrecognized expression '$foo'"},
		{`{"a": {"$type": "strung"}}`, mongoerr.BadValue, "Unknown type name alias: strung"},
		{`{"a": {"$type": 100}}`, mongoerr.BadValue, "Invalid numerical type code: 100"},
		{`{"a": {"$mod": [0, 1]}}`, mongoerr.BadValue, "divisor cannot be 0"},
		{`{"a": {"$bitsAllSet": 1}}`, mongoerr.BadValue, "memshard does not support query operator $bitsAllSet"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			_, err := NewFilter(doc(t, tt.filter))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestFilterInvalidBSON(t *testing.T) {
	_, err := NewFilter(bson.Raw{5, 0, 0, 0, 1})
	wantCode(t, err, mongoerr.InvalidBSON, "")
}

func TestIDEquality(t *testing.T) {
	tests := []struct {
		filter string
		want   string // JSON value, "" when not an _id equality
	}{
		{`{"_id": 5}`, `5`},
		{`{"_id": {"$eq": "x"}}`, `"x"`},
		{`{"_id": {"$oid": "5f0000000000000000000001"}}`, `{"$oid": "5f0000000000000000000001"}`},
		{`{"_id": 5, "$comment": "c"}`, `5`},
		{`{"_id": {"a": 1}}`, ""},
		{`{"_id": [1]}`, ""},
		{`{"_id": {"$gt": 1}}`, ""},
		{`{"_id": {"$regularExpression": {"pattern": "x", "options": ""}}}`, ""},
		{`{"_id": 5, "a": 1}`, ""},
		{`{"a": 5}`, ""},
		{`{"_id.x": 5}`, ""},
		{`{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			f, err := NewFilter(doc(t, tt.filter))
			if err != nil {
				t.Fatal(err)
			}
			v, ok := f.IDEquality()
			if ok != (tt.want != "") {
				t.Fatalf("IDEquality ok = %v, want %v", ok, tt.want != "")
			}
			if ok && !v.Equal(val(t, tt.want)) {
				t.Errorf("IDEquality = %v, want %s", v, tt.want)
			}
		})
	}
}

func TestFilterMalformedDocNeverPanics(t *testing.T) {
	f, err := NewFilter(doc(t, `{"a.b": {"$in": [1, "x"]}, "c": {"$exists": false}}`))
	if err != nil {
		t.Fatal(err)
	}
	good := doc(t, `{"a": {"b": "x"}, "d": [1, "two", {"e": 3}]}`)
	for i := range good {
		for _, b := range []byte{0x00, 0xff, 0x7f, 0x03} {
			bad := append(bson.Raw(nil), good...)
			bad[i] = b
			f.Match(bad)
			f.Match(bad[:i])
		}
	}
}

func BenchmarkFilterIDEquality(b *testing.B) {
	f, err := NewFilter(doc(b, `{"_id": {"$oid": "5f0000000000000000000001"}}`))
	if err != nil {
		b.Fatal(err)
	}
	d := doc(b, `{"_id": {"$oid": "5f0000000000000000000001"}, "name": "x", "n": 5, "tags": ["a", "b"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if !f.Match(d) {
			b.Fatal("no match")
		}
	}
}

func TestFilterDepthLimit(t *testing.T) {
	deep := []byte(doc(t, `{"x": 1}`))
	for range maxDepth + 1 {
		deep = bsoncore.NewDocumentBuilder().AppendDocument("a", deep).Build()
	}
	_, err := NewFilter(deep)
	wantCode(t, err, mongoerr.InvalidBSON, "")
}
