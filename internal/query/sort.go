package query

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"

	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Sort is a compiled sort specification.
type Sort struct {
	keys []sortKey
	coll *Collation
}

type sortKey struct {
	path []string
	desc bool
}

// NewSort compiles a sort by the simple collation.
func NewSort(spec bson.Raw) (*Sort, error) { return (*Env)(nil).Sort(spec) }

// Sort compiles {a: 1, "b.c": -1}, ordering strings by env's collation. An empty spec leaves
// the order unchanged.
func (env *Env) Sort(spec bson.Raw) (*Sort, error) {
	if len(spec) == 0 {
		return &Sort{}, nil
	}
	if !validDoc(spec) {
		return nil, errorf(mongoerr.InvalidBSON, "sort is not a valid BSON document")
	}
	s := &Sort{coll: env.collation()}
	it := newIter(spec)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		path := splitPath(string(k))
		for _, p := range path {
			if err := checkFieldName(p); err != nil {
				return nil, err
			}
		}
		n, isNum := numberOf(v)
		switch {
		case isOperatorDoc(v):
			return nil, unsupported("sort by $meta")
		case !isNum:
			return nil, errorf(15974, "$sort key ordering must be specified using a number or {$meta: 'textScore'}")
		case n.float() != 1 && n.float() != -1:
			return nil, errorf(15975, "$sort key ordering must be 1 (for ascending) or -1 (for descending)")
		}
		s.keys = append(s.keys, sortKey{path: path, desc: n.float() < 0})
	}
	return s, nil
}

// Sort orders docs in place, stably. A missing field sorts as null; an array sorts by its
// smallest element ascending and its largest descending (an empty array below null).
func (s *Sort) Sort(docs []bson.Raw) { SortBy(s, docs, func(d bson.Raw) []byte { return d }) }

// keyed is an item with its sort keys, computed once.
type keyed[T any] struct {
	item T
	keys []bson.RawValue
}

// SortBy sorts items stably as Sort does, each by the document docOf gives for it (for callers
// that keep something beside each document).
func SortBy[T any](s *Sort, items []T, docOf func(T) []byte) {
	if len(s.keys) == 0 || len(items) < 2 {
		return
	}
	ks := make([]keyed[T], len(items))
	for i, it := range items {
		ks[i] = keyed[T]{it, s.sortKeys(docOf(it))}
	}
	slices.SortStableFunc(ks, func(a, b keyed[T]) int { return s.compareKeys(a.keys, b.keys) })
	for i := range ks {
		items[i] = ks[i].item
	}
}

// Keys are doc's sort key values, one per field of the sort: what {$meta: "sortKey"} reports
// and what merging sorted results compares.
func (s *Sort) Keys(doc []byte) []bson.RawValue { return s.sortKeys(doc) }

// CompareKeys orders two documents by their sort key values (Keys), in the sort's directions
// and collation.
func (s *Sort) CompareKeys(a, b []bson.RawValue) int { return s.compareKeys(a, b) }

func (s *Sort) sortKeys(doc []byte) []bson.RawValue {
	keys := make([]bson.RawValue, len(s.keys))
	for i, k := range s.keys {
		v := &sortKeyVisitor{desc: k.desc, coll: s.coll}
		walkDoc(doc, k.path, false, v)
		keys[i] = v.best
		if !v.has {
			keys[i] = nullValue
		}
	}
	return keys
}

func (s *Sort) compareKeys(a, b []bson.RawValue) int {
	for i, k := range s.keys {
		c := s.coll.Compare(a[i], b[i])
		if k.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// sortKeyVisitor keeps the smallest (or largest, descending) value a path reaches.
type sortKeyVisitor struct {
	desc bool
	coll *Collation
	best bson.RawValue
	has  bool
}

func (v *sortKeyVisitor) visit(x bson.RawValue) bool {
	switch x.Type {
	case 0:
		v.offer(nullValue)
	case bson.TypeArray:
		elems := values(x)
		if len(elems) == 0 {
			v.offer(bson.RawValue{Type: bson.TypeUndefined})
		}
		for _, e := range elems {
			v.offer(e)
		}
	default:
		v.offer(x)
	}
	return false
}

func (v *sortKeyVisitor) offer(x bson.RawValue) {
	if c := v.coll.Compare(x, v.best); !v.has || (c < 0 && !v.desc) || (c > 0 && v.desc) {
		v.best, v.has = x, true
	}
}
