package query

import (
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestUpdateApply(t *testing.T) {
	tests := []struct {
		name, update, doc, want string
		modified                bool
	}{
		{"set new field", `{"$set": {"b": 2}}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "a": 1, "b": 2}`, true},
		{"set existing in place", `{"$set": {"a": "x"}}`, `{"_id": 1, "a": 1, "c": 3}`, `{"_id": 1, "a": "x", "c": 3}`, true},
		{"set same value", `{"$set": {"a": 1}}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "a": 1}`, false},
		{"set type change", `{"$set": {"a": 1.0}}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "a": 1.0}`, true},
		{"set dotted creates", `{"$set": {"a.b.c": 1}}`, `{"_id": 1}`, `{"_id": 1, "a": {"b": {"c": 1}}}`, true},
		{"set dotted existing", `{"$set": {"a.b": 2}}`, `{"_id": 1, "a": {"b": 1, "c": 1}}`, `{"_id": 1, "a": {"b": 2, "c": 1}}`, true},
		{"set array index", `{"$set": {"a.1": 9}}`, `{"_id": 1, "a": [1, 2, 3]}`, `{"_id": 1, "a": [1, 9, 3]}`, true},
		{"set array pads with null", `{"$set": {"a.3": 9}}`, `{"_id": 1, "a": [1]}`, `{"_id": 1, "a": [1, null, null, 9]}`, true},
		{"set into array element", `{"$set": {"a.0.b": 2}}`, `{"_id": 1, "a": [{"b": 1}]}`, `{"_id": 1, "a": [{"b": 2}]}`, true},
		{"set field order", `{"$set": {"z": 1, "m": 1, "b": 1}}`, `{"_id": 1}`, `{"_id": 1, "b": 1, "m": 1, "z": 1}`, true},
		{"set numeric field order", `{"$set": {"a.10": 1, "a.9": 1}}`, `{"_id": 1, "a": {}}`, `{"_id": 1, "a": {"9": 1, "10": 1}}`, true},
		{"operators share field order", `{"$set": {"z": 1}, "$inc": {"b": 1}}`, `{"_id": 1}`, `{"_id": 1, "b": 1, "z": 1}`, true},
		{"set same _id", `{"$set": {"_id": 1}}`, `{"_id": 1}`, `{"_id": 1}`, false},
		{"set empty", `{"$set": {}}`, `{"_id": 1}`, `{"_id": 1}`, false},
		{"setOnInsert ignored", `{"$setOnInsert": {"x": 1}}`, `{"_id": 1}`, `{"_id": 1}`, false},
		{"unset", `{"$unset": {"a": ""}}`, `{"_id": 1, "a": 1, "b": 2}`, `{"_id": 1, "b": 2}`, true},
		{"unset missing", `{"$unset": {"x": 1}}`, `{"_id": 1}`, `{"_id": 1}`, false},
		{"unset dotted", `{"$unset": {"a.b": 1}}`, `{"_id": 1, "a": {"b": 1, "c": 2}}`, `{"_id": 1, "a": {"c": 2}}`, true},
		{"unset through scalar", `{"$unset": {"a.b": 1}}`, `{"_id": 1, "a": 5}`, `{"_id": 1, "a": 5}`, false},
		{"unset array element nulls", `{"$unset": {"a.0": 1}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [null, 2]}`, true},
		{"inc", `{"$inc": {"n": 2}}`, `{"_id": 1, "n": 1}`, `{"_id": 1, "n": 3}`, true},
		{"inc missing", `{"$inc": {"n": 2}}`, `{"_id": 1}`, `{"_id": 1, "n": 2}`, true},
		{"inc negative", `{"$inc": {"n": -5}}`, `{"_id": 1, "n": 1}`, `{"_id": 1, "n": -4}`, true},
		{"inc int32 overflow widens", `{"$inc": {"n": 1}}`, `{"_id": 1, "n": 2147483647}`, `{"_id": 1, "n": {"$numberLong": "2147483648"}}`, true},
		{"inc long", `{"$inc": {"n": 1}}`, `{"_id": 1, "n": {"$numberLong": "5"}}`, `{"_id": 1, "n": {"$numberLong": "6"}}`, true},
		{"inc double", `{"$inc": {"n": 0.5}}`, `{"_id": 1, "n": 1}`, `{"_id": 1, "n": 1.5}`, true},
		{"inc zero", `{"$inc": {"n": 0}}`, `{"_id": 1, "n": 1}`, `{"_id": 1, "n": 1}`, false},
		{"inc dotted", `{"$inc": {"a.n": 1}}`, `{"_id": 1, "a": {"n": 1}}`, `{"_id": 1, "a": {"n": 2}}`, true},
		{"mul", `{"$mul": {"n": 3}}`, `{"_id": 1, "n": 2}`, `{"_id": 1, "n": 6}`, true},
		{"mul missing is zero", `{"$mul": {"n": 2.5}}`, `{"_id": 1}`, `{"_id": 1, "n": 0.0}`, true},
		{"min lower", `{"$min": {"n": 1}}`, `{"_id": 1, "n": 5}`, `{"_id": 1, "n": 1}`, true},
		{"min higher", `{"$min": {"n": 9}}`, `{"_id": 1, "n": 5}`, `{"_id": 1, "n": 5}`, false},
		{"max", `{"$max": {"n": 9}}`, `{"_id": 1, "n": 5}`, `{"_id": 1, "n": 9}`, true},
		{"max missing", `{"$max": {"n": 9}}`, `{"_id": 1}`, `{"_id": 1, "n": 9}`, true},
		{"push", `{"$push": {"a": 3}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [1, 2, 3]}`, true},
		{"push missing", `{"$push": {"a": {"b": 1}}}`, `{"_id": 1}`, `{"_id": 1, "a": [{"b": 1}]}`, true},
		{"push array value", `{"$push": {"a": [1]}}`, `{"_id": 1, "a": []}`, `{"_id": 1, "a": [[1]]}`, true},
		{"push each", `{"$push": {"a": {"$each": [3, 4]}}}`, `{"_id": 1, "a": [1]}`, `{"_id": 1, "a": [1, 3, 4]}`, true},
		{"push position", `{"$push": {"a": {"$each": [0], "$position": 0}}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [0, 1, 2]}`, true},
		{"push negative position", `{"$push": {"a": {"$each": [9], "$position": -1}}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [1, 9, 2]}`, true},
		{"push slice", `{"$push": {"a": {"$each": [3], "$slice": -2}}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [2, 3]}`, true},
		{"push sort", `{"$push": {"a": {"$each": [2], "$sort": -1}}}`, `{"_id": 1, "a": [1, 3]}`, `{"_id": 1, "a": [3, 2, 1]}`, true},
		{"push sort fields", `{"$push": {"a": {"$each": [{"s": 2}], "$sort": {"s": 1}, "$slice": 2}}}`, `{"_id": 1, "a": [{"s": 3}, {"s": 1}]}`, `{"_id": 1, "a": [{"s": 1}, {"s": 2}]}`, true},
		{"push empty each", `{"$push": {"a": {"$each": []}}}`, `{"_id": 1, "a": [1]}`, `{"_id": 1, "a": [1]}`, false},
		{"addToSet new", `{"$addToSet": {"a": 3}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [1, 2, 3]}`, true},
		{"addToSet present", `{"$addToSet": {"a": 2.0}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [1, 2]}`, false},
		{"addToSet each", `{"$addToSet": {"a": {"$each": [2, 3, 3]}}}`, `{"_id": 1, "a": [2]}`, `{"_id": 1, "a": [2, 3]}`, true},
		{"addToSet missing", `{"$addToSet": {"a": 1}}`, `{"_id": 1}`, `{"_id": 1, "a": [1]}`, true},
		{"pop last", `{"$pop": {"a": 1}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [1]}`, true},
		{"pop first", `{"$pop": {"a": -1}}`, `{"_id": 1, "a": [1, 2]}`, `{"_id": 1, "a": [2]}`, true},
		{"pop missing", `{"$pop": {"a": 1}}`, `{"_id": 1}`, `{"_id": 1}`, false},
		{"pull value", `{"$pull": {"a": 2}}`, `{"_id": 1, "a": [1, 2, 3, 2]}`, `{"_id": 1, "a": [1, 3]}`, true},
		{"pull condition", `{"$pull": {"a": {"$gte": 2}}}`, `{"_id": 1, "a": [1, 2, 3]}`, `{"_id": 1, "a": [1]}`, true},
		{"pull document match", `{"$pull": {"a": {"b": 1}}}`, `{"_id": 1, "a": [{"b": 1, "c": 1}, {"b": 2}, 1]}`, `{"_id": 1, "a": [{"b": 2}, 1]}`, true},
		{"pull nothing", `{"$pull": {"a": 9}}`, `{"_id": 1, "a": [1]}`, `{"_id": 1, "a": [1]}`, false},
		{"pullAll", `{"$pullAll": {"a": [1, 3]}}`, `{"_id": 1, "a": [1, 2, 3]}`, `{"_id": 1, "a": [2]}`, true},
		{"rename", `{"$rename": {"a": "b"}}`, `{"_id": 1, "a": 1, "c": 2}`, `{"_id": 1, "c": 2, "b": 1}`, true},
		{"rename overwrites", `{"$rename": {"a": "c"}}`, `{"_id": 1, "a": 1, "c": 2}`, `{"_id": 1, "c": 1}`, true},
		{"rename dotted", `{"$rename": {"a.b": "x.y"}}`, `{"_id": 1, "a": {"b": 1}}`, `{"_id": 1, "a": {}, "x": {"y": 1}}`, true},
		{"rename missing", `{"$rename": {"a": "b"}}`, `{"_id": 1}`, `{"_id": 1}`, false},
		{"replacement keeps _id", `{"x": 1}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "x": 1}`, true},
		{"replacement same _id", `{"x": 1, "_id": 1}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "x": 1}`, true},
		{"replacement equal number _id", `{"_id": 1.0, "a": 1}`, `{"_id": 1, "a": 1}`, `{"_id": 1, "a": 1}`, false},
		{"empty replacement", `{}`, `{"_id": 1, "a": 1}`, `{"_id": 1}`, true},
		{"replacement nested dollar allowed", `{"a": {"$x": 1}}`, `{"_id": 1}`, `{"_id": 1, "a": {"$x": 1}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := NewUpdate(val(t, tt.update))
			if err != nil {
				t.Fatalf("NewUpdate(%s): %v", tt.update, err)
			}
			out, modified, err := u.Apply(doc(t, tt.doc))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			sameDoc(t, out, tt.want)
			if modified != tt.modified {
				t.Errorf("modified = %v, want %v", modified, tt.modified)
			}
		})
	}
}

func TestUpdateCurrentDate(t *testing.T) {
	for _, spec := range []struct {
		update string
		typ    bson.Type
	}{
		{`{"$currentDate": {"d": true}}`, bson.TypeDateTime},
		{`{"$currentDate": {"d": {"$type": "date"}}}`, bson.TypeDateTime},
		{`{"$currentDate": {"d": {"$type": "timestamp"}}}`, bson.TypeTimestamp},
	} {
		u, err := NewUpdate(val(t, spec.update))
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := u.Apply(doc(t, `{"_id": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		if got := out.Lookup("d").Type; got != spec.typ {
			t.Errorf("%s: type %v, want %v", spec.update, got, spec.typ)
		}
	}
}

func TestUpdateParseErrors(t *testing.T) {
	tests := []struct {
		update string
		code   mongoerr.Code
		msg    string
	}{
		{`[{"$match": {"a": 1}}]`, mongoerr.InvalidOptions, "$match is not allowed to be used within an update"},
		{`5`, mongoerr.FailedToParse, "Update argument must be either an object or an array"},
		{`{"$set": {"a": 1}, "b": 2}`, mongoerr.FailedToParse, "Unknown modifier: b. Expected a valid update modifier or pipeline-style update specified as an array"},
		{`{"$foo": {"a": 1}}`, mongoerr.FailedToParse, "Unknown modifier: $foo. Expected a valid update modifier or pipeline-style update specified as an array"},
		{`{"b": 2, "$set": {"a": 1}}`, mongoerr.DollarPrefixedFieldName, "The dollar ($) prefixed field '$set' in '$set' is not allowed in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith."},
		{`{"$set": 5}`, mongoerr.FailedToParse, "Modifiers operate on fields but we found type int instead. For example: {$mod: {<field>: ...}} not {$set: 5}"},
		{`{"$unset": []}`, mongoerr.FailedToParse, "Modifiers operate on fields but we found type array instead. For example: {$mod: {<field>: ...}} not {$unset: []}"},
		{`{"$inc": {"a": "x"}}`, mongoerr.TypeMismatch, `Cannot increment with non-numeric argument: {a: "x"}`},
		{`{"$mul": {"a": null}}`, mongoerr.TypeMismatch, `Cannot multiply with non-numeric argument: {a: null}`},
		{`{"$set": {"a": 1}, "$inc": {"a": 1}}`, mongoerr.ConflictingUpdateOperators, "Updating the path 'a' would create a conflict at 'a'"},
		{`{"$set": {"a": 1}, "$unset": {"a.b": 1}}`, mongoerr.ConflictingUpdateOperators, "Updating the path 'a.b' would create a conflict at 'a'"},
		{`{"$set": {"a.b": 1}, "$unset": {"a": 1}}`, mongoerr.ConflictingUpdateOperators, "Updating the path 'a' would create a conflict at 'a'"},
		{`{"$set": {"a": 1}, "$rename": {"b": "a"}}`, mongoerr.ConflictingUpdateOperators, "Updating the path 'a' would create a conflict at 'a'"},
		{`{"$set": {"a..b": 1}}`, mongoerr.EmptyFieldName, "The update path 'a..b' contains an empty field name, which is not allowed."},
		{`{"$set": {"": 1}}`, mongoerr.EmptyFieldName, "An empty update path is not valid."},
		{`{"$set": {"a.$.b.$": 1}}`, mongoerr.BadValue, "Too many positional (i.e. '$') elements found in path 'a.$.b.$'"},
		{`{"$set": {"$": 1}}`, mongoerr.BadValue, "Cannot have positional (i.e. '$') element in the first position in path '$'"},
		{`{"$rename": {"a.$": "b"}}`, mongoerr.BadValue, "The source field for $rename may not be dynamic: a.$"},
		{`{"$set": {"a.$[i]": 1}}`, mongoerr.BadValue, "No array filter found for identifier 'i' in path 'a.$[i]'"},
		{`{"$set": {"$[]": 1}}`, mongoerr.BadValue, "Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '$[]'"},
		{`{"$set": {"$x": 1}}`, mongoerr.DollarPrefixedFieldName, ""},
		{`{"$bit": {"a": {"and": 1}}}`, mongoerr.BadValue, "memshard does not support update operator $bit"},
		{`{"$push": {"a": {"$each": 1}}}`, mongoerr.BadValue, "The argument to $each in $push must be an array but it was of type: int"},
		{`{"$push": {"a": {"$each": [], "$slice": "x"}}}`, mongoerr.BadValue, "The value for $slice must be an integer value but was given type: string"},
		{`{"$push": {"a": {"$each": [], "$position": 1.5}}}`, mongoerr.BadValue, "The value for $position must be an integer value, not of type: double"},
		{`{"$push": {"a": {"$each": [], "$bad": 1}}}`, mongoerr.BadValue, "Unrecognized clause in $push: $bad"},
		{`{"$push": {"a": {"$each": [], "$sort": 2}}}`, mongoerr.BadValue, "The $sort element value must be either 1 or -1"},
		{`{"$push": {"a": {"$each": [], "$sort": {}}}}`, mongoerr.BadValue, "The $sort pattern is empty when it should be a set of fields."},
		{`{"$pop": {"a": 2}}`, mongoerr.FailedToParse, "$pop expects 1 or -1, found: 2"},
		{`{"$pullAll": {"a": 1}}`, mongoerr.BadValue, "$pullAll requires an array argument but was given a int"},
		{`{"$pull": {"a": {"$bad": 1}}}`, mongoerr.BadValue, "unknown operator: $bad"},
		{`{"$rename": {"a": 1}}`, mongoerr.BadValue, "The 'to' field for $rename must be a string: a: 1"},
		{`{"$rename": {"a": "a"}}`, mongoerr.BadValue, `The source and target field for $rename must differ: a: "a"`},
		{`{"$rename": {"a": "a.b"}}`, mongoerr.BadValue, `The source and target field for $rename must not be on the same path: a: "a.b"`},
		{`{"$currentDate": {"a": 1}}`, mongoerr.BadValue, "int is not valid type for $currentDate. Please use a boolean ('true') or a $type expression ({$type: 'timestamp/date'})."},
		{`{"$addToSet": {"a": {"$each": 1}}}`, mongoerr.TypeMismatch, ""},
	}
	for _, tt := range tests {
		t.Run(tt.update, func(t *testing.T) {
			_, err := NewUpdate(val(t, tt.update))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestUpdateApplyErrors(t *testing.T) {
	tests := []struct {
		update, doc string
		code        mongoerr.Code
		msg         string
	}{
		{`{"$inc": {"a": 1}}`, `{"_id": 1, "a": "x"}`, mongoerr.TypeMismatch, "Cannot apply $inc to a value of non-numeric type. {_id: 1} has the field 'a' of non-numeric type string"},
		{`{"$inc": {"a": {"$numberLong": "1"}}}`, `{"_id": 1, "a": {"$numberLong": "9223372036854775807"}}`, mongoerr.BadValue, ""},
		{`{"$push": {"a": 1}}`, `{"_id": 1, "a": 1}`, mongoerr.BadValue, "The field 'a' must be an array but is of type int in document {_id: 1}"},
		{`{"$addToSet": {"a": 1}}`, `{"_id": 1, "a": {}}`, mongoerr.BadValue, "Cannot apply $addToSet to non-array field. Field named 'a' has non-array type object"},
		{`{"$pop": {"a": 1}}`, `{"_id": 1, "a": 1}`, mongoerr.TypeMismatch, "Path 'a' contains an element of non-array type 'int'"},
		{`{"$pull": {"a": 1}}`, `{"_id": 1, "a": 1}`, mongoerr.BadValue, "Cannot apply $pull to a non-array value"},
		{`{"$set": {"a.b": 1}}`, `{"_id": 1, "a": 5}`, mongoerr.PathNotViable, "Cannot create field 'b' in element {a: 5}"},
		{`{"$set": {"a.x": 1}}`, `{"_id": 1, "a": [1]}`, mongoerr.PathNotViable, "Cannot create field 'x' in element {a: [ 1 ]}"},
		{`{"$set": {"_id": 2}}`, `{"_id": 1}`, mongoerr.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'"},
		{`{"$set": {"_id.x": 2}}`, `{"_id": {"x": 1}}`, mongoerr.ImmutableField, "Performing an update on the path '_id.x' would modify the immutable field '_id'"},
		{`{"$unset": {"_id": 1}}`, `{"_id": 1}`, mongoerr.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'"},
		{`{"_id": 2, "a": 1}`, `{"_id": 1}`, mongoerr.ImmutableField, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2"},
		{`{"_id": "x"}`, `{"_id": 1}`, mongoerr.ImmutableField, `After applying the update, the (immutable) field '_id' was found to have been altered to _id: "x"`},
		{`{"$rename": {"a.0": "b"}}`, `{"_id": 1, "a": [1]}`, mongoerr.BadValue, "The source field cannot be an array element, 'a.0' in doc with _id: 1 has an array field called 'a'"},
	}
	for _, tt := range tests {
		t.Run(tt.update+" on "+tt.doc, func(t *testing.T) {
			u, err := NewUpdate(val(t, tt.update))
			if err != nil {
				t.Fatalf("NewUpdate: %v", err)
			}
			_, _, err = u.Apply(doc(t, tt.doc))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestUpsert(t *testing.T) {
	tests := []struct {
		name, filter, update, want string
	}{
		{"equality seeds", `{"_id": 1, "a": 2}`, `{"$set": {"b": 3}}`, `{"_id": 1, "a": 2, "b": 3}`},
		{"$eq and $and seed", `{"$and": [{"a": {"$eq": 1}}, {"b": 2}]}`, `{"$set": {"_id": 7}}`, `{"_id": 7, "a": 1, "b": 2}`},
		{"single $in seeds", `{"_id": {"$in": [4]}}`, `{"$inc": {"n": 1}}`, `{"_id": 4, "n": 1}`},
		{"single-clause $or seeds", `{"$or": [{"_id": 3}]}`, `{"$set": {"x": 1}}`, `{"_id": 3, "x": 1}`},
		{"non-equalities ignored", `{"_id": 1, "a": {"$gt": 1}, "b": {"$regularExpression": {"pattern": "x", "options": ""}}, "$or": [{"c": 1}, {"c": 2}]}`, `{"$set": {"x": 1}}`, `{"_id": 1, "x": 1}`},
		{"dotted equality", `{"_id": 1, "a.b": 1}`, `{"$set": {"a.c": 2}}`, `{"_id": 1, "a": {"b": 1, "c": 2}}`},
		{"setOnInsert applies", `{"_id": 1}`, `{"$setOnInsert": {"created": true}, "$set": {"x": 1}}`, `{"_id": 1, "created": true, "x": 1}`},
		{"_id moved first", `{"a": 1}`, `{"$set": {"_id": 9}}`, `{"_id": 9, "a": 1}`},
		{"replacement takes only _id", `{"_id": 5, "a": 1}`, `{"b": 2}`, `{"_id": 5, "b": 2}`},
		{"replacement own _id", `{"a": 1}`, `{"b": 2, "_id": 3}`, `{"_id": 3, "b": 2}`},
		{"replacement same _id", `{"_id": 3}`, `{"b": 2, "_id": 3}`, `{"_id": 3, "b": 2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := NewUpdate(val(t, tt.update))
			if err != nil {
				t.Fatal(err)
			}
			out, err := u.Upsert(doc(t, tt.filter))
			if err != nil {
				t.Fatalf("Upsert: %v", err)
			}
			sameDoc(t, out, tt.want)
		})
	}
}

func TestUpsertGeneratesObjectID(t *testing.T) {
	for _, update := range []string{`{"$set": {"a": 1}}`, `{"a": 1}`} {
		u, err := NewUpdate(val(t, update))
		if err != nil {
			t.Fatal(err)
		}
		out, err := u.Upsert(doc(t, `{"x": 2}`))
		if err != nil {
			t.Fatal(err)
		}
		first := out.Index(0)
		if first.Key() != "_id" || first.Value().Type != bson.TypeObjectID {
			t.Errorf("%s: first field %v, want a generated ObjectId _id", update, first)
		}
		if v, _ := out.Lookup("a").Int32OK(); v != 1 {
			t.Errorf("%s: a = %v", update, out.Lookup("a"))
		}
	}
}

func TestUpsertErrors(t *testing.T) {
	tests := []struct {
		filter, update string
		code           mongoerr.Code
		msg            string
	}{
		{`{"a": 1, "$and": [{"a": 2}]}`, `{"$set": {"b": 1}}`, mongoerr.NotSingleValueField, "cannot infer query fields to set, path 'a' is matched twice"},
		{`{"a": 1, "a.b": 2}`, `{"$set": {"c": 1}}`, mongoerr.NotSingleValueField, "cannot infer query fields to set, both paths 'a.b' and 'a' are matched"},
		{`{"_id": 1}`, `{"$set": {"_id": 2}}`, mongoerr.ImmutableField, "Performing an update on the path '_id' would modify the immutable field '_id'"},
		{`{"_id": 1}`, `{"_id": 2}`, mongoerr.ImmutableField, "After applying the update, the (immutable) field '_id' was found to have been altered to _id: 2"},
		{`{}`, `{"$set": {"_id": [1]}}`, mongoerr.InvalidIdField, "The '_id' value cannot be of type array"},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.update, func(t *testing.T) {
			u, err := NewUpdate(val(t, tt.update))
			if err != nil {
				t.Fatal(err)
			}
			_, err = u.Upsert(doc(t, tt.filter))
			wantCode(t, err, tt.code, tt.msg)
		})
	}
}

func TestUpdateMalformedDocNeverPanics(t *testing.T) {
	u, err := NewUpdate(val(t, `{"$set": {"a.b": 1}, "$inc": {"c.0": 1}, "$push": {"d": 1}, "$unset": {"e.f": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	good := doc(t, `{"_id": 1, "a": {"b": 0}, "c": [1], "d": [], "e": {"f": "x"}}`)
	for i := range good {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0xff
		_, _, _ = u.Apply(bad)
		_, _, _ = u.Apply(bad[:i])
	}
}

func TestIDFirst(t *testing.T) {
	tests := []struct {
		name, doc, want string
		code            mongoerr.Code
	}{
		{"already first", `{"_id": 1, "a": 2}`, `{"_id": 1, "a": 2}`, 0},
		{"moved to the front", `{"a": 2, "_id": "x", "b": 3}`, `{"_id": "x", "a": 2, "b": 3}`, 0},
		{"array _id", `{"_id": [1]}`, "", mongoerr.InvalidIdField},
		{"regex _id", `{"a": 1, "_id": {"$regularExpression": {"pattern": "x", "options": ""}}}`, "", mongoerr.InvalidIdField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := IDFirst(doc(t, tt.doc))
			if tt.code != 0 {
				wantCode(t, err, tt.code, "")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sameDoc(t, got, tt.want)
		})
	}
	t.Run("generated ObjectId", func(t *testing.T) {
		got, err := IDFirst(doc(t, `{"a": 1}`))
		if err != nil {
			t.Fatal(err)
		}
		if first, _ := got.IndexErr(0); first.Key() != "_id" || first.Value().Type != bson.TypeObjectID || got.Lookup("a").Int32() != 1 {
			t.Fatalf("got %s", got)
		}
	})
}
