package query

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The positional $ update operator stands for the position of the array element through which
// the query matched the document (mongod's elemMatchKey, match_details.cpp): the element of the
// first array on the path of a predicate of the filter's top-level conjunction that satisfies
// the predicate on its own.

// Position returns that position for doc, which f matches; false when no predicate matched
// through an array.
func (f *Filter) Position(doc []byte) (int, bool) {
	var fields []*fieldM
	collectFields(f.root, &fields)
	for _, m := range fields {
		prefix, elems := firstArray(doc, m.path)
		for i, e := range elems {
			root := decodeDoc(doc, false)
			if setPath(root, prefix, arrayValue([]bson.RawValue{e})) != nil {
				break
			}
			if m.matches(root.appendTo(nil)) {
				return i, true
			}
		}
	}
	return 0, false
}

// collectFields gathers the field predicates of m's top-level conjunction, in order.
func collectFields(m matcher, out *[]*fieldM) {
	switch m := m.(type) {
	case andM:
		for _, c := range m {
			collectFields(c, out)
		}
	case *fieldM:
		*out = append(*out, m)
	}
}

// firstArray finds the first array along path in doc: the path to it and its elements.
func firstArray(doc []byte, path []string) ([]string, []bson.RawValue) {
	cur := docValue(doc)
	for i, p := range path {
		if !isDoc(cur) {
			return nil, nil
		}
		v, ok := lookup(cur.Value, p)
		if !ok {
			return nil, nil
		}
		if v.Type == bson.TypeArray {
			return slices.Clone(path[:i+1]), values(v)
		}
		cur = v
	}
	return nil, nil
}
