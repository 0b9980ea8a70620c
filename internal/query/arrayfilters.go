package query

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Array updates: $[] (every element) and $[identifier] (the elements the arrayFilter named
// identifier selects) in update paths (update_array_node.cpp, parsed_update_array.cpp,
// update_object_node.cpp). Before an operator applies, its path is expanded into the concrete
// paths of the elements it reaches.

// isDynamic reports whether a path holds $[] or $[identifier].
func isDynamic(path []string) bool {
	return slices.ContainsFunc(path, func(p string) bool { return strings.HasPrefix(p, "$[") })
}

// checkPositionalElement accepts $[] and $[identifier] in update paths.
func checkPositionalElement(p, dotted string) error {
	if !strings.HasSuffix(p, "]") {
		return dollarField(p, dotted)
	}
	return nil
}

// arrayIdentifier is identifier of $[identifier] ("" for $[]).
func arrayIdentifier(p string) string { return p[2 : len(p)-1] }

// arrayFilters compiles the arrayFilters of an update by their identifiers.
func (env *Env) arrayFilters(raws []bson.Raw) (map[string]*Filter, error) {
	if len(raws) == 0 {
		return nil, nil
	}
	out := map[string]*Filter{}
	for _, raw := range raws {
		if !validDoc(raw) {
			return nil, errorf(mongoerr.InvalidBSON, "array filter is not a valid BSON document")
		}
		id, err := filterIdentifier(raw)
		if err != nil {
			return nil, err
		}
		if out[id] != nil {
			return nil, errorf(mongoerr.FailedToParse, "Found multiple array filters with the same top-level field name %s", id)
		}
		f, err := env.Filter(raw)
		if err != nil {
			return nil, err
		}
		out[id] = f
	}
	return out, nil
}

// filterIdentifier is the one top-level field name (the part before the first dot) of an
// array filter, looking through $and, $or and $nor.
func filterIdentifier(doc []byte) (string, error) {
	id := ""
	var walk func(doc []byte) error
	walk = func(doc []byte) error {
		it := newIter(doc)
		for k, v, ok := it.next(); ok; k, v, ok = it.next() {
			key := string(k)
			if strings.HasPrefix(key, "$") {
				for _, sub := range values(v) {
					if isDoc(sub) {
						if err := walk(sub.Value); err != nil {
							return err
						}
					}
				}
				continue
			}
			name, _, _ := strings.Cut(key, ".")
			switch {
			case id == "":
				id = name
			case id != name:
				return errorf(mongoerr.FailedToParse, "Error parsing array filter :: caused by :: Expected a single top-level field name, found '%s' and '%s'", id, name)
			}
		}
		return nil
	}
	if err := walk(doc); err != nil {
		return "", err
	}
	if id == "" {
		return "", errorf(mongoerr.FailedToParse, "Error parsing array filter :: caused by :: Cannot use an expression without a top-level field name in arrayFilters")
	}
	first := []rune(id)[0]
	alnum := !strings.ContainsFunc(id, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if !alnum || !unicode.IsLower(first) {
		return "", errorf(mongoerr.BadValue, "Error parsing array filter :: caused by :: The top-level field name must be an alphanumeric string beginning with a lowercase letter, found '%s'", id)
	}
	return id, nil
}

// checkPositional checks an operator's $[identifier] elements against the arrayFilters.
func (u *Update) checkPositional(op *updateOp) error {
	if op.mod == "$rename" && (op.dynamic || op.matched) {
		return errorf(mongoerr.BadValue, "The source field for $rename may not be dynamic: %s", op.dotted)
	}
	if !op.dynamic {
		return nil
	}
	for i, p := range op.path {
		if !strings.HasPrefix(p, "$[") {
			continue
		}
		if i == 0 {
			return errorf(mongoerr.BadValue, "Cannot have array filter identifier (i.e. '$[<id>]') element in the first position in path '%s'", op.dotted)
		}
		if id := arrayIdentifier(p); id != "" && u.filters[id] == nil {
			return errorf(mongoerr.BadValue, "No array filter found for identifier '%s' in path '%s'", id, op.dotted)
		}
	}
	return nil
}

// checkFiltersUsed fails for an arrayFilter no path names.
func checkFiltersUsed(filters map[string]*Filter, ops []*updateOp, u bson.RawValue) error {
	for _, id := range slices.Sorted(maps.Keys(filters)) {
		used := slices.ContainsFunc(ops, func(op *updateOp) bool { return slices.Contains(op.path, "$["+id+"]") })
		if !used {
			return errorf(mongoerr.FailedToParse, "The array filter for identifier '%s' was not used in the update %s", id, formatValue(u))
		}
	}
	return nil
}

// expand returns the concrete paths an operator's dynamic path reaches in root: each $[] and
// $[identifier] replaced by the positions of the array elements it selects.
func (u *Update) expand(root *mdoc, op *updateOp) ([][]string, error) {
	var out [][]string
	// walk continues op.path from index from, at element e (reached by prefix).
	var walk func(e *melem, from int, prefix []string) error
	walk = func(e *melem, from int, prefix []string) error {
		next := from
		for next < len(op.path) && !strings.HasPrefix(op.path[next], "$[") {
			next++
		}
		if next == len(op.path) {
			out = append(out, append(slices.Clone(prefix), op.path[from:]...))
			return nil
		}
		for i := from; i < next; i++ {
			d := e.open()
			idx := -1
			if d != nil {
				idx = d.index(op.path[i])
			}
			if idx < 0 {
				return errorf(mongoerr.BadValue, "The path '%s' must exist in the document in order to apply array updates.",
					strings.Join(append(slices.Clone(prefix), op.path[from:i+1]...), "."))
			}
			e = &d.elems[idx]
		}
		if e.typ() != bson.TypeArray {
			return errorf(mongoerr.BadValue, "Cannot apply array updates to non-array element %s", formatElem(op.path[next-1], e.value()))
		}
		base := append(slices.Clone(prefix), op.path[from:next]...)
		id := arrayIdentifier(op.path[next])
		filter := u.filters[id]
		arr := e.open()
		for i := range arr.elems {
			el := &arr.elems[i]
			if filter != nil && !filter.Match(withField(emptyDoc, id, el.value())) {
				if err := filter.Err(); err != nil {
					return err
				}
				continue
			}
			if err := walk(el, next+1, append(slices.Clone(base), strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(&melem{sub: root}, 0, nil)
}
