package query

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The object operators: $getField, $setField, $unsetField (fields whose names hold '.' or
// start with '$', which paths cannot reach) and $mergeObjects (expression_field_setter.cpp,
// expression.cpp).

// fieldExpr is $getField (value nil, remove false), $setField or $unsetField (remove).
type fieldExpr struct {
	op     string
	field  expr
	input  expr
	value  expr
	remove bool
}

func parseGetField(p *exprParser, _ string, arg bson.RawValue) (expr, error) {
	if !isDoc(arg) || isOperatorDoc(arg) { // the short form: the field name alone
		field, err := p.parse(arg)
		if err != nil {
			return nil, err
		}
		return &fieldExpr{op: "$getField", field: field, input: varExpr{name: "CURRENT"}}, nil
	}
	e := &fieldExpr{op: "$getField"}
	it := newIter(arg.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		sub, err := p.parse(v)
		if err != nil {
			return nil, err
		}
		switch string(k) {
		case "field":
			e.field = sub
		case "input":
			e.input = sub
		default:
			return nil, errorf(3041701, "$getField found an unknown argument: %s", k)
		}
	}
	if e.field == nil {
		return nil, errorf(3041702, "$getField requires 'field' to be specified")
	}
	if e.input == nil {
		e.input = varExpr{name: "CURRENT"}
	}
	return e, checkFieldArg(e)
}

func parseSetField(p *exprParser, name string, arg bson.RawValue) (expr, error) {
	e := &fieldExpr{op: name, remove: name == "$unsetField"}
	if !isDoc(arg) {
		return nil, errorf(4161100, "%s only supports an object as its argument", name)
	}
	it := newIter(arg.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		sub, err := p.parse(v)
		if err != nil {
			return nil, err
		}
		switch key := string(k); {
		case key == "field":
			e.field = sub
		case key == "input":
			e.input = sub
		case key == "value" && !e.remove:
			e.value = sub
		default:
			return nil, errorf(4161101, "%s found an unknown argument: %s", name, k)
		}
	}
	switch {
	case e.field == nil:
		return nil, errorf(4161102, "%s requires 'field' to be specified", name)
	case e.value == nil && !e.remove:
		return nil, errorf(4161103, "%s requires 'value' to be specified", name)
	case e.input == nil:
		return nil, errorf(4161109, "%s requires 'input' to be specified", name)
	}
	return e, checkFieldArg(e)
}

// checkFieldArg: the field must be a constant string ($setField) or an expression that yields
// one ($getField); a string starting with '$' would be a path, so it must be a $literal.
func checkFieldArg(e *fieldExpr) error {
	v, isConstant := isConst(e.field)
	switch {
	case !isConstant && e.op != "$getField":
		if _, ok := e.field.(pathExpr); ok {
			return errorf(4161108, "'%s' is a field path reference which is not allowed in this context. Did you mean {$literal: '...'}?", e.op)
		}
		return errorf(4161106, "%s requires 'field' to evaluate to a constant, but got a non-constant argument", e.op)
	case !isConstant:
		if _, ok := e.field.(pathExpr); ok {
			return errorf(5654602, "A string that starts with '$' is a field path reference which is not allowed in $getField's 'field'. Did you mean {$literal: '...'}?")
		}
		return nil
	case v.Type != bson.TypeString:
		code := mongoerr.Code(4161107)
		if e.op == "$getField" {
			code = 3041704
		}
		return errorf(code, "%s requires 'field' to evaluate to type String, but got %s", e.op, typeNameOrMissing(v))
	}
	return nil
}

func (e *fieldExpr) eval(c *evalCtx) (bson.RawValue, error) {
	f, err := e.field.eval(c)
	if err != nil {
		return missing, err
	}
	name, _ := strBytes(f)
	if f.Type != bson.TypeString {
		return missing, errorf(3041704, "%s requires 'field' to evaluate to type String, but got %s", e.op, typeNameOrMissing(f))
	}
	in, err := e.input.eval(c)
	if err != nil {
		return missing, err
	}
	switch {
	case nullish(in) && e.op == "$getField":
		return missing, nil
	case nullish(in):
		return nullValue, nil
	case !isDoc(in) && e.op == "$getField":
		return missing, nil
	case !isDoc(in):
		return missing, errorf(4161105, "%s requires 'input' to evaluate to type Object", e.op)
	case e.op == "$getField":
		v, _ := lookup(in.Value, string(name))
		return v, nil
	}
	v := missing
	if !e.remove {
		if v, err = e.value.eval(c); err != nil {
			return missing, err
		}
	}
	return docValue(withField(in.Value, string(name), v)), nil
}

// withField is doc with field name set to v in place (appended when new), or removed when v
// is missing.
func withField(doc []byte, name string, v bson.RawValue) []byte {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	set := false
	it := newIter(doc)
	for k, old, ok := it.next(); ok; k, old, ok = it.next() {
		if string(k) != name {
			dst = appendValue(dst, string(k), old)
			continue
		}
		if v.Type != 0 {
			dst = appendValue(dst, name, v)
		}
		set = true
	}
	if !set && v.Type != 0 {
		dst = appendValue(dst, name, v)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// evalMergeObjects merges documents left to right; null and missing operands are skipped.
func evalMergeObjects(_ *evalCtx, _ string, vals []bson.RawValue) (bson.RawValue, error) {
	out := emptyDoc
	for _, v := range vals {
		switch {
		case nullish(v):
			continue
		case !isDoc(v):
			return missing, errorf(40400, "$mergeObjects requires object inputs, but input %s is of type %s",
				formatValue(v), typeName(v.Type))
		}
		it := newIter(v.Value)
		for k, f, ok := it.next(); ok; k, f, ok = it.next() {
			out = withField(out, string(k), f)
		}
	}
	return docValue(out), nil
}
