package query

import (
	"math"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The filter operators beyond comparison: $expr, $type and $mod (expression_parser.cpp,
// matcher_type_set.cpp, expression_leaf.cpp).

// exprM is {$expr: e}: the document matches when e is true for it.
type exprM struct {
	e      expr
	env    *Env
	failed *error
}

func (fp *filterParser) parseExprMatch(v bson.RawValue) (matcher, error) {
	e, err := (&exprParser{env: fp.env}).parse(v)
	if err != nil {
		return nil, err
	}
	if fp.failed == nil {
		fp.failed = new(error)
	}
	return exprM{e: e, env: fp.env, failed: fp.failed}, nil
}

func (m exprM) matches(doc []byte) bool {
	v, err := evalDoc(m.e, doc, m.env)
	if err != nil {
		if *m.failed == nil {
			*m.failed = err
		}
		return false
	}
	return trueValue(v)
}

// typeAliases are the names $type accepts (bsontypes.cpp's alias map); "number" is any number.
var typeAliases = map[string]bson.Type{
	"double": bson.TypeDouble, "string": bson.TypeString, "object": bson.TypeEmbeddedDocument,
	"array": bson.TypeArray, "binData": bson.TypeBinary, "undefined": bson.TypeUndefined,
	"objectId": bson.TypeObjectID, "bool": bson.TypeBoolean, "date": bson.TypeDateTime,
	"null": bson.TypeNull, "regex": bson.TypeRegex, "dbPointer": bson.TypeDBPointer,
	"javascript": bson.TypeJavaScript, "symbol": bson.TypeSymbol,
	"javascriptWithScope": bson.TypeCodeWithScope, "int": bson.TypeInt32, "timestamp": bson.TypeTimestamp,
	"long": bson.TypeInt64, "decimal": bson.TypeDecimal128, "minKey": bson.TypeMinKey, "maxKey": bson.TypeMaxKey,
}

// typeP matches values of the listed types (allNumbers: any number).
type typeP struct {
	types      []bson.Type
	allNumbers bool
}

func parseType(v bson.RawValue) (*typeP, error) {
	p := &typeP{}
	elems := []bson.RawValue{v}
	if v.Type == bson.TypeArray {
		elems = values(v)
	}
	for _, e := range elems {
		if err := p.add(e); err != nil {
			return nil, err
		}
	}
	if len(p.types) == 0 && !p.allNumbers {
		return nil, errorf(mongoerr.FailedToParse, "$type must match at least one type")
	}
	return p, nil
}

func (p *typeP) add(e bson.RawValue) error {
	if e.Type == bson.TypeString {
		s, _ := strBytes(e)
		if string(s) == "number" {
			p.allNumbers = true
			return nil
		}
		t, ok := typeAliases[string(s)]
		if !ok {
			return errorf(mongoerr.BadValue, "Unknown type name alias: %s", s)
		}
		p.types = append(p.types, t)
		return nil
	}
	n, ok := numberOf(e)
	if !ok {
		return errorf(mongoerr.TypeMismatch, "type must be represented as a number or a string")
	}
	code, whole := integer(e)
	t := bson.Type(code)
	if !whole || code != int64(int8(code)) || typeRank(t) == rankUnknown || code == 0 {
		return errorf(mongoerr.BadValue, "Invalid numerical type code: %s", formatValue(numberValue(n)))
	}
	p.types = append(p.types, t)
	return nil
}

func numberValue(n number) bson.RawValue {
	if n.isInt {
		return int64Value(n.i)
	}
	return doubleValue(n.f)
}

func (p *typeP) visit(x bson.RawValue) bool {
	if x.Type == 0 {
		return false
	}
	if p.allNumbers && isNumber(x) {
		return true
	}
	for _, t := range p.types {
		if x.Type == t {
			return true
		}
	}
	return false
}

// modP matches numbers whose integer part divided by divisor leaves remainder.
type modP struct{ divisor, remainder int64 }

func parseMod(v bson.RawValue) (*modP, error) {
	if v.Type != bson.TypeArray {
		return nil, errorf(mongoerr.BadValue, "malformed mod, needs to be an array")
	}
	elems := values(v)
	switch {
	case len(elems) < 2:
		return nil, errorf(mongoerr.BadValue, "malformed mod, not enough elements")
	case len(elems) > 2:
		return nil, errorf(mongoerr.BadValue, "malformed mod, too many elements")
	case !isNumber(elems[0]):
		return nil, errorf(mongoerr.BadValue, "malformed mod, divisor not a number")
	case !isNumber(elems[1]):
		return nil, errorf(mongoerr.BadValue, "malformed mod, remainder not a number")
	}
	d, r := truncated(elems[0]), truncated(elems[1])
	if d == 0 {
		return nil, errorf(mongoerr.BadValue, "divisor cannot be 0")
	}
	return &modP{d, r}, nil
}

// truncated is a number's integer part as mongod's numberLong gives it (NaN is 0, and
// out-of-range values saturate).
func truncated(v bson.RawValue) int64 {
	n, _ := numberOf(v)
	switch {
	case n.isInt:
		return n.i
	case math.IsNaN(n.f):
		return 0
	case n.f >= math.MaxInt64:
		return math.MaxInt64
	case n.f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(n.f)
}

func (p *modP) visit(x bson.RawValue) bool {
	if !isNumber(x) {
		return false
	}
	if n, _ := numberOf(x); !n.isInt && (math.IsNaN(n.f) || math.IsInf(n.f, 0)) {
		return false
	}
	if p.divisor == -1 {
		return p.remainder == 0
	}
	return truncated(x)%p.divisor == p.remainder
}
