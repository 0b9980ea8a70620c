package query

import (
	"math"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// groupStage is $group: documents grouped by the _id expression, one output document per group
// (in order of first appearance) with the accumulated fields.
type groupStage struct {
	env  *Env
	id   expr
	accs []accSpec
}

type accSpec struct {
	name, op string
	arg      expr
}

var accumulators = map[string]bool{
	"$sum": true, "$count": true, "$avg": true, "$min": true, "$max": true,
	"$first": true, "$last": true, "$push": true, "$addToSet": true,
}

func (env *Env) parseGroup(v bson.RawValue) (stage, error) {
	if !isDoc(v) {
		return nil, errorf(15947, "a group's fields must be specified in an object")
	}
	g := &groupStage{env: env}
	p := &exprParser{env: env}
	it := newIter(v.Value)
	for k, f, ok := it.next(); ok; k, f, ok = it.next() {
		name := string(k)
		if name == "_id" {
			e, err := p.parse(f)
			if err != nil {
				return nil, err
			}
			g.id = e
			continue
		}
		acc, err := p.parseAccumulator(name, f)
		if err != nil {
			return nil, err
		}
		g.accs = append(g.accs, acc)
	}
	if g.id == nil {
		return nil, errorf(15955, "a group specification must include an _id")
	}
	return g, nil
}

func (p *exprParser) parseAccumulator(name string, f bson.RawValue) (accSpec, error) {
	switch {
	case strings.Contains(name, "."):
		return accSpec{}, errorf(40235, "The field name '%s' cannot contain '.'", name)
	case strings.HasPrefix(name, "$"):
		return accSpec{}, errorf(15950, "The field name '%s' cannot be an operator name", name)
	case !isDoc(f):
		return accSpec{}, errorf(40234, "The field '%s' must be an accumulator object", name)
	}
	it := newIter(f.Value)
	op, arg, ok := it.next()
	if _, _, more := it.next(); !ok || more {
		return accSpec{}, errorf(40238, "The field '%s' must specify one accumulator", name)
	}
	if !accumulators[string(op)] {
		if strings.HasPrefix(string(op), "$") && len(op) > 1 {
			return accSpec{}, errorf(15952, "unknown group operator '%s'", op)
		}
		return accSpec{}, errorf(40238, "The field '%s' must specify one accumulator", name)
	}
	if string(op) == "$count" {
		if body, _ := docBody(arg.Value); !isDoc(arg) || len(body) > 0 {
			return accSpec{}, errorf(mongoerr.FailedToParse, "$count takes no arguments, i.e. $count:{}")
		}
		return accSpec{name: name, op: "$sum", arg: constExpr{int32Value(1)}}, nil
	}
	e, err := p.parse(arg)
	if err != nil {
		return accSpec{}, err
	}
	return accSpec{name: name, op: string(op), arg: e}, nil
}

type group struct {
	id   bson.RawValue
	accs []accumulator
}

func (g *groupStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	index := map[string]*group{}
	var order []*group
	coll := g.env.collation()
	for _, d := range docs {
		id, err := evalDoc(g.id, d, g.env)
		if err != nil {
			return nil, err
		}
		if id.Type == 0 {
			id = nullValue
		}
		key := coll.IndexKey(id)
		grp := index[key]
		if grp == nil {
			grp = &group{id: id}
			for _, a := range g.accs {
				grp.accs = append(grp.accs, newAccumulator(a.op, coll))
			}
			index[key] = grp
			order = append(order, grp)
		}
		for i, a := range g.accs {
			v, err := evalDoc(a.arg, d, g.env)
			if err != nil {
				return nil, err
			}
			grp.accs[i].add(v, v.Type != 0)
		}
	}
	out := make([]bson.Raw, 0, len(order))
	for _, grp := range order {
		idx, dst := bsoncore.AppendDocumentStart(nil)
		dst = appendValue(dst, "_id", grp.id)
		for i, a := range g.accs {
			dst = appendValue(dst, a.name, grp.accs[i].result())
		}
		dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
		out = append(out, dst)
	}
	return out, nil
}

type accumulator interface {
	add(v bson.RawValue, present bool)
	result() bson.RawValue
}

func newAccumulator(op string, coll *Collation) accumulator {
	switch op {
	case "$sum":
		return &sumAcc{}
	case "$avg":
		return &sumAcc{avg: true}
	case "$min":
		return &extremeAcc{sign: -1, coll: coll}
	case "$max":
		return &extremeAcc{sign: 1, coll: coll}
	case "$first":
		return &firstLastAcc{}
	case "$last":
		return &firstLastAcc{last: true}
	case "$push":
		return &pushAcc{}
	}
	return &pushAcc{set: map[string]bool{}, coll: coll} // $addToSet
}

// sumAcc sums numbers (others are ignored) with the server's result types: int32 while every
// input and the total fit, int64 past that, double once a double (or decimal) is involved.
type sumAcc struct {
	avg     bool
	n       int64
	ints    int64
	floats  float64
	long    bool // an int64 input or an int32 overflow
	double  bool // a double input or an int64 overflow
	decimal bool
}

func (a *sumAcc) add(v bson.RawValue, present bool) {
	num, ok := numberOf(v)
	if !present || !ok {
		return
	}
	a.n++
	switch v.Type {
	case bson.TypeInt64:
		a.long = true
	case bson.TypeDouble:
		a.double = true
	case bson.TypeDecimal128:
		a.decimal = true
	}
	if !num.isInt {
		a.floats += num.f
		return
	}
	if s := a.ints + num.i; (num.i > 0 && s < a.ints) || (num.i < 0 && s > a.ints) {
		a.floats += float64(a.ints) + float64(num.i) // int64 overflow: continue in doubles
		a.ints, a.double = 0, true
	} else {
		a.ints = s
	}
}

func (a *sumAcc) result() bson.RawValue {
	total := float64(a.ints) + a.floats
	switch {
	case a.avg && a.n == 0:
		return nullValue
	case a.avg:
		return a.floatResult(total / float64(a.n))
	case a.decimal || a.double:
		return a.floatResult(total)
	case a.long || a.ints > math.MaxInt32 || a.ints < math.MinInt32:
		return int64Value(a.ints)
	}
	return int32Value(int32(a.ints))
}

func (a *sumAcc) floatResult(f float64) bson.RawValue {
	if a.decimal {
		return decimalValue(f)
	}
	return doubleValue(f)
}

// extremeAcc is $min (sign -1) or $max (sign 1); missing and null values are ignored.
type extremeAcc struct {
	sign int
	coll *Collation
	best bson.RawValue
}

func (a *extremeAcc) add(v bson.RawValue, present bool) {
	if !present || v.Type == bson.TypeNull || v.Type == bson.TypeUndefined {
		return
	}
	if a.best.Type == 0 || a.coll.Compare(v, a.best)*a.sign > 0 {
		a.best = v
	}
}

func (a *extremeAcc) result() bson.RawValue {
	if a.best.Type == 0 {
		return nullValue
	}
	return a.best
}

type firstLastAcc struct {
	last bool
	seen bool
	v    bson.RawValue
}

func (a *firstLastAcc) add(v bson.RawValue, present bool) {
	if a.seen && !a.last {
		return
	}
	a.seen = true
	a.v = v
	if !present {
		a.v = nullValue
	}
}

func (a *firstLastAcc) result() bson.RawValue {
	if !a.seen {
		return nullValue
	}
	return a.v
}

// pushAcc is $push, or $addToSet when set is non-nil; missing values are skipped.
type pushAcc struct {
	vals []bson.RawValue
	set  map[string]bool
	coll *Collation
}

func (a *pushAcc) add(v bson.RawValue, present bool) {
	if !present {
		return
	}
	if a.set != nil {
		k := a.coll.IndexKey(v)
		if a.set[k] {
			return
		}
		a.set[k] = true
	}
	a.vals = append(a.vals, v)
}

func (a *pushAcc) result() bson.RawValue { return arrayValue(a.vals) }
