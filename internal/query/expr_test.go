package query

import (
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// evalJSON compiles expression js in env and evaluates it on document d.
func evalJSON(t *testing.T, env *Env, js, d string) (bson.RawValue, error) {
	t.Helper()
	e, err := (&exprParser{env: env}).parse(val(t, js))
	if err != nil {
		return missing, err
	}
	return evalDoc(e, doc(t, d), env)
}

func TestExpressions(t *testing.T) {
	env, err := NewEnv(doc(t, `{"x": 5, "name": "ada", "id": {"$add": [1, 1]}}`), nil, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	d := `{"_id": 1, "a": 2, "b": 3.5, "s": "Hi", "n": null, "arr": [1, 2, 3], "o": {"k": 1, "a.b": 7, "$d": 8}, "l": {"$numberLong": "9223372036854775807"}, "t": {"$date": "2024-01-01T00:00:00Z"}}`
	for _, tt := range []struct {
		expr, want string
	}{
		{`"$a"`, `2`},
		{`"$$ROOT._id"`, `1`},
		{`"$$x"`, `5`},
		{`"$$id"`, `2`},
		{`{"$literal": "$a"}`, `"$a"`},
		{`{"$eq": ["$a", 2.0]}`, `true`},
		{`{"$ne": ["$missing", null]}`, `true`},
		{`{"$lt": ["$missing", null]}`, `true`},
		{`{"$cmp": ["$s", "Ha"]}`, `1`},
		{`{"$and": [1, "$a", true]}`, `true`},
		{`{"$or": [0, null, "$missing"]}`, `false`},
		{`{"$not": [[]]}`, `false`},
		{`{"$add": ["$a", 1]}`, `3`},
		{`{"$add": ["$a", "$b"]}`, `5.5`},
		{`{"$add": [2147483647, 1]}`, `{"$numberLong": "2147483648"}`},
		{`{"$add": ["$l", 1]}`, `9.223372036854775807e18`},
		{`{"$add": ["$t", 1000]}`, `{"$date": "2024-01-01T00:00:01Z"}`},
		{`{"$add": ["$a", null]}`, `null`},
		{`{"$subtract": ["$t", {"$date": "2023-12-31T23:59:59Z"}]}`, `{"$numberLong": "1000"}`},
		{`{"$subtract": [5, "$a"]}`, `3`},
		{`{"$multiply": ["$a", "$a", 2]}`, `8`},
		{`{"$divide": [7, 2]}`, `3.5`},
		{`{"$mod": [7, 3]}`, `1`},
		{`{"$abs": -4}`, `4`},
		{`{"$concat": ["$s", " ", "$$name"]}`, `"Hi ada"`},
		{`{"$concat": ["$s", "$missing"]}`, `null`},
		{`{"$toUpper": "$s"}`, `"HI"`},
		{`{"$toLower": "$missing"}`, `""`},
		{`{"$cond": [{"$gt": ["$a", 1]}, "big", "small"]}`, `"big"`},
		{`{"$cond": {"if": false, "then": 1, "else": 2}}`, `2`},
		{`{"$ifNull": ["$n", "$missing", "dflt"]}`, `"dflt"`},
		{`{"$ifNull": ["$a", "dflt"]}`, `2`},
		{`{"$switch": {"branches": [{"case": {"$eq": ["$a", 1]}, "then": "one"}, {"case": {"$eq": ["$a", 2]}, "then": "two"}]}}`, `"two"`},
		{`{"$let": {"vars": {"y": {"$add": ["$a", 1]}}, "in": {"$multiply": ["$$y", "$$x"]}}}`, `15`},
		{`{"$size": "$arr"}`, `3`},
		{`{"$in": [2, "$arr"]}`, `true`},
		{`{"$arrayElemAt": ["$arr", -1]}`, `3`},
		{`{"$isArray": "$a"}`, `false`},
		{`{"$concatArrays": ["$arr", [4]]}`, `[1, 2, 3, 4]`},
		{`{"$toHashedIndexKey": "string to hash"}`, `{"$numberLong": "763543691661428748"}`}, // mongod's docs
		{`{"$toHashedIndexKey": "$missing"}`, `{"$numberLong": "2338878944348059895"}`},      // as null
		{`{"$toHashedIndexKey": "$n"}`, `{"$numberLong": "2338878944348059895"}`},
		{`{"$toHashedIndexKey": "$a"}`, `{"$numberLong": "848411777775835583"}`},
		{`{"$toHashedIndexKey": 2.9}`, `{"$numberLong": "848411777775835583"}`}, // numbers hash as their int64
		{`{"$type": "$missing"}`, `"missing"`},
		{`{"$type": "$l"}`, `"long"`},
		{`{"$getField": {"field": "a.b", "input": "$o"}}`, `7`},
		{`{"$getField": {"field": {"$literal": "$d"}, "input": "$o"}}`, `8`},
		{`{"$getField": "a"}`, `2`},
		{`{"$setField": {"field": "a.b", "input": "$o", "value": 0}}`, `{"k": 1, "a.b": 0, "$d": 8}`},
		{`{"$setField": {"field": {"$literal": "$new"}, "input": {"x": 1}, "value": "$$REMOVE"}}`, `{"x": 1}`},
		{`{"$setField": {"field": "z", "input": "$n", "value": 1}}`, `null`},
		{`{"$unsetField": {"field": "k", "input": "$o"}}`, `{"a.b": 7, "$d": 8}`},
		{`{"$mergeObjects": [{"a": 1, "b": 1}, null, {"b": 2}]}`, `{"a": 1, "b": 2}`},
		{`{"k": "$o.k", "gone": "$$REMOVE", "list": ["$a", "$missing"]}`, `{"k": 1, "list": [2, null]}`},
		{`"$arr.x"`, `[]`},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			got, err := evalJSON(t, env, tt.expr, d)
			if err != nil {
				t.Fatal(err)
			}
			if want := val(t, tt.want); got.Type != want.Type || string(got.Value) != string(want.Value) {
				t.Errorf("got %s (%s), want %s (%s)", formatOrMissing(got), typeNameOrMissing(got), tt.want, typeName(want.Type))
			}
		})
	}
}

func TestExpressionRand(t *testing.T) {
	for range 50 {
		v, err := evalJSON(t, nil, `{"$rand": {}}`, `{}`)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := numberOf(v); v.Type != bson.TypeDouble || n.f < 0 || n.f >= 1 {
			t.Fatalf("$rand gave %s", formatValue(v))
		}
	}
}

func TestExpressionErrors(t *testing.T) {
	env, err := NewEnv(doc(t, `{"x": 1}`), nil, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		expr string
		code mongoerr.Code
		msg  string
	}{
		{`"$$nope"`, 17276, "Use of undefined variable: nope"},
		{`{"$nope": 1}`, 168, "Unrecognized expression '$nope'"},
		{`{"$eq": [1, 2, 3]}`, 16020, "Expression $eq takes exactly 2 arguments. 3 were passed in."},
		{`{"$add": [1, "a"]}`, 16554, "$add only supports numeric or date types, not string"},
		{`{"$add": [{"$date": "2024-01-01T00:00:00Z"}, {"$date": "2024-01-01T00:00:00Z"}]}`, 16612, "only one date allowed in an $add expression"},
		{`{"$subtract": ["a", 1]}`, 16556, "can't $subtract int from string"},
		{`{"$divide": [1, 0]}`, 16608, "can't $divide by zero"},
		{`{"$mod": [1, 0]}`, 16610, "can't $mod by zero"},
		{`{"$concat": ["a", 1]}`, 16702, "$concat only supports strings, not int"},
		{`{"$size": 1}`, 17124, "The argument to $size must be an array. Type of the argument was: int"},
		{`{"$in": [1, 2]}`, 40081, "$in requires an array as a second argument, found: int"},
		{`{"$arrayElemAt": [[1], 0.5]}`, 28691, "$arrayElemAt's second argument must be representable as a 32-bit integer: 0.5"},
		{`{"$ifNull": [1]}`, 1257300, "$ifNull needs at least two arguments, had: 1"},
		{`{"$cond": {"if": true, "then": 1}}`, 17082, "Missing 'else' parameter to $cond"},
		{`{"$switch": {"branches": [{"case": false, "then": 1}]}}`, 40066, ""},
		{`{"$let": {"vars": {"Bad": 1}, "in": 1}}`, 16867, "'Bad' starts with an invalid character for a user variable name"},
		{`{"$setField": {"field": "$a", "input": {}, "value": 1}}`, 4161108, ""},
		{`{"$setField": {"field": 1, "input": {}, "value": 1}}`, 4161107, "$setField requires 'field' to evaluate to type String, but got int"},
		{`{"$setField": {"field": "a", "input": 5, "value": 1}}`, 4161105, ""},
		{`{"$setField": {"field": "a", "value": 1}}`, 4161109, ""},
		{`{"$mergeObjects": [1]}`, 40400, ""},
		{`{"$rand": {"a": 1}}`, 3040501, "$rand does not currently accept arguments"},
		{`{"a": 1, "$b": 2}`, 16410, ""},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := evalJSON(t, env, tt.expr, `{"a": 1}`)
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestEnvLet(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	env, err := NewEnv(doc(t, `{"a": 1, "b": {"$literal": "$x"}, "c": "$$NOW"}`), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := env.Vars["b"]; got.StringValue() != "$x" {
		t.Errorf("b = %s", got)
	}
	if got := env.Vars["c"]; got.Type != bson.TypeDateTime || got.DateTime() != now.UnixMilli() {
		t.Errorf("c = %s, want $$NOW", got)
	}
	for _, bad := range []string{`{"Upper": 1}`, `{"a-b": 1}`, `{"a": "$$undefined"}`} {
		if _, err := NewEnv(doc(t, bad), nil, now); err == nil {
			t.Errorf("let %s was accepted", bad)
		}
	}
}
