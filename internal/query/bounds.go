package query

import (
	"math"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Index bounds (index_bounds_builder.cpp): the key values of one index field that documents
// matching a filter can have, as intervals. Ranges are bracketed by type, as comparisons are.

// Interval is a range of key values: Low and High (zero Type: open to the end of the type
// bracket, or of all values when Bracket is 0), each end inclusive or not.
type Interval struct {
	Low, High         bson.RawValue
	LowIncl, HighIncl bool
	Bracket           int // the type rank the interval is confined to; 0: none
}

// FullInterval is [MinKey, MaxKey]: every key.
var FullInterval = Interval{LowIncl: true, HighIncl: true}

// Before reports whether v sorts below the interval.
func (iv Interval) Before(v bson.RawValue) bool {
	if iv.Bracket != 0 && typeRank(v.Type) != iv.Bracket {
		return typeRank(v.Type) < iv.Bracket
	}
	if iv.Low.Type == 0 {
		return false
	}
	c := Compare(v, iv.Low)
	return c < 0 || c == 0 && !iv.LowIncl
}

// After reports whether v sorts above the interval.
func (iv Interval) After(v bson.RawValue) bool {
	if iv.Bracket != 0 && typeRank(v.Type) != iv.Bracket {
		return typeRank(v.Type) > iv.Bracket
	}
	if iv.High.Type == 0 {
		return false
	}
	c := Compare(v, iv.High)
	return c > 0 || c == 0 && !iv.HighIncl
}

// Contains reports whether v is in the interval.
func (iv Interval) Contains(v bson.RawValue) bool { return !iv.Before(v) && !iv.After(v) }

// IsPoint reports whether the interval is one value.
func (iv Interval) IsPoint() bool {
	return iv.LowIncl && iv.HighIncl && iv.Low.Type != 0 && iv.High.Type != 0 && Compare(iv.Low, iv.High) == 0
}

// String is the interval as explain shows it, e.g. [1, 1], (5, inf.0], [MinKey, MaxKey];
// reversed for a descending scan of the field.
func (iv Interval) String(descending bool) string {
	lo, hi := boundText(iv.Low, iv.Bracket, false), boundText(iv.High, iv.Bracket, true)
	open, close := "(", ")"
	if iv.LowIncl {
		open = "["
	}
	if iv.HighIncl {
		close = "]"
	}
	if descending {
		lo, hi = hi, lo
		open, close = strings.NewReplacer("]", "[", ")", "(").Replace(close), strings.NewReplacer("[", "]", "(", ")").Replace(open)
	}
	return open + lo + ", " + hi + close
}

// boundText shows a bound; an open one as the end of its type bracket.
func boundText(v bson.RawValue, bracket int, high bool) string {
	if v.Type != 0 {
		if n, ok := numberOf(v); ok && !n.isInt && math.IsInf(n.f, 0) {
			return map[bool]string{true: "inf.0", false: "-inf.0"}[n.f > 0]
		}
		return formatValue(v)
	}
	switch {
	case bracket == rankNumber && high:
		return "inf.0"
	case bracket == rankNumber:
		return "-inf.0"
	case bracket == rankString && high:
		return "{}"
	case bracket == rankString:
		return `""`
	case high:
		return "MaxKey"
	}
	return "MinKey"
}

// Bounds returns the intervals (sorted, disjoint) of the values of path that a document
// matching f can have, from the equalities, $in lists and ranges of the filter's top-level
// conjunction; false when the filter does not bound path. Predicates that compare strings by a
// collation do not bound a simple-collation index. On a multikey index two ranges of one field
// are not intersected (one element may satisfy each), so only the first is used.
func (f *Filter) Bounds(path string, multikey bool) ([]Interval, bool) {
	var preds []pred
	collect(f.root, path, &preds)
	var out []Interval
	found := false
	for _, p := range preds {
		ivs, ok := predIntervals(p)
		if !ok {
			continue
		}
		if !found {
			out, found = ivs, true
			continue
		}
		if !multikey {
			out = intersect(out, ivs)
		}
	}
	return out, found
}

// collect gathers the predicates on path in m's top-level conjunction.
func collect(m matcher, path string, out *[]pred) {
	switch m := m.(type) {
	case andM:
		for _, c := range m {
			collect(c, path, out)
		}
	case *fieldM:
		if strings.Join(m.path, ".") == path {
			*out = append(*out, m.p)
		}
	}
}

func predIntervals(p pred) ([]Interval, bool) {
	switch p := p.(type) {
	case *eqP:
		if !indexable(p.v, p.coll) {
			return nil, false
		}
		return []Interval{point(p.v)}, true
	case *inP:
		if len(p.res) > 0 || len(p.vals) == 0 {
			return nil, false
		}
		var out []Interval
		for _, v := range p.vals {
			if !indexable(v, p.coll) {
				return nil, false
			}
			out = append(out, point(v))
		}
		slices.SortFunc(out, func(a, b Interval) int { return Compare(a.Low, b.Low) })
		return slices.CompactFunc(out, func(a, b Interval) bool { return Compare(a.Low, b.Low) == 0 }), true
	case *cmpP:
		if !indexable(p.v, p.coll) || p.v.Type == bson.TypeNull {
			return nil, false
		}
		return []Interval{rangeOf(p.op, p.v)}, true
	}
	return nil, false
}

// indexable: arrays and documents match through their elements too, and strings compared by
// a collation are not ordered as a simple-collation index orders them.
func indexable(v bson.RawValue, coll *Collation) bool {
	switch v.Type {
	case bson.TypeArray, bson.TypeEmbeddedDocument, bson.TypeRegex, bson.TypeMinKey, bson.TypeMaxKey:
		return false
	case bson.TypeString, bson.TypeSymbol:
		return coll == nil
	}
	return true
}

func point(v bson.RawValue) Interval {
	return Interval{Low: v, High: v, LowIncl: true, HighIncl: true}
}

// rangeOf is the interval of $gt/$gte/$lt/$lte v, within v's type bracket.
func rangeOf(op string, v bson.RawValue) Interval {
	iv := Interval{Bracket: typeRank(v.Type), LowIncl: true, HighIncl: true}
	if iv.Bracket == rankNumber {
		iv.Low, iv.High = doubleValue(math.Inf(-1)), doubleValue(math.Inf(1))
	}
	if iv.Bracket == rankString {
		iv.HighIncl = false
	}
	switch op {
	case "$gt", "$gte":
		iv.Low, iv.LowIncl = v, op == "$gte"
	default:
		iv.High, iv.HighIncl = v, op == "$lte"
	}
	return iv
}

// intersect is the intersection of two sorted interval lists.
func intersect(a, b []Interval) []Interval {
	var out []Interval
	for _, x := range a {
		for _, y := range b {
			if iv, ok := intersectOne(x, y); ok {
				out = append(out, iv)
			}
		}
	}
	return out
}

func intersectOne(x, y Interval) (Interval, bool) {
	if x.Bracket != 0 && y.Bracket != 0 && x.Bracket != y.Bracket {
		return Interval{}, false
	}
	iv := x
	if iv.Bracket == 0 {
		iv.Bracket = y.Bracket
	}
	if y.Low.Type != 0 && (iv.Low.Type == 0 || tighterLow(y.Low, y.LowIncl, iv.Low, iv.LowIncl)) {
		iv.Low, iv.LowIncl = y.Low, y.LowIncl
	}
	if y.High.Type != 0 && (iv.High.Type == 0 || tighterHigh(y.High, y.HighIncl, iv.High, iv.HighIncl)) {
		iv.High, iv.HighIncl = y.High, y.HighIncl
	}
	if iv.Low.Type != 0 && iv.High.Type != 0 {
		c := Compare(iv.Low, iv.High)
		if c > 0 || c == 0 && !(iv.LowIncl && iv.HighIncl) {
			return Interval{}, false
		}
	}
	if iv.Bracket != 0 && (iv.Low.Type != 0 && typeRank(iv.Low.Type) != iv.Bracket ||
		iv.High.Type != 0 && typeRank(iv.High.Type) != iv.Bracket) {
		return Interval{}, false
	}
	return iv, true
}

func tighterLow(a bson.RawValue, aIncl bool, b bson.RawValue, bIncl bool) bool {
	c := Compare(a, b)
	return c > 0 || c == 0 && !aIncl && bIncl
}

func tighterHigh(a bson.RawValue, aIncl bool, b bson.RawValue, bIncl bool) bool {
	c := Compare(a, b)
	return c < 0 || c == 0 && !aIncl && bIncl
}

// BoundsArray is explain's indexBounds entry of one field: its intervals as text, reversed
// for a descending scan of the field.
func BoundsArray(ivs []Interval, descending bool) bsoncore.Array {
	b := bsoncore.NewArrayBuilder()
	for i := range ivs {
		iv := ivs[i]
		if descending {
			iv = ivs[len(ivs)-1-i]
		}
		b.AppendString(iv.String(descending))
	}
	return b.Build()
}

// Paths lists the paths the filter's top-level conjunction constrains, in filter order.
func (f *Filter) Paths() []string {
	var out []string
	var walk func(m matcher)
	walk = func(m matcher) {
		switch m := m.(type) {
		case andM:
			for _, c := range m {
				walk(c)
			}
		case *fieldM:
			if p := strings.Join(m.path, "."); !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	walk(f.root)
	return out
}

// Within reports whether every interval of inner lies inside one interval of outer.
func Within(inner, outer []Interval) bool {
	for _, iv := range inner {
		if !slices.ContainsFunc(outer, func(o Interval) bool { return inside(iv, o) }) {
			return false
		}
	}
	return true
}

func inside(iv, o Interval) bool {
	if o.Bracket != 0 && iv.Bracket != o.Bracket && !(iv.IsPoint() && typeRank(iv.Low.Type) == o.Bracket) {
		return false
	}
	return endInside(iv.Low, iv.LowIncl, o.Low, o.LowIncl, -1) && endInside(iv.High, iv.HighIncl, o.High, o.HighIncl, 1)
}

// endInside reports whether an interval end (side -1 low, 1 high) is within the outer one's.
func endInside(v bson.RawValue, incl bool, outer bson.RawValue, outerIncl bool, side int) bool {
	switch {
	case outer.Type == 0:
		return true
	case v.Type == 0:
		return false
	}
	c := Compare(v, outer) * side
	return c < 0 || c == 0 && (outerIncl || !incl)
}

// IsFull reports whether the interval is [MinKey, MaxKey].
func (iv Interval) IsFull() bool {
	return iv.Low.Type == 0 && iv.High.Type == 0 && iv.Bracket == 0
}
