package query

import (
	"math"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Aggregation arithmetic with mongod's result types: int while the operands are ints and the
// result fits, then long, double when a double is involved or a long overflows, decimal when a
// decimal is (computed through doubles, as the rest of memshard does). Null or missing
// operands give null.

type numKind int

const (
	kindInt numKind = iota
	kindLong
	kindDouble
	kindDecimal
)

func kindOf(t bson.Type) numKind {
	switch t {
	case bson.TypeInt64:
		return kindLong
	case bson.TypeDouble:
		return kindDouble
	case bson.TypeDecimal128:
		return kindDecimal
	}
	return kindInt
}

// total accumulates a sum or product exactly while it stays integral, and as a double too.
type total struct {
	kind    numKind
	i       int64
	f       float64
	inexact bool // a non-integral operand or an integer overflow: only f holds the result
}

func (t *total) add(n number, k numKind, mul bool) {
	t.kind = max(t.kind, k)
	if mul {
		t.f *= n.float()
	} else {
		t.f += n.float()
	}
	if !n.isInt || t.inexact {
		t.inexact = t.inexact || !n.isInt
		return
	}
	if mul {
		r := t.i * n.i
		if t.i != 0 && (r/t.i != n.i || (t.i == -1 && n.i == math.MinInt64)) {
			t.inexact = true
		}
		t.i = r
		return
	}
	r := t.i + n.i
	if (n.i > 0 && r < t.i) || (n.i < 0 && r > t.i) {
		t.inexact = true
	}
	t.i = r
}

func (t *total) value() bson.RawValue {
	switch {
	case t.kind == kindDecimal:
		return decimalValue(t.f)
	case t.kind == kindDouble || t.inexact:
		return doubleValue(t.f)
	case t.kind == kindLong || t.i != int64(int32(t.i)):
		return int64Value(t.i)
	}
	return int32Value(int32(t.i))
}

func dateValue(ms int64) bson.RawValue {
	return bson.RawValue{Type: bson.TypeDateTime, Value: bsoncore.AppendDateTime(nil, ms)}
}

func evalAdd(_ *evalCtx, _ string, vals []bson.RawValue) (bson.RawValue, error) {
	t := total{}
	var date *int64
	for _, v := range vals {
		switch {
		case nullish(v):
			return nullValue, nil
		case v.Type == bson.TypeDateTime:
			if date != nil {
				return missing, errorf(16612, "only one date allowed in an $add expression")
			}
			ms, _ := i64(v)
			date = &ms
		case isNumber(v):
			n, _ := numberOf(v)
			t.add(n, kindOf(v.Type), false)
		default:
			return missing, errorf(16554, "$add only supports numeric or date types, not %s", typeName(v.Type))
		}
	}
	if date != nil {
		return dateValue(*date + int64(math.Round(t.f))), nil
	}
	return t.value(), nil
}

func evalMultiply(_ *evalCtx, _ string, vals []bson.RawValue) (bson.RawValue, error) {
	t := total{i: 1, f: 1}
	for _, v := range vals {
		switch {
		case nullish(v):
			return nullValue, nil
		case !isNumber(v):
			return missing, errorf(16555, "$multiply only supports numeric types, not %s", typeName(v.Type))
		}
		n, _ := numberOf(v)
		t.add(n, kindOf(v.Type), true)
	}
	return t.value(), nil
}

func evalSubtract(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	a, b := v[0], v[1]
	switch {
	case nullish(a) || nullish(b):
		return nullValue, nil
	case a.Type == bson.TypeDateTime && b.Type == bson.TypeDateTime:
		x, _ := i64(a)
		y, _ := i64(b)
		return int64Value(x - y), nil
	case a.Type == bson.TypeDateTime && isNumber(b):
		x, _ := i64(a)
		n, _ := numberOf(b)
		return dateValue(x - int64(math.Round(n.float()))), nil
	case !isNumber(a) || !isNumber(b):
		return missing, errorf(16556, "can't $subtract %s from %s", typeName(b.Type), typeName(a.Type))
	}
	x, _ := numberOf(a)
	y, _ := numberOf(b)
	t := total{}
	t.add(x, kindOf(a.Type), false)
	y.i, y.f = -y.i, -y.f
	if y.isInt && y.i == math.MinInt64 { // -MinInt64 overflows
		y = number{f: -float64(math.MinInt64)}
	}
	t.add(y, kindOf(b.Type), false)
	return t.value(), nil
}

func evalDivide(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	a, b := v[0], v[1]
	switch {
	case nullish(a) || nullish(b):
		return nullValue, nil
	case !isNumber(a) || !isNumber(b):
		return missing, errorf(16609, "$divide only supports numeric types, not %s and %s", typeName(a.Type), typeName(b.Type))
	}
	x, _ := numberOf(a)
	y, _ := numberOf(b)
	if y.float() == 0 {
		return missing, errorf(16608, "can't $divide by zero")
	}
	if a.Type == bson.TypeDecimal128 || b.Type == bson.TypeDecimal128 {
		return decimalValue(x.float() / y.float()), nil
	}
	return doubleValue(x.float() / y.float()), nil
}

func evalMod(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	a, b := v[0], v[1]
	switch {
	case nullish(a) || nullish(b):
		return nullValue, nil
	case !isNumber(a) || !isNumber(b):
		return missing, errorf(16611, "$mod only supports numeric types, not %s and %s", typeName(a.Type), typeName(b.Type))
	}
	x, _ := numberOf(a)
	y, _ := numberOf(b)
	if y.float() == 0 {
		return missing, errorf(16610, "can't $mod by zero")
	}
	kind := max(kindOf(a.Type), kindOf(b.Type))
	switch {
	case kind == kindDecimal:
		return decimalValue(math.Mod(x.float(), y.float())), nil
	case kind == kindDouble || !x.isInt || !y.isInt:
		return doubleValue(math.Mod(x.float(), y.float())), nil
	case y.i == -1:
		return int32Value(0), nil // avoids MinInt64 % -1
	case kind == kindLong:
		return int64Value(x.i % y.i), nil
	}
	return int32Value(int32(x.i % y.i)), nil
}

func evalAbs(_ *evalCtx, _ string, v []bson.RawValue) (bson.RawValue, error) {
	a := v[0]
	switch {
	case nullish(a):
		return nullValue, nil
	case !isNumber(a):
		return missing, errorf(28765, "$abs only supports numeric types, not %s", typeName(a.Type))
	}
	n, _ := numberOf(a)
	switch a.Type {
	case bson.TypeInt32:
		if n.i < 0 {
			n.i = -n.i
		}
		if n.i > math.MaxInt32 {
			return int64Value(n.i), nil
		}
		return int32Value(int32(n.i)), nil
	case bson.TypeInt64:
		if n.i == math.MinInt64 {
			return missing, errorf(28680, "can't take $abs of long long min")
		}
		if n.i < 0 {
			n.i = -n.i
		}
		return int64Value(n.i), nil
	case bson.TypeDecimal128:
		return decimalValue(math.Abs(n.f)), nil
	}
	return doubleValue(math.Abs(n.f)), nil
}
