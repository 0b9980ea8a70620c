package query

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Index keys as mongod's btree key generator makes them (btree_key_generator.cpp): one value
// per key field, a missing field as null; a field that reaches an array gives one key per
// element (an empty array: undefined), which makes the index multikey. At most one field of a
// compound key may reach an array.

// IndexKeys returns the keys doc has in an index on paths (each a dotted path split), whether
// one of them reached an array, and which paths were present at all (for sparse indexes).
func IndexKeys(doc []byte, paths [][]string) (keys [][]bson.RawValue, multikey bool, present int, err error) {
	per := make([][]bson.RawValue, len(paths))
	multi := -1
	for i, p := range paths {
		vals, isArray := keyValues(doc, p)
		if len(vals) == 0 {
			per[i] = []bson.RawValue{nullValue}
			continue
		}
		present++
		per[i] = vals
		if isArray {
			if multi >= 0 {
				return nil, false, 0, errorf(mongoerr.CannotIndexParallelArrays, "cannot index parallel arrays [%s] [%s]",
					p[len(p)-1], paths[multi][len(paths[multi])-1])
			}
			multi = i
		}
	}
	if multi < 0 {
		key := make([]bson.RawValue, len(paths))
		for i, vals := range per {
			key[i] = vals[0]
		}
		return [][]bson.RawValue{key}, false, present, nil
	}
	for _, v := range per[multi] {
		key := make([]bson.RawValue, len(paths))
		for i, vals := range per {
			key[i] = vals[0]
		}
		key[multi] = v
		keys = append(keys, key)
	}
	return keys, true, present, nil
}

// keyValues are the values path reaches in doc, an array's elements standing for the array
// (isArray then); none when the path is missing.
func keyValues(doc []byte, path []string) (vals []bson.RawValue, isArray bool) {
	v, ok := lookup(doc, path[0])
	if !ok {
		return nil, false
	}
	return valueKeys(v, path[1:])
}

func valueKeys(v bson.RawValue, rest []string) ([]bson.RawValue, bool) {
	if len(rest) == 0 {
		if v.Type != bson.TypeArray {
			return []bson.RawValue{v}, false
		}
		elems := values(v)
		if len(elems) == 0 {
			return []bson.RawValue{{Type: bson.TypeUndefined}}, true
		}
		return elems, true
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		sub, ok := lookup(v.Value, rest[0])
		if !ok {
			return nil, false
		}
		return valueKeys(sub, rest[1:])
	case bson.TypeArray:
		var out []bson.RawValue
		if isIndex(rest[0]) {
			if e, ok := lookup(v.Value, rest[0]); ok {
				vals, _ := valueKeys(e, rest[1:])
				out = append(out, vals...)
			}
		}
		for _, e := range values(v) {
			if e.Type == bson.TypeEmbeddedDocument {
				vals, _ := valueKeys(e, rest)
				out = append(out, vals...)
			}
		}
		if len(out) == 0 {
			out = []bson.RawValue{nullValue}
		}
		return out, true
	}
	return nil, false
}

// KeyString is a map key for an index key: equal for keys the collation (nil: simple) calls
// equal.
func (c *Collation) KeyString(key []bson.RawValue) string {
	var b []byte
	for _, v := range key {
		b = appendKey(b, v, c)
	}
	return string(b)
}

// CompareKeys orders index keys field by field, dirs giving each field's direction (1 or -1).
func CompareKeys(a, b []bson.RawValue, dirs []int) int {
	for i := range a {
		if c := Compare(a[i], b[i]) * dirs[i]; c != 0 {
			return c
		}
	}
	return 0
}
