package query

import (
	"slices"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// expr is an aggregation expression: field paths ("$a.b"), variables ("$$ROOT", "$$NOW",
// "$$REMOVE", let variables), constants, documents and arrays of expressions, and the
// operators of exprops.go.
type expr interface {
	// eval returns the expression's value for the document in c; missing is the zero value.
	eval(c *evalCtx) (bson.RawValue, error)
}

// evalCtx is what an expression is evaluated against: the document ($$ROOT, $$CURRENT), the
// command's Env, and the variables $let, $map and $filter bind, innermost first.
type evalCtx struct {
	root  []byte
	env   *Env
	local *binding
}

type binding struct {
	name string
	v    bson.RawValue
	up   *binding
}

func (c *evalCtx) bind(name string, v bson.RawValue) *evalCtx {
	return &evalCtx{root: c.root, env: c.env, local: &binding{name, v, c.local}}
}

// evalDoc evaluates e with doc as $$ROOT.
func evalDoc(e expr, doc []byte, env *Env) (bson.RawValue, error) {
	return e.eval(&evalCtx{root: doc, env: env})
}

type pathExpr []string // a field path from $$CURRENT
type varExpr struct {
	name string
	path []string
}
type constExpr struct{ v bson.RawValue }
type objectExpr struct {
	keys  []string
	exprs []expr
}
type arrayExpr []expr

// systemVars are the variables every expression may use (variables.cpp).
var systemVars = map[string]bool{"ROOT": true, "CURRENT": true, "NOW": true, "CLUSTER_TIME": true, "REMOVE": true}

// exprParser compiles expressions for one command: let variables come from env, and locals are
// the names enclosing $let, $map and $filter define.
type exprParser struct {
	env    *Env
	locals []string
}

func (p *exprParser) with(names ...string) *exprParser {
	return &exprParser{env: p.env, locals: append(slices.Clone(p.locals), names...)}
}

func (p *exprParser) parse(v bson.RawValue) (expr, error) {
	switch {
	case v.Type == bson.TypeString:
		s, _ := strBytes(v)
		if strings.HasPrefix(string(s), "$") {
			return p.parseFieldPath(string(s))
		}
	case isOperatorDoc(v):
		it := newIter(v.Value)
		k, arg, _ := it.next()
		if _, _, more := it.next(); more {
			return nil, errorf(15983, "an expression specification must contain exactly one field, the name of the expression. Found %d fields in %s",
				len(fieldNames(v.Value)), formatValue(v))
		}
		return p.parseOperator(string(k), arg)
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
			sub, err := p.parse(e)
			if err != nil {
				return nil, err
			}
			o.keys, o.exprs = append(o.keys, string(k)), append(o.exprs, sub)
		}
		return o, nil
	case v.Type == bson.TypeArray:
		var a arrayExpr
		for _, e := range values(v) {
			sub, err := p.parse(e)
			if err != nil {
				return nil, err
			}
			a = append(a, sub)
		}
		return a, nil
	}
	return constExpr{v}, nil
}

func (p *exprParser) parseFieldPath(s string) (expr, error) {
	if s == "$" {
		return nil, errorf(16872, "'$' by itself is not a valid FieldPath")
	}
	if !strings.HasPrefix(s, "$$") {
		parts := splitPath(s[1:])
		for _, part := range parts {
			if err := checkFieldName(part); err != nil {
				return nil, err
			}
		}
		return pathExpr(parts), nil
	}
	name, rest, _ := strings.Cut(s[2:], ".")
	if name == "" {
		return nil, errorf(16869, "empty variable names are not allowed")
	}
	if !p.defined(name) {
		return nil, errorf(17276, "Use of undefined variable: %s", name)
	}
	var parts []string
	if rest != "" {
		parts = splitPath(rest)
		for _, part := range parts {
			if err := checkFieldName(part); err != nil {
				return nil, err
			}
		}
	}
	return varExpr{name: name, path: parts}, nil
}

func (p *exprParser) defined(name string) bool {
	if systemVars[name] || slices.Contains(p.locals, name) {
		return true
	}
	_, ok := p.env.userVar(name)
	return ok
}

// checkFieldName rejects the path components aggregation refuses.
func checkFieldName(p string) error {
	switch {
	case p == "":
		return errorf(15998, "FieldPath field names may not be empty strings.")
	case p[0] == '$':
		return errorf(16410, "FieldPath field names may not start with '$'. Consider using $getField or $setField.")
	}
	return nil
}

func (e pathExpr) eval(c *evalCtx) (bson.RawValue, error) {
	return evalPath(docValue(c.root), e), nil
}

func (e varExpr) eval(c *evalCtx) (bson.RawValue, error) {
	var v bson.RawValue
	switch e.name {
	case "ROOT", "CURRENT":
		v = docValue(c.root)
	case "REMOVE":
		return missing, nil
	case "NOW":
		v = bson.RawValue{Type: bson.TypeDateTime, Value: bsoncore.AppendDateTime(nil, c.env.now().UnixMilli())}
	case "CLUSTER_TIME":
		now := c.env.now()
		v = bson.RawValue{Type: bson.TypeTimestamp, Value: bsoncore.AppendTimestamp(nil, uint32(now.Unix()), 1)}
	default:
		found := false
		for b := c.local; b != nil && !found; b = b.up {
			if b.name == e.name {
				v, found = b.v, true
			}
		}
		if !found {
			v, _ = c.env.userVar(e.name)
		}
	}
	return evalPath(v, e.path), nil
}

// evalPath follows aggregation path semantics: through an array, the path maps over the
// elements (keeping nested arrays, dropping elements where it is missing).
func evalPath(v bson.RawValue, parts []string) bson.RawValue {
	if len(parts) == 0 {
		return v
	}
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		sub, ok := lookup(v.Value, parts[0])
		if !ok {
			return missing
		}
		return evalPath(sub, parts[1:])
	case bson.TypeArray:
		var out []bson.RawValue
		for _, e := range values(v) {
			if r := evalPath(e, parts); r.Type != 0 {
				out = append(out, r)
			}
		}
		return arrayValue(out)
	}
	return missing
}

func (e constExpr) eval(*evalCtx) (bson.RawValue, error) { return e.v, nil }

func (e objectExpr) eval(c *evalCtx) (bson.RawValue, error) {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	for i, sub := range e.exprs {
		v, err := sub.eval(c)
		if err != nil {
			return missing, err
		}
		if v.Type != 0 {
			dst = appendValue(dst, e.keys[i], v)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return docValue(dst), nil
}

func (e arrayExpr) eval(c *evalCtx) (bson.RawValue, error) {
	vals := make([]bson.RawValue, len(e))
	for i, sub := range e {
		v, err := sub.eval(c)
		if err != nil {
			return missing, err
		}
		if v.Type == 0 {
			v = nullValue // arrays hold null where an element is missing
		}
		vals[i] = v
	}
	return arrayValue(vals), nil
}

// isConst reports whether e has the same value for every document (for operators whose
// arguments must be constant, as $setField's field).
func isConst(e expr) (bson.RawValue, bool) {
	c, ok := e.(constExpr)
	return c.v, ok
}

func unknownExpression(name string) error {
	return errorf(mongoerr.InvalidPipelineOperator, "Unrecognized expression '%s'", name)
}
