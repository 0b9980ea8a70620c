package query

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func splitPath(p string) []string { return strings.Split(p, ".") }

// visitor receives the values a query path reaches; returning true stops the walk.
type visitor interface {
	visit(v bson.RawValue) bool
}

// walkDoc reports whether vis accepted any value that path reaches in doc, with MongoDB's query
// path semantics:
//   - a missing field yields the missing value (which null equality matches);
//   - through an array, a path continues into every element that is a document (elements that
//     are not documents are skipped), and a numeric component also selects that element;
//   - nested arrays are not traversed implicitly;
//   - with expand, an array at the end of the path yields each element, then the array itself.
func walkDoc(doc []byte, path []string, expand bool, vis visitor) bool {
	v, ok := lookup(doc, path[0])
	if !ok {
		return vis.visit(missing)
	}
	return walkValue(v, path[1:], expand, vis)
}

func walkValue(v bson.RawValue, rest []string, expand bool, vis visitor) bool {
	if len(rest) == 0 {
		if expand && v.Type == bson.TypeArray {
			arr, _ := subDoc(v)
			it := newIter(arr)
			for _, e, ok := it.next(); ok; _, e, ok = it.next() {
				if vis.visit(e) {
					return true
				}
			}
		}
		return vis.visit(v)
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		d, ok := subDoc(v)
		if !ok {
			return vis.visit(missing)
		}
		return walkDoc(d, rest, expand, vis)
	case bson.TypeArray:
		arr, ok := subDoc(v)
		if !ok {
			return false
		}
		if isIndex(rest[0]) {
			if e, ok := lookup(arr, rest[0]); ok && walkValue(e, rest[1:], expand, vis) {
				return true
			}
		}
		it := newIter(arr)
		for _, e, ok := it.next(); ok; _, e, ok = it.next() {
			if e.Type != bson.TypeEmbeddedDocument {
				continue
			}
			if d, ok := subDoc(e); ok && walkDoc(d, rest, expand, vis) {
				return true
			}
		}
		return false
	}
	return vis.visit(missing)
}

// isIndex reports whether a path component can address an array element.
func isIndex(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
