package query

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// expr is the subset of aggregation expressions memshard evaluates: field paths ("$a.b"),
// $$ROOT/$$CURRENT, constants, {$literal: v}, and documents and arrays of those.
type expr interface {
	// eval returns the value for the document root, or false when it is missing.
	eval(root []byte) (bson.RawValue, bool)
}

type pathExpr []string // nil is $$ROOT
type constExpr struct{ v bson.RawValue }
type objectExpr struct {
	keys  []string
	exprs []expr
}
type arrayExpr []expr

func parseExpr(v bson.RawValue) (expr, error) {
	switch {
	case v.Type == bson.TypeString:
		s, _ := strBytes(v)
		if strings.HasPrefix(string(s), "$") {
			return parseFieldPath(string(s))
		}
	case isOperatorDoc(v):
		it := newIter(v.Value)
		k, arg, _ := it.next()
		if string(k) == "$literal" {
			if _, _, more := it.next(); !more {
				return constExpr{arg}, nil
			}
		}
		return nil, unsupported("expression " + string(k))
	case isDoc(v):
		var o objectExpr
		it := newIter(v.Value)
		for k, e, ok := it.next(); ok; k, e, ok = it.next() {
			if err := checkFieldName(string(k)); err != nil {
				return nil, err
			}
			if strings.Contains(string(k), ".") {
				return nil, errorf(16412, "FieldPath field names may not contain '.'.")
			}
			sub, err := parseExpr(e)
			if err != nil {
				return nil, err
			}
			o.keys, o.exprs = append(o.keys, string(k)), append(o.exprs, sub)
		}
		return o, nil
	case v.Type == bson.TypeArray:
		var a arrayExpr
		for _, e := range values(v) {
			sub, err := parseExpr(e)
			if err != nil {
				return nil, err
			}
			a = append(a, sub)
		}
		return a, nil
	}
	return constExpr{v}, nil
}

func parseFieldPath(s string) (expr, error) {
	if s == "$" {
		return nil, errorf(16872, "'$' by itself is not a valid FieldPath")
	}
	var parts []string
	if strings.HasPrefix(s, "$$") {
		name, rest, _ := strings.Cut(s[2:], ".")
		if name != "ROOT" && name != "CURRENT" {
			return nil, errorf(17276, "Use of undefined variable: %s", name)
		}
		if rest == "" {
			return pathExpr(nil), nil
		}
		parts = splitPath(rest)
	} else {
		parts = splitPath(s[1:])
	}
	for _, p := range parts {
		if err := checkFieldName(p); err != nil {
			return nil, err
		}
	}
	return pathExpr(parts), nil
}

// checkFieldName rejects the path components aggregation refuses.
func checkFieldName(p string) error {
	switch {
	case p == "":
		return errorf(15998, "FieldPath field names may not be empty strings.")
	case p[0] == '$':
		return errorf(16410, "FieldPath field names may not start with '$'.")
	}
	return nil
}

func (e pathExpr) eval(root []byte) (bson.RawValue, bool) {
	return evalPath(docValue(root), e)
}

// evalPath follows aggregation path semantics: through an array, the path maps over the
// elements (keeping nested arrays, dropping elements where it is missing).
func evalPath(v bson.RawValue, parts []string) (bson.RawValue, bool) {
	if len(parts) == 0 {
		return v, true
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		sub, ok := lookup(v.Value, parts[0])
		if !ok {
			return missing, false
		}
		return evalPath(sub, parts[1:])
	case bson.TypeArray:
		var out []bson.RawValue
		for _, e := range values(v) {
			if r, ok := evalPath(e, parts); ok {
				out = append(out, r)
			}
		}
		return arrayValue(out), true
	}
	return missing, false
}

func (e constExpr) eval([]byte) (bson.RawValue, bool) { return e.v, true }

func (e objectExpr) eval(root []byte) (bson.RawValue, bool) {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	for i, sub := range e.exprs {
		if v, ok := sub.eval(root); ok {
			dst = appendValue(dst, e.keys[i], v)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return docValue(dst), true
}

func (e arrayExpr) eval(root []byte) (bson.RawValue, bool) {
	vals := make([]bson.RawValue, len(e))
	for i, sub := range e {
		v, ok := sub.eval(root)
		if !ok {
			v = nullValue // arrays hold null where an element is missing
		}
		vals[i] = v
	}
	return arrayValue(vals), true
}
