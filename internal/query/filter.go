package query

import (
	"math"
	"regexp"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Filter is a compiled query filter.
type Filter struct {
	root   matcher // nil matches every document
	id     bson.RawValue
	isID   bool
	failed *error // where $expr records the first error it meets (nil: no $expr)
}

// filterParser compiles one filter in a command's Env.
type filterParser struct {
	env    *Env
	failed *error
}

func (fp *filterParser) coll() *Collation { return fp.env.collation() }

// NewFilter compiles a query filter without variables, by the simple collation.
func NewFilter(filter bson.Raw) (*Filter, error) { return (*Env)(nil).Filter(filter) }

// Filter compiles a query filter: implicit equality, $eq $ne $gt $gte $lt $lte $in $nin
// $exists $type $mod $size $all $elemMatch $regex $not, and top-level $and $or $nor $expr
// $comment, over dotted paths with MongoDB's array semantics, comparing strings by env's
// collation. A nil or empty filter matches every document.
func (env *Env) Filter(filter bson.Raw) (*Filter, error) {
	if len(filter) == 0 {
		return &Filter{}, nil
	}
	if !validDoc(filter) {
		return nil, errorf(mongoerr.InvalidBSON, "filter is not a valid BSON document")
	}
	fp := &filterParser{env: env}
	m, err := fp.parseFilter(filter)
	if err != nil {
		return nil, err
	}
	f := &Filter{root: m, failed: fp.failed}
	if fm, ok := m.(*fieldM); ok && len(fm.path) == 1 && fm.path[0] == "_id" {
		if eq, ok := fm.p.(*eqP); ok && eq.v.Type != bson.TypeEmbeddedDocument && eq.v.Type != bson.TypeArray &&
			(eq.coll == nil || eq.v.Type != bson.TypeString && eq.v.Type != bson.TypeSymbol) {
			f.id, f.isID = eq.v, true
		}
	}
	return f, nil
}

// Match reports whether doc satisfies the filter. It does not allocate for equality filters.
// An $expr that fails to evaluate does not match; Err reports the failure.
func (f *Filter) Match(doc bson.Raw) bool {
	return f.root == nil || f.root.matches(doc)
}

// Err is the first error an $expr of the filter met while matching, which the command that
// ran the filter must fail with, as mongod does.
func (f *Filter) Err() error {
	if f.failed == nil {
		return nil
	}
	return *f.failed
}

// IDEquality returns v when the filter is exactly {_id: v} or {_id: {$eq: v}} with v neither a
// document nor an array (nor a regex, which is a pattern match), so the caller can use its _id
// index; the caller must still treat numerically equal values alike (see IndexKey).
func (f *Filter) IDEquality() (bson.RawValue, bool) { return f.id, f.isID }

type matcher interface {
	matches(doc []byte) bool
}

type andM []matcher
type orM []matcher
type norM []matcher
type notM struct{ m matcher }

// fieldM tests the values a path reaches with a predicate.
type fieldM struct {
	path   []string
	expand bool
	p      pred
}

func (m andM) matches(doc []byte) bool {
	for _, c := range m {
		if !c.matches(doc) {
			return false
		}
	}
	return true
}

func (m orM) matches(doc []byte) bool {
	for _, c := range m {
		if c.matches(doc) {
			return true
		}
	}
	return false
}

func (m norM) matches(doc []byte) bool { return !orM(m).matches(doc) }
func (m notM) matches(doc []byte) bool { return !m.m.matches(doc) }
func (m *fieldM) matches(doc []byte) bool {
	return walkDoc(doc, m.path, m.expand, m.p)
}

func (fp *filterParser) parseFilter(doc []byte) (matcher, error) {
	var ms andM
	it := newIter(doc)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		key := string(k)
		var m matcher
		var err error
		if strings.HasPrefix(key, "$") {
			m, err = fp.parseTopLevel(key, v)
		} else {
			m, err = fp.parseField(key, v)
		}
		if err != nil {
			return nil, err
		}
		if m != nil {
			ms = append(ms, m)
		}
	}
	if len(ms) == 1 {
		return ms[0], nil
	}
	return ms, nil
}

func (fp *filterParser) parseTopLevel(name string, v bson.RawValue) (matcher, error) {
	switch name {
	case "$and", "$or", "$nor":
		if v.Type != bson.TypeArray {
			return nil, errorf(mongoerr.BadValue, "%s must be an array", name)
		}
		var subs []matcher
		for _, e := range values(v) {
			if !isDoc(e) {
				return nil, errorf(mongoerr.BadValue, "$or/$and/$nor entries need to be full objects")
			}
			m, err := fp.parseFilter(e.Value)
			if err != nil {
				return nil, err
			}
			subs = append(subs, m)
		}
		if len(subs) == 0 {
			return nil, errorf(mongoerr.BadValue, "$and/$or/$nor must be a nonempty array")
		}
		switch name {
		case "$and":
			return andM(subs), nil
		case "$or":
			return orM(subs), nil
		}
		return norM(subs), nil
	case "$comment":
		return nil, nil
	case "$ref", "$id", "$db": // DBRef fields queried at the top level are plain equalities
		return fp.parseField(name, v)
	case "$expr":
		return fp.parseExprMatch(v)
	case "$where", "$text", "$jsonSchema", "$alwaysTrue", "$alwaysFalse", "$sampleRate":
		return nil, unsupported("query operator " + name)
	}
	return nil, errorf(mongoerr.BadValue, "unknown top level operator: %s", name)
}

func (fp *filterParser) parseField(path string, v bson.RawValue) (matcher, error) {
	if isOperatorDoc(v) {
		ops, err := fp.parseOps(path, v.Value)
		if err != nil {
			return nil, err
		}
		return opsMatcher(splitPath(path), ops), nil
	}
	if v.Type == bson.TypeRegex {
		re, err := regexFromValue(v)
		if err != nil {
			return nil, err
		}
		return &fieldM{path: splitPath(path), expand: true, p: re}, nil
	}
	return &fieldM{path: splitPath(path), expand: true, p: &eqP{v, fp.coll()}}, nil
}

// fieldOp is one parsed operator of a field's operator document. Either p is set, or sub holds
// operators that must all hold ($not's operand, $all's values).
type fieldOp struct {
	p      pred
	expand bool // also test the elements of an array the path ends at
	not    bool
	sub    []fieldOp
}

func opsMatcher(path []string, ops []fieldOp) matcher {
	ms := make(andM, 0, len(ops))
	for _, op := range ops {
		var m matcher
		if op.p == nil {
			m = opsMatcher(path, op.sub)
		} else {
			m = &fieldM{path: path, expand: op.expand, p: op.p}
		}
		if op.not {
			m = notM{m}
		}
		ms = append(ms, m)
	}
	if len(ms) == 1 {
		return ms[0]
	}
	return ms
}

// opsPred turns operators into a predicate on one value ($elemMatch's value form).
func opsPred(ops []fieldOp) pred {
	ps := make(andP, 0, len(ops))
	for _, op := range ops {
		p := op.p
		if p == nil {
			p = opsPred(op.sub)
		}
		if op.not {
			p = notP{p}
		}
		ps = append(ps, p)
	}
	if len(ps) == 1 {
		return ps[0]
	}
	return ps
}

func (fp *filterParser) parseOps(path string, doc []byte) ([]fieldOp, error) {
	var ops []fieldOp
	it := newIter(doc)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		op, skip, err := fp.parseOp(path, string(k), v, doc)
		if err != nil {
			return nil, err
		}
		if !skip {
			ops = append(ops, op)
		}
	}
	return ops, nil
}

func (fp *filterParser) parseOp(path, name string, v bson.RawValue, doc []byte) (op fieldOp, skip bool, err error) {
	switch name {
	case "$eq":
		return fieldOp{p: &eqP{v, fp.coll()}, expand: true}, false, nil
	case "$ne":
		if v.Type == bson.TypeRegex {
			return op, false, errorf(mongoerr.BadValue, "Can't have regex as arg to $ne.")
		}
		return fieldOp{p: &eqP{v, fp.coll()}, expand: true, not: true}, false, nil
	case "$gt", "$gte", "$lt", "$lte":
		if v.Type == bson.TypeRegex {
			return op, false, errorf(mongoerr.BadValue, "Can't have RegEx as arg to predicate over field '%s'.", path)
		}
		return fieldOp{p: &cmpP{op: name, v: v, coll: fp.coll()}, expand: true}, false, nil
	case "$in", "$nin":
		if v.Type != bson.TypeArray {
			return op, false, errorf(mongoerr.BadValue, "%s needs an array", name)
		}
		in, err := fp.parseIn(v)
		return fieldOp{p: in, expand: true, not: name == "$nin"}, false, err
	case "$exists":
		return fieldOp{p: existsP{}, not: !trueValue(v)}, false, nil
	case "$size":
		n, err := parseSize(v)
		return fieldOp{p: sizeP{n}}, false, err
	case "$all":
		return fp.parseAll(path, v)
	case "$elemMatch":
		p, err := fp.parseElemMatch(v)
		return fieldOp{p: p}, false, err
	case "$not":
		return fp.parseNot(path, v)
	case "$regex":
		re, err := regexFromDoc(doc)
		return fieldOp{p: re, expand: true}, false, err
	case "$options":
		if _, ok := lookup(doc, "$regex"); !ok {
			return op, false, errorf(mongoerr.BadValue, "$options needs a $regex")
		}
		return op, true, nil
	case "$where":
		return op, false, errorf(mongoerr.BadValue, "$where cannot be applied to a field")
	case "$type":
		p, err := parseType(v)
		return fieldOp{p: p, expand: true}, false, err
	case "$mod":
		p, err := parseMod(v)
		return fieldOp{p: p, expand: true}, false, err
	case "$bitsAllSet", "$bitsAllClear", "$bitsAnySet", "$bitsAnyClear",
		"$geoWithin", "$geoIntersects", "$near", "$nearSphere", "$within":
		return op, false, unsupported("query operator " + name)
	}
	return op, false, errorf(mongoerr.BadValue, "unknown operator: %s", name)
}

func (fp *filterParser) parseIn(arr bson.RawValue) (*inP, error) {
	in := &inP{coll: fp.coll()}
	for _, e := range values(arr) {
		switch {
		case isOperatorDoc(e):
			return nil, errorf(mongoerr.BadValue, "cannot nest $ under $in")
		case e.Type == bson.TypeRegex:
			re, err := regexFromValue(e)
			if err != nil {
				return nil, err
			}
			in.res = append(in.res, re)
		default:
			in.vals = append(in.vals, e)
		}
	}
	return in, nil
}

func parseSize(v bson.RawValue) (int, error) {
	n, isNum := numberOf(v)
	switch {
	case !isNum || v.Type == bson.TypeDecimal128:
		return 0, errorf(mongoerr.BadValue, "$size needs a number")
	case v.Type == bson.TypeInt64 && (n.i > math.MaxInt32 || n.i < math.MinInt32):
		return 0, errorf(mongoerr.BadValue, "$size must be representable as a 32-bit integer")
	case v.Type == bson.TypeDouble && (n.f != math.Trunc(n.f) || math.Abs(n.f) > math.MaxInt32):
		return 0, errorf(mongoerr.BadValue, "$size must be a whole number")
	}
	size := int(n.i)
	if !n.isInt {
		size = int(n.f)
	}
	if size < 0 {
		return 0, errorf(mongoerr.BadValue, "$size may not be negative")
	}
	return size, nil
}

func (fp *filterParser) parseAll(path string, v bson.RawValue) (fieldOp, bool, error) {
	if v.Type != bson.TypeArray {
		return fieldOp{}, false, errorf(mongoerr.BadValue, "$all needs an array")
	}
	elems := values(v)
	if len(elems) == 0 {
		return fieldOp{p: noneP{}}, false, nil
	}
	_, firstIsElemMatch := elemMatchOperand(elems[0])
	var sub []fieldOp
	for _, e := range elems {
		if firstIsElemMatch {
			operand, ok := elemMatchOperand(e)
			if !ok {
				return fieldOp{}, false, errorf(mongoerr.BadValue, "$all/$elemMatch has to be consistent")
			}
			p, err := fp.parseElemMatch(operand)
			if err != nil {
				return fieldOp{}, false, err
			}
			sub = append(sub, fieldOp{p: p})
			continue
		}
		switch {
		case e.Type == bson.TypeRegex:
			re, err := regexFromValue(e)
			if err != nil {
				return fieldOp{}, false, err
			}
			sub = append(sub, fieldOp{p: re, expand: true})
		case isOperatorDoc(e):
			return fieldOp{}, false, errorf(mongoerr.BadValue, "no $ expressions in $all")
		default:
			sub = append(sub, fieldOp{p: &eqP{e, fp.coll()}, expand: true})
		}
	}
	return fieldOp{sub: sub}, false, nil
}

// elemMatchOperand returns x when e is {$elemMatch: x}.
func elemMatchOperand(e bson.RawValue) (bson.RawValue, bool) {
	if !isDoc(e) {
		return missing, false
	}
	it := newIter(e.Value)
	k, v, ok := it.next()
	return v, ok && string(k) == "$elemMatch"
}

func (fp *filterParser) parseElemMatch(v bson.RawValue) (pred, error) {
	if !isDoc(v) {
		return nil, errorf(mongoerr.BadValue, "$elemMatch needs an Object")
	}
	if isOperatorDoc(v) {
		it := newIter(v.Value)
		first, _, _ := it.next()
		switch string(first) {
		case "$and", "$or", "$nor", "$where", "$expr", "$comment", "$text", "$jsonSchema":
		default: // value form: operators applied to each element
			ops, err := fp.parseOps("", v.Value)
			if err != nil {
				return nil, err
			}
			return elemValP{opsPred(ops)}, nil
		}
	}
	m, err := fp.parseFilter(v.Value)
	if err != nil {
		return nil, err
	}
	return elemObjP{m}, nil
}

func (fp *filterParser) parseNot(path string, v bson.RawValue) (fieldOp, bool, error) {
	switch {
	case v.Type == bson.TypeRegex:
		re, err := regexFromValue(v)
		return fieldOp{not: true, sub: []fieldOp{{p: re, expand: true}}}, false, err
	case !isDoc(v):
		return fieldOp{}, false, errorf(mongoerr.BadValue, "$not needs a regex or a document")
	}
	if body, _ := docBody(v.Value); len(body) == 0 {
		return fieldOp{}, false, errorf(mongoerr.BadValue, "$not cannot be empty")
	}
	sub, err := fp.parseOps(path, v.Value)
	return fieldOp{not: true, sub: sub}, false, err
}

func regexFromValue(v bson.RawValue) (*regexP, error) {
	p, o, _ := regexParts(v)
	return newRegex(string(p), string(o))
}

// regexFromDoc builds the regex of an operator document holding $regex and maybe $options.
func regexFromDoc(doc []byte) (*regexP, error) {
	var pattern, options string
	it := newIter(doc)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch string(k) {
		case "$regex":
			switch v.Type {
			case bson.TypeString:
				s, _ := strBytes(v)
				pattern = string(s)
			case bson.TypeRegex:
				p, o, _ := regexParts(v)
				pattern = string(p)
				if len(o) > 0 {
					if options != "" {
						return nil, errorf(51074, "options set in both $regex and $options")
					}
					options = string(o)
				}
			default:
				return nil, errorf(mongoerr.BadValue, "$regex has to be a string")
			}
		case "$options":
			s, ok := strBytes(v)
			if v.Type != bson.TypeString || !ok {
				return nil, errorf(mongoerr.BadValue, "$options has to be a string")
			}
			if options != "" {
				return nil, errorf(51075, "options set in both $regex and $options")
			}
			options = string(s)
		}
	}
	return newRegex(pattern, options)
}

// newRegex translates a PCRE pattern and options to Go's RE2, which covers the common syntax
// (no backreferences or lookaround).
func newRegex(pattern, options string) (*regexP, error) {
	flags := ""
	for _, c := range options {
		switch c {
		case 'i', 'm', 's':
			flags += string(c)
		case 'u':
		case 'x':
			return nil, unsupported("regex option x")
		default:
			return nil, errorf(51108, "invalid flag in regex options: %c", c)
		}
	}
	expr := pattern
	if flags != "" {
		expr = "(?" + flags + ")" + pattern
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, errorf(51091, "Regular expression is invalid: %v", err)
	}
	return &regexP{re: re, pattern: pattern, options: options}, nil
}

// pred tests one value a path reached (missing is the zero RawValue).
type pred = visitor

type eqP struct {
	v    bson.RawValue
	coll *Collation
}
type cmpP struct {
	op   string
	v    bson.RawValue
	coll *Collation
}
type inP struct {
	vals []bson.RawValue
	res  []*regexP
	coll *Collation
}
type existsP struct{}
type sizeP struct{ n int }
type regexP struct {
	re               *regexp.Regexp
	pattern, options string
}
type elemObjP struct{ m matcher }
type elemValP struct{ p pred }
type andP []pred
type notP struct{ p pred }
type noneP struct{}

func (p *eqP) visit(x bson.RawValue) bool { return equalMatch(p.v, x, p.coll) }

// equalMatch is query equality: null also matches a missing field.
func equalMatch(want, x bson.RawValue, coll *Collation) bool {
	if want.Type == bson.TypeNull {
		return x.Type == bson.TypeNull || x.Type == 0
	}
	return x.Type != 0 && coll.Compare(x, want) == 0
}

func (p *cmpP) visit(x bson.RawValue) bool {
	if x.Type == 0 {
		return p.v.Type == bson.TypeNull && (p.op == "$gte" || p.op == "$lte")
	}
	rx, rv := typeRank(x.Type), typeRank(p.v.Type)
	if rx != rv {
		// Comparisons are bracketed by type, except against MinKey and MaxKey.
		if p.v.Type != bson.TypeMinKey && p.v.Type != bson.TypeMaxKey {
			return false
		}
		return p.holds(cmp3(rx < rv, rx > rv))
	}
	if rx == rankNumber {
		nx, _ := numberOf(x)
		nv, _ := numberOf(p.v)
		if xn, vn := !nx.isInt && math.IsNaN(nx.f), !nv.isInt && math.IsNaN(nv.f); xn || vn {
			return xn && vn && (p.op == "$gte" || p.op == "$lte") // NaN only equals NaN
		}
	}
	return p.holds(p.coll.Compare(x, p.v))
}

func (p *cmpP) holds(c int) bool {
	switch p.op {
	case "$gt":
		return c > 0
	case "$gte":
		return c >= 0
	case "$lt":
		return c < 0
	}
	return c <= 0
}

func (p *inP) visit(x bson.RawValue) bool {
	for _, v := range p.vals {
		if equalMatch(v, x, p.coll) {
			return true
		}
	}
	for _, re := range p.res {
		if re.visit(x) {
			return true
		}
	}
	return false
}

func (existsP) visit(x bson.RawValue) bool { return x.Type != 0 }

func (p sizeP) visit(x bson.RawValue) bool {
	if x.Type != bson.TypeArray {
		return false
	}
	d, _ := subDoc(x)
	it := newIter(d)
	n := 0
	for _, _, ok := it.next(); ok; _, _, ok = it.next() {
		n++
	}
	return n == p.n
}

func (p *regexP) visit(x bson.RawValue) bool {
	switch x.Type {
	case bson.TypeString, bson.TypeSymbol:
		s, ok := strBytes(x)
		return ok && p.re.Match(s)
	case bson.TypeRegex:
		pat, opt, ok := regexParts(x)
		return ok && string(pat) == p.pattern && string(opt) == p.options
	}
	return false
}

func (p elemObjP) visit(x bson.RawValue) bool {
	return anyElement(x, func(e bson.RawValue) bool {
		sub, isSub := subDoc(e)
		return isSub && p.m.matches(sub)
	})
}

func (p elemValP) visit(x bson.RawValue) bool { return anyElement(x, p.p.visit) }

// anyElement reports whether x is an array with an element for which ok holds ($elemMatch).
func anyElement(x bson.RawValue, ok func(bson.RawValue) bool) bool {
	if x.Type != bson.TypeArray {
		return false
	}
	d, _ := subDoc(x)
	it := newIter(d)
	for _, e, more := it.next(); more; _, e, more = it.next() {
		if ok(e) {
			return true
		}
	}
	return false
}

func (p andP) visit(x bson.RawValue) bool {
	for _, c := range p {
		if !c.visit(x) {
			return false
		}
	}
	return true
}

func (p notP) visit(x bson.RawValue) bool { return !p.p.visit(x) }
func (noneP) visit(bson.RawValue) bool    { return false }
