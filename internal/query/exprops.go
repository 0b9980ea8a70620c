package query

import (
	"math/rand/v2"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The aggregation operators memshard evaluates, with mongod's arities, null handling, result
// types, codes and messages (src/mongo/db/pipeline/expression.cpp). Arithmetic lives in
// exprarith.go, the object operators in exprfields.go.

type opParser func(p *exprParser, name string, arg bson.RawValue) (expr, error)

var exprOps map[string]opParser

func init() { // a function, as the parsers reach exprOps again through parse
	exprOps = map[string]opParser{
		"$literal": func(_ *exprParser, _ string, arg bson.RawValue) (expr, error) { return constExpr{arg}, nil },
		"$eq":      comparison, "$ne": comparison, "$gt": comparison, "$gte": comparison, "$lt": comparison,
		"$lte": comparison, "$cmp": comparison,
		"$and": logical, "$or": logical, "$not": nary(1, evalNot),
		"$cond": parseCond, "$ifNull": parseIfNull, "$switch": parseSwitch, "$let": parseLet,
		"$add": variadic(evalAdd), "$multiply": variadic(evalMultiply), "$subtract": nary(2, evalSubtract),
		"$divide": nary(2, evalDivide), "$mod": nary(2, evalMod), "$abs": nary(1, evalAbs),
		"$concat": variadic(evalConcat), "$toLower": nary(1, caseMapper(strings.ToLower)),
		"$toUpper": nary(1, caseMapper(strings.ToUpper)),
		"$size":    nary(1, evalSize), "$in": nary(2, evalIn), "$arrayElemAt": nary(2, evalArrayElemAt),
		"$isArray": nary(1, evalIsArray), "$concatArrays": variadic(evalConcatArrays),
		"$mergeObjects": variadic(evalMergeObjects), "$type": nary(1, evalType),
		"$getField": parseGetField, "$setField": parseSetField, "$unsetField": parseSetField,
		"$rand": parseRand, "$toHashedIndexKey": nary(1, evalToHashedIndexKey),
	}
}

func (p *exprParser) parseOperator(name string, arg bson.RawValue) (expr, error) {
	parse, ok := exprOps[name]
	if !ok {
		return nil, unknownExpression(name)
	}
	return parse(p, name, arg)
}

// args parses an operator's operands: the elements of an array, or one operand otherwise.
func (p *exprParser) args(arg bson.RawValue) ([]expr, error) {
	ops := []bson.RawValue{arg}
	if arg.Type == bson.TypeArray {
		ops = values(arg)
	}
	out := make([]expr, len(ops))
	for i, o := range ops {
		e, err := p.parse(o)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// fnExpr evaluates its operands, then fn on their values.
type fnExpr struct {
	name string
	args []expr
	fn   func(c *evalCtx, name string, vals []bson.RawValue) (bson.RawValue, error)
}

func (e *fnExpr) eval(c *evalCtx) (bson.RawValue, error) {
	vals := make([]bson.RawValue, len(e.args))
	for i, a := range e.args {
		v, err := a.eval(c)
		if err != nil {
			return missing, err
		}
		vals[i] = v
	}
	return e.fn(c, e.name, vals)
}

type evalFn = func(c *evalCtx, name string, vals []bson.RawValue) (bson.RawValue, error)

func variadic(fn evalFn) opParser {
	return func(p *exprParser, name string, arg bson.RawValue) (expr, error) {
		args, err := p.args(arg)
		return &fnExpr{name, args, fn}, err
	}
}

func nary(n int, fn evalFn) opParser {
	return func(p *exprParser, name string, arg bson.RawValue) (expr, error) {
		args, err := p.args(arg)
		if err != nil {
			return nil, err
		}
		if len(args) != n {
			return nil, errorf(16020, "Expression %s takes exactly %d arguments. %d were passed in.", name, n, len(args))
		}
		return &fnExpr{name, args, fn}, nil
	}
}

func boolValue(b bool) bson.RawValue {
	return bson.RawValue{Type: bson.TypeBoolean, Value: bsoncore.AppendBoolean(nil, b)}
}

func stringValue(s string) bson.RawValue {
	return bson.RawValue{Type: bson.TypeString, Value: bsoncore.AppendString(nil, s)}
}

func nullish(v bson.RawValue) bool {
	return v.Type == 0 || v.Type == bson.TypeNull || v.Type == bson.TypeUndefined
}

// comparison is $eq $ne $gt $gte $lt $lte and $cmp, by the command's collation.
func comparison(p *exprParser, name string, arg bson.RawValue) (expr, error) {
	return nary(2, func(c *evalCtx, name string, v []bson.RawValue) (bson.RawValue, error) {
		r := c.env.collation().Compare(v[0], v[1])
		switch name {
		case "$cmp":
			return int32Value(int32(r)), nil
		case "$eq":
			return boolValue(r == 0), nil
		case "$ne":
			return boolValue(r != 0), nil
		case "$gt":
			return boolValue(r > 0), nil
		case "$gte":
			return boolValue(r >= 0), nil
		case "$lt":
			return boolValue(r < 0), nil
		}
		return boolValue(r <= 0), nil
	})(p, name, arg)
}

// logicalExpr is $and or $or, which stop at the first operand that decides.
type logicalExpr struct {
	or   bool
	args []expr
}

func logical(p *exprParser, name string, arg bson.RawValue) (expr, error) {
	args, err := p.args(arg)
	return logicalExpr{or: name == "$or", args: args}, err
}

func (e logicalExpr) eval(c *evalCtx) (bson.RawValue, error) {
	for _, a := range e.args {
		v, err := a.eval(c)
		if err != nil {
			return missing, err
		}
		if trueValue(v) == e.or {
			return boolValue(e.or), nil
		}
	}
	return boolValue(!e.or), nil
}

func evalNot(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	return boolValue(!trueValue(v[0])), nil
}

// condExpr is $cond (also the branches of $switch): then when cond holds, otherwise els.
type condExpr struct{ cond, then, els expr }

func (e condExpr) eval(c *evalCtx) (bson.RawValue, error) {
	v, err := e.cond.eval(c)
	if err != nil {
		return missing, err
	}
	if trueValue(v) {
		return e.then.eval(c)
	}
	return e.els.eval(c)
}

func parseCond(p *exprParser, _ string, arg bson.RawValue) (expr, error) {
	if !isDoc(arg) {
		args, err := p.args(arg)
		if err != nil {
			return nil, err
		}
		if len(args) != 3 {
			return nil, errorf(16020, "Expression $cond takes exactly 3 arguments. %d were passed in.", len(args))
		}
		return condExpr{args[0], args[1], args[2]}, nil
	}
	parts := map[string]expr{}
	it := newIter(arg.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch key := string(k); key {
		case "if", "then", "else":
			e, err := p.parse(v)
			if err != nil {
				return nil, err
			}
			parts[key] = e
		default:
			return nil, errorf(17083, "Unrecognized parameter to $cond: %s", key)
		}
	}
	for i, key := range []string{"if", "then", "else"} {
		if parts[key] == nil {
			return nil, errorf(mongoerr.Code(17080+i), "Missing '%s' parameter to $cond", key)
		}
	}
	return condExpr{parts["if"], parts["then"], parts["else"]}, nil
}

// ifNullExpr is the first operand that is neither null nor missing, else the last one.
type ifNullExpr []expr

func parseIfNull(p *exprParser, _ string, arg bson.RawValue) (expr, error) {
	args, err := p.args(arg)
	if err != nil {
		return nil, err
	}
	if len(args) < 2 {
		return nil, errorf(1257300, "$ifNull needs at least two arguments, had: %d", len(args))
	}
	return ifNullExpr(args), nil
}

func (e ifNullExpr) eval(c *evalCtx) (bson.RawValue, error) {
	for i, a := range e {
		v, err := a.eval(c)
		if err != nil || i == len(e)-1 || !nullish(v) {
			return v, err
		}
	}
	return missing, nil
}

// switchExpr is $switch: the first branch whose case holds, else the default.
type switchExpr struct {
	branches []condExpr
	def      expr
}

func parseSwitch(p *exprParser, _ string, arg bson.RawValue) (expr, error) {
	if !isDoc(arg) {
		return nil, errorf(40060, "$switch requires an object as an argument, found: %s", typeName(arg.Type))
	}
	var s switchExpr
	it := newIter(arg.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch string(k) {
		case "branches":
			if v.Type != bson.TypeArray {
				return nil, errorf(40061, "$switch expected an array for 'branches', found: %s", typeName(v.Type))
			}
			for _, b := range values(v) {
				br, err := p.parseBranch(b)
				if err != nil {
					return nil, err
				}
				s.branches = append(s.branches, br)
			}
		case "default":
			e, err := p.parse(v)
			if err != nil {
				return nil, err
			}
			s.def = e
		default:
			return nil, errorf(40067, "$switch found an unknown argument: %s", k)
		}
	}
	if len(s.branches) == 0 {
		return nil, errorf(40068, "$switch requires at least one branch.")
	}
	return s, nil
}

func (p *exprParser) parseBranch(b bson.RawValue) (condExpr, error) {
	if !isDoc(b) {
		return condExpr{}, errorf(40062, "$switch expected each branch to be an object, found: %s", typeName(b.Type))
	}
	var br condExpr
	it := newIter(b.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		e, err := p.parse(v)
		if err != nil {
			return br, err
		}
		switch string(k) {
		case "case":
			br.cond = e
		case "then":
			br.then = e
		default:
			return br, errorf(40063, "$switch found an unknown argument to a branch: %s", k)
		}
	}
	switch {
	case br.cond == nil:
		return br, errorf(40064, "$switch requires each branch have a 'case' expression")
	case br.then == nil:
		return br, errorf(40065, "$switch requires each branch have a 'then' expression.")
	}
	return br, nil
}

func (e switchExpr) eval(c *evalCtx) (bson.RawValue, error) {
	for _, b := range e.branches {
		v, err := b.cond.eval(c)
		if err != nil {
			return missing, err
		}
		if trueValue(v) {
			return b.then.eval(c)
		}
	}
	if e.def == nil {
		return missing, errorf(40066, "$switch could not find a matching branch for an input, and no default was specified.")
	}
	return e.def.eval(c)
}

// letExpr is $let: variables bound for the evaluation of in.
type letExpr struct {
	names []string
	vals  []expr
	in    expr
}

func parseLet(p *exprParser, _ string, arg bson.RawValue) (expr, error) {
	if !isDoc(arg) {
		return nil, errorf(16874, "$let only supports an object as its argument")
	}
	var l letExpr
	var vars, in bson.RawValue
	it := newIter(arg.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch string(k) {
		case "vars":
			vars = v
		case "in":
			in = v
		default:
			return nil, errorf(16875, "Unrecognized parameter to $let: %s", k)
		}
	}
	switch {
	case vars.Type == 0:
		return nil, errorf(16876, "Missing 'vars' parameter to $let")
	case in.Type == 0:
		return nil, errorf(16877, "Missing 'in' parameter to $let")
	case !isDoc(vars):
		return nil, errorf(mongoerr.Code(10065), "invalid parameter: expected an object (vars)")
	}
	vi := newIter(vars.Value)
	for k, v, ok := vi.next(); ok; k, v, ok = vi.next() {
		if err := checkUserVariable(string(k)); err != nil {
			return nil, err
		}
		e, err := p.parse(v) // evaluated outside the new scope
		if err != nil {
			return nil, err
		}
		l.names, l.vals = append(l.names, string(k)), append(l.vals, e)
	}
	body, err := p.with(l.names...).parse(in)
	if err != nil {
		return nil, err
	}
	l.in = body
	return l, nil
}

func (e letExpr) eval(c *evalCtx) (bson.RawValue, error) {
	inner := c
	for i, v := range e.vals {
		val, err := v.eval(c)
		if err != nil {
			return missing, err
		}
		inner = inner.bind(e.names[i], val)
	}
	return e.in.eval(inner)
}

func evalConcat(_ *evalCtx, _ string, vals []bson.RawValue) (bson.RawValue, error) {
	var sb strings.Builder
	for _, v := range vals {
		if nullish(v) {
			return nullValue, nil
		}
		s, ok := strBytes(v)
		if v.Type != bson.TypeString || !ok {
			return missing, errorf(16702, "$concat only supports strings, not %s", typeName(v.Type))
		}
		sb.Write(s)
	}
	return stringValue(sb.String()), nil
}

// caseMapper is $toLower or $toUpper: null and missing become "", numbers their text.
func caseMapper(mapping func(string) string) evalFn {
	return func(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
		switch x := v[0]; {
		case nullish(x):
			return stringValue(""), nil
		case x.Type == bson.TypeString || x.Type == bson.TypeSymbol:
			s, _ := strBytes(x)
			return stringValue(mapping(string(s))), nil
		case isNumber(x) || x.Type == bson.TypeDateTime || x.Type == bson.TypeTimestamp:
			return stringValue(mapping(formatValue(x))), nil
		default:
			return missing, errorf(16007, "can't convert from BSON type %s to String", typeName(x.Type))
		}
	}
}

func typeNameOrMissing(v bson.RawValue) string {
	if v.Type == 0 {
		return "missing"
	}
	return typeName(v.Type)
}

func evalSize(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	if v[0].Type != bson.TypeArray {
		return missing, errorf(17124, "The argument to $size must be an array. Type of the argument was: %s", typeNameOrMissing(v[0]))
	}
	return int32Value(int32(len(values(v[0])))), nil
}

func evalIn(c *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	if v[1].Type != bson.TypeArray {
		return missing, errorf(40081, "$in requires an array as a second argument, found: %s", typeNameOrMissing(v[1]))
	}
	for _, e := range values(v[1]) {
		if c.env.collation().Compare(v[0], e) == 0 {
			return boolValue(true), nil
		}
	}
	return boolValue(false), nil
}

func evalArrayElemAt(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	arr, at := v[0], v[1]
	switch {
	case nullish(arr) || nullish(at):
		return nullValue, nil
	case arr.Type != bson.TypeArray:
		return missing, errorf(28689, "$arrayElemAt's first argument must be an array, but is %s", typeName(arr.Type))
	case !isNumber(at):
		return missing, errorf(28690, "$arrayElemAt's second argument must be a numeric value, but is %s", typeName(at.Type))
	}
	i, ok := integer(at)
	if !ok || i != int64(int32(i)) {
		return missing, errorf(28691, "$arrayElemAt's second argument must be representable as a 32-bit integer: %s", formatValue(at))
	}
	elems := values(arr)
	if i < 0 {
		i += int64(len(elems))
	}
	if i < 0 || i >= int64(len(elems)) {
		return missing, nil
	}
	return elems[i], nil
}

func evalIsArray(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	return boolValue(v[0].Type == bson.TypeArray), nil
}

func evalConcatArrays(_ *evalCtx, _ string, vals []bson.RawValue) (bson.RawValue, error) {
	var out []bson.RawValue
	for _, v := range vals {
		if nullish(v) {
			return nullValue, nil
		}
		if v.Type != bson.TypeArray {
			return missing, errorf(28664, "$concatArrays only supports arrays, not %s", typeName(v.Type))
		}
		out = append(out, values(v)...)
	}
	return arrayValue(out), nil
}

func evalType(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	return stringValue(typeNameOrMissing(v[0])), nil
}

// evalToHashedIndexKey is a value's hashed-index key, a missing one's as null's
// (ExpressionToHashedIndexKey, expression.cpp): the hash a {f: "hashed"} index and a hashed shard
// key use.
func evalToHashedIndexKey(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	x := v[0]
	if x.Type == 0 {
		x = nullValue
	}
	h, err := hashkey.Hash(bsoncore.Value{Type: bsoncore.Type(x.Type), Data: x.Value})
	if err != nil {
		return missing, err
	}
	return int64Value(h), nil
}

// randExpr is $rand: a double in [0, 1), drawn anew for each evaluation.
type randExpr struct{}

func parseRand(_ *exprParser, _ string, arg bson.RawValue) (expr, error) {
	if body, _ := docBody(arg.Value); !isDoc(arg) || len(body) > 0 {
		return nil, errorf(3040501, "$rand does not currently accept arguments")
	}
	return randExpr{}, nil
}

func (randExpr) eval(*evalCtx) (bson.RawValue, error) { return doubleValue(rand.Float64()), nil }
