package query

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		// Cross-type order.
		{`{"$minKey": 1}`, `null`, -1},
		{`null`, `0`, -1},
		{`{"$numberDouble": "-Infinity"}`, `""`, -1},
		{`"z"`, `{}`, -1},
		{`{"z": 1}`, `[]`, -1},
		{`[1]`, `{"$binary": {"base64": "", "subType": "00"}}`, -1},
		{`{"$binary": {"base64": "AQ==", "subType": "00"}}`, `{"$oid": "000000000000000000000000"}`, -1},
		{`{"$oid": "ffffffffffffffffffffffff"}`, `false`, -1},
		{`true`, `{"$date": "1970-01-01T00:00:00Z"}`, -1},
		{`{"$date": "2100-01-01T00:00:00Z"}`, `{"$timestamp": {"t": 0, "i": 0}}`, -1},
		{`{"$timestamp": {"t": 9, "i": 9}}`, `{"$regularExpression": {"pattern": "", "options": ""}}`, -1},
		{`{"$regularExpression": {"pattern": "z", "options": ""}}`, `{"$maxKey": 1}`, -1},
		{`{"$undefined": true}`, `null`, -1},
		// Numbers.
		{`1`, `1.0`, 0},
		{`1`, `{"$numberLong": "1"}`, 0},
		{`{"$numberLong": "9007199254740993"}`, `9007199254740992.0`, 1},
		{`{"$numberLong": "9223372036854775807"}`, `9223372036854775807.0`, -1},
		{`{"$numberLong": "-9223372036854775808"}`, `-9223372036854775808.0`, 0},
		{`2`, `1.5`, 1},
		{`-2`, `-1.5`, -1},
		{`1`, `1.5`, -1},
		{`{"$numberDouble": "NaN"}`, `{"$numberDouble": "-Infinity"}`, -1},
		{`{"$numberDouble": "NaN"}`, `{"$numberDouble": "NaN"}`, 0},
		{`{"$numberDouble": "NaN"}`, `{"$numberLong": "-9223372036854775808"}`, -1},
		{`{"$numberDecimal": "2.5"}`, `2.5`, 0},
		{`{"$numberDecimal": "1E+3"}`, `999`, 1},
		{`-0.0`, `0`, 0},
		// Strings are binary.
		{`"a"`, `"b"`, -1},
		{`"B"`, `"a"`, -1},
		{`"ab"`, `"a"`, 1},
		{`"é"`, `"z"`, 1},
		{`{"$symbol": "a"}`, `"a"`, 0},
		// Documents: field by field, type before name before value.
		{`{"a": 1}`, `{"a": 1}`, 0},
		{`{"a": 1}`, `{"a": 2}`, -1},
		{`{"a": 1}`, `{"b": 0}`, -1},
		{`{"b": 1}`, `{"a": "x"}`, -1},
		{`{"a": 1}`, `{"a": 1, "b": 1}`, -1},
		{`{}`, `{"a": 1}`, -1},
		{`{"a": {"b": 2}}`, `{"a": {"b": 1}}`, 1},
		// Arrays: element-wise, shorter first.
		{`[1, 2]`, `[1, 3]`, -1},
		{`[1, 2]`, `[1]`, 1},
		{`[2]`, `[1, 5]`, 1},
		{`[[1]]`, `[[1]]`, 0},
		// Other scalars.
		{`{"$binary": {"base64": "AQI=", "subType": "00"}}`, `{"$binary": {"base64": "AQ==", "subType": "00"}}`, 1},
		{`{"$binary": {"base64": "AQ==", "subType": "01"}}`, `{"$binary": {"base64": "Ag==", "subType": "00"}}`, 1},
		{`{"$oid": "000000000000000000000001"}`, `{"$oid": "000000000000000000000002"}`, -1},
		{`false`, `true`, -1},
		{`{"$date": "1960-01-01T00:00:00Z"}`, `{"$date": "1970-01-01T00:00:00Z"}`, -1},
		{`{"$timestamp": {"t": 2, "i": 0}}`, `{"$timestamp": {"t": 1, "i": 99}}`, 1},
		{`{"$timestamp": {"t": 4294967295, "i": 0}}`, `{"$timestamp": {"t": 1, "i": 0}}`, 1},
		{`{"$regularExpression": {"pattern": "a", "options": "i"}}`, `{"$regularExpression": {"pattern": "a", "options": ""}}`, 1},
		{`null`, `null`, 0},
		{`{"$maxKey": 1}`, `{"$maxKey": 1}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			a, b := val(t, tt.a), val(t, tt.b)
			if got := Compare(a, b); got != tt.want {
				t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := Compare(b, a); got != -tt.want {
				t.Errorf("Compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
			}
			if eq := IndexKey(a) == IndexKey(b); eq != (tt.want == 0) {
				t.Errorf("IndexKey equality = %v, want %v", eq, tt.want == 0)
			}
		})
	}
}

func TestCompareMissing(t *testing.T) {
	if Compare(bson.RawValue{}, val(t, `null`)) != -1 {
		t.Error("a missing value must sort before null")
	}
}

func TestCompareMalformedNeverPanics(t *testing.T) {
	vals := []bson.RawValue{
		{Type: bson.TypeString, Value: []byte{0xff, 0xff, 0xff, 0xff, 'a', 0}},
		{Type: bson.TypeString, Value: []byte{1}},
		{Type: bson.TypeInt64, Value: []byte{1, 2}},
		{Type: bson.TypeDouble},
		{Type: bson.TypeDecimal128, Value: []byte{1}},
		{Type: bson.TypeEmbeddedDocument, Value: []byte{3, 0, 0, 0}},
		{Type: bson.TypeArray, Value: []byte{9, 0, 0, 0, 0x10, 'a', 0, 1, 0}},
		{Type: bson.TypeBinary, Value: []byte{200, 0, 0, 0, 0}},
		{Type: bson.TypeRegex, Value: []byte{'a'}},
		{Type: bson.TypeTimestamp, Value: nil},
		{Type: bson.Type(0x42), Value: []byte{1}},
	}
	for _, a := range vals {
		for _, b := range vals {
			Compare(a, b)
			IndexKey(a)
			formatValue(a)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct{ v, want string }{
		{`5`, `5`},
		{`{"$numberLong": "5"}`, `5`},
		{`2.0`, `2.0`},
		{`2.5`, `2.5`},
		{`"x"`, `"x"`},
		{`{"a": 1, "b": "c"}`, `{ a: 1, b: "c" }`},
		{`{}`, `{}`},
		{`[1, [2]]`, `[ 1, [ 2 ] ]`},
		{`{"$oid": "5f0000000000000000000001"}`, `ObjectId('5f0000000000000000000001')`},
		{`null`, `null`},
		{`true`, `true`},
	}
	for _, tt := range tests {
		if got := formatValue(val(t, tt.v)); got != tt.want {
			t.Errorf("formatValue(%s) = %s, want %s", tt.v, got, tt.want)
		}
	}
}
