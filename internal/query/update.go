package query

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Update is a compiled update: a replacement document, update operators, or a pipeline.
type Update struct {
	replacement bson.Raw // set for a replacement update
	ops         []*updateOp
	pipeline    *Pipeline          // set for a pipeline-style update
	filters     map[string]*Filter // arrayFilters by identifier
}

// updateOp is one field of one modifier, e.g. the "a.b" of {$inc: {"a.b": 1}}.
type updateOp struct {
	mod    string
	dotted string
	path   []string
	arg    bson.RawValue

	each     []bson.RawValue // $push, $addToSet
	slice    *int64
	position *int64
	sort     *pushSort
	pull     func(bson.RawValue) bool // $pull, $pullAll: which elements go
	to       []string                 // $rename destination
	pop      int                      // $pop: 1 last, -1 first
	coll     *Collation               // what $addToSet, $pull, $min, $max and $push's $sort compare by
	dynamic  bool                     // the path holds $[] or $[identifier]
	matched  bool                     // the path holds $, the position the query matched
}

// NewUpdate compiles an update without variables or arrayFilters, by the simple collation.
func NewUpdate(u bson.RawValue) (*Update, error) { return (*Env)(nil).Update(u, nil) }

// Update compiles the u of an update statement: an operator document ($set $unset $inc $mul
// $min $max $push $addToSet $pop $pull $pullAll $rename $currentDate $setOnInsert, with $, $[]
// and $[identifier] path elements), a replacement document, or a pipeline
// ($addFields/$set $project $unset $replaceRoot $replaceWith) whose expressions see env.
func (env *Env) Update(u bson.RawValue, arrayFilters []bson.Raw) (*Update, error) {
	switch u.Type {
	case bson.TypeArray:
		if len(arrayFilters) > 0 {
			return nil, errorf(mongoerr.FailedToParse, "arrayFilters may not be specified for pipeline-style updates")
		}
		return env.pipelineUpdate(u)
	case bson.TypeEmbeddedDocument:
	default:
		return nil, errorf(mongoerr.FailedToParse, "Update argument must be either an object or an array")
	}
	if !validDoc(u.Value) {
		return nil, errorf(mongoerr.InvalidBSON, "update is not a valid BSON document")
	}
	filters, err := env.arrayFilters(arrayFilters)
	if err != nil {
		return nil, err
	}
	it := newIter(u.Value)
	first, _, _ := it.next()
	if !strings.HasPrefix(string(first), "$") {
		up, err := newReplacement(u.Value)
		if err != nil {
			return nil, err
		}
		return up, checkFiltersUsed(filters, nil, u)
	}
	up := &Update{filters: filters}
	it = newIter(u.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		if err := up.parseModifier(string(k), v, env); err != nil {
			return nil, err
		}
	}
	if err := checkFiltersUsed(filters, up.ops, u); err != nil {
		return nil, err
	}
	if err := checkConflicts(up.ops); err != nil {
		return nil, err
	}
	// The server applies an update's fields in field-name order, whatever the modifiers.
	slices.SortStableFunc(up.ops, func(a, b *updateOp) int { return comparePaths(a.target(), b.target()) })
	return up, nil
}

func newReplacement(doc []byte) (*Update, error) {
	it := newIter(doc)
	for k, _, ok := it.next(); ok; k, _, ok = it.next() {
		if strings.HasPrefix(string(k), "$") {
			return nil, dollarField(string(k), string(k))
		}
	}
	return &Update{replacement: doc}, nil
}

func dollarField(field, path string) error {
	return errorf(mongoerr.DollarPrefixedFieldName, "The dollar ($) prefixed field '%s' in '%s' is not allowed "+
		"in the context of an update's replacement document. Consider using an aggregation pipeline with $replaceWith.",
		field, path)
}

// IsReplacement reports whether the update replaces whole documents.
func (u *Update) IsReplacement() bool { return u.replacement != nil }

var modifiers = map[string]bool{
	"$set": true, "$unset": true, "$inc": true, "$mul": true, "$min": true, "$max": true,
	"$push": true, "$addToSet": true, "$pop": true, "$pull": true, "$pullAll": true,
	"$rename": true, "$currentDate": true, "$setOnInsert": true, "$bit": true,
}

func (u *Update) parseModifier(mod string, v bson.RawValue, env *Env) error {
	if !modifiers[mod] {
		return errorf(mongoerr.FailedToParse, "Unknown modifier: %s. Expected a valid update modifier or "+
			"pipeline-style update specified as an array", mod)
	}
	if !isDoc(v) {
		return errorf(mongoerr.FailedToParse, "Modifiers operate on fields but we found type %s instead. "+
			"For example: {$mod: {<field>: ...}} not {%s}", typeName(v.Type), formatElem(mod, v))
	}
	if mod == "$bit" {
		return unsupported("update operator $bit")
	}
	it := newIter(v.Value)
	for k, arg, ok := it.next(); ok; k, arg, ok = it.next() {
		path, err := updatePath(string(k))
		if err != nil {
			return err
		}
		op := &updateOp{mod: mod, dotted: string(k), path: path, arg: arg, coll: env.collation(), dynamic: isDynamic(path),
			matched: slices.Contains(path, "$")}
		if err := u.checkPositional(op); err != nil {
			return err
		}
		if err := op.parseArg(env); err != nil {
			return err
		}
		u.ops = append(u.ops, op)
	}
	return nil
}

func updatePath(dotted string) ([]string, error) {
	if dotted == "" {
		return nil, errorf(mongoerr.EmptyFieldName, "An empty update path is not valid.")
	}
	if strings.IndexByte(dotted, 0) >= 0 { // a string value ($rename's target) can hold one; a field name cannot
		return nil, errorf(mongoerr.BadValue, "The update path '%s' contains a null byte, which is not allowed.", dotted)
	}
	path := splitPath(dotted)
	for _, p := range path {
		switch {
		case p == "":
			return nil, errorf(mongoerr.EmptyFieldName, "The update path '%s' contains an empty field name, which is not allowed.", dotted)
		case p == "$":
			if err := checkMatchedPosition(path, dotted); err != nil {
				return nil, err
			}
		case strings.HasPrefix(p, "$["):
			if err := checkPositionalElement(p, dotted); err != nil {
				return nil, err
			}
		case p[0] == '$':
			return nil, dollarField(p, dotted)
		}
	}
	return path, nil
}

func (op *updateOp) parseArg(env *Env) error {
	switch op.mod {
	case "$inc", "$mul":
		if !isNumber(op.arg) {
			verb := map[string]string{"$inc": "increment", "$mul": "multiply"}[op.mod]
			return errorf(mongoerr.TypeMismatch, "Cannot %s with non-numeric argument: {%s}", verb, formatElem(op.dotted, op.arg))
		}
	case "$push":
		return op.parsePush()
	case "$addToSet":
		op.each = []bson.RawValue{op.arg}
		if each, ok := eachClause(op.arg); ok {
			if each.Type != bson.TypeArray {
				return errorf(mongoerr.TypeMismatch, "The argument to $each in $addToSet must be an array but it was of type %s", typeName(each.Type))
			}
			op.each = values(each)
		}
	case "$pop":
		n, ok := numberOf(op.arg)
		if !ok {
			return errorf(mongoerr.FailedToParse, "Expected a number in: %s", formatElem(op.dotted, op.arg))
		}
		if f := n.float(); f != 1 && f != -1 {
			return errorf(mongoerr.FailedToParse, "$pop expects 1 or -1, found: %s", formatValue(op.arg))
		}
		op.pop = int(n.float())
	case "$pullAll":
		if op.arg.Type != bson.TypeArray {
			return errorf(mongoerr.BadValue, "$pullAll requires an array argument but was given a %s", typeName(op.arg.Type))
		}
		gone := values(op.arg)
		op.pull = func(e bson.RawValue) bool {
			return slices.ContainsFunc(gone, func(g bson.RawValue) bool { return op.coll.Compare(e, g) == 0 })
		}
	case "$pull":
		return op.parsePull(env)
	case "$rename":
		return op.parseRename()
	case "$currentDate":
		if op.arg.Type == bson.TypeBoolean {
			return nil
		}
		if isDoc(op.arg) {
			t, ok := lookup(op.arg.Value, "$type")
			if s, _ := strBytes(t); ok && t.Type == bson.TypeString && (string(s) == "date" || string(s) == "timestamp") {
				return nil
			}
		}
		return errorf(mongoerr.BadValue, "%s is not valid type for $currentDate. Please use a boolean ('true') "+
			"or a $type expression ({$type: 'timestamp/date'}).", typeName(op.arg.Type))
	}
	return nil
}

// at is op with its positional $ replaced by pos.
func (op *updateOp) at(pos int) *updateOp {
	cp := *op
	cp.path = slices.Clone(op.path)
	cp.path[slices.Index(cp.path, "$")] = strconv.Itoa(pos)
	return &cp
}

// checkMatchedPosition allows one positional $ per path, not first (update_object_node.cpp).
func checkMatchedPosition(path []string, dotted string) error {
	switch {
	case path[0] == "$":
		return errorf(mongoerr.BadValue, "Cannot have positional (i.e. '$') element in the first position in path '%s'", dotted)
	case len(slices.DeleteFunc(slices.Clone(path), func(p string) bool { return p != "$" })) > 1:
		return errorf(mongoerr.BadValue, "Too many positional (i.e. '$') elements found in path '%s'", dotted)
	}
	return nil
}

// eachClause returns the $each of a {$each: [...], ...} argument.
func eachClause(arg bson.RawValue) (bson.RawValue, bool) {
	if !isDoc(arg) {
		return missing, false
	}
	return lookup(arg.Value, "$each")
}

func (op *updateOp) parsePush() error {
	each, ok := eachClause(op.arg)
	if !ok {
		op.each = []bson.RawValue{op.arg}
		return nil
	}
	if each.Type != bson.TypeArray {
		return errorf(mongoerr.BadValue, "The argument to $each in $push must be an array but it was of type: %s", typeName(each.Type))
	}
	op.each = values(each)
	seen := map[string]bool{}
	it := newIter(op.arg.Value)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		clause := string(k)
		if seen[clause] {
			return errorf(mongoerr.BadValue, "Only one %s is supported.", clause)
		}
		seen[clause] = true
		switch clause {
		case "$each":
		case "$slice", "$position":
			n, ok := integer(v)
			if !ok && clause == "$slice" {
				return errorf(mongoerr.BadValue, "The value for $slice must be an integer value but was given type: %s", typeName(v.Type))
			}
			if !ok {
				return errorf(mongoerr.BadValue, "The value for $position must be an integer value, not of type: %s", typeName(v.Type))
			}
			if clause == "$slice" {
				op.slice = &n
			} else {
				op.position = &n
			}
		case "$sort":
			s, err := newPushSort(v, op.coll)
			if err != nil {
				return err
			}
			op.sort = s
		default:
			return errorf(mongoerr.BadValue, "Unrecognized clause in $push: %s", clause)
		}
	}
	return nil
}

// integer accepts a number with an integral value.
func integer(v bson.RawValue) (int64, bool) {
	n, ok := numberOf(v)
	switch {
	case !ok:
		return 0, false
	case n.isInt:
		return n.i, true
	case n.f != math.Trunc(n.f) || math.Abs(n.f) >= 9.2e18:
		return 0, false
	}
	return int64(n.f), true
}

func (op *updateOp) parsePull(env *Env) error {
	fp := &filterParser{env: env}
	switch {
	case isOperatorDoc(op.arg):
		ops, err := fp.parseOps("", op.arg.Value)
		if err != nil {
			return err
		}
		p := opsPred(ops)
		op.pull = p.visit
	case isDoc(op.arg):
		m, err := fp.parseFilter(op.arg.Value)
		if err != nil {
			return err
		}
		op.pull = func(e bson.RawValue) bool { return isDoc(e) && m.matches(e.Value) }
	case op.arg.Type == bson.TypeRegex:
		re, err := regexFromValue(op.arg)
		if err != nil {
			return err
		}
		op.pull = re.visit
	default:
		want := op.arg
		op.pull = func(e bson.RawValue) bool { return op.coll.Compare(e, want) == 0 }
	}
	return nil
}

func (op *updateOp) parseRename() error {
	s, ok := strBytes(op.arg)
	if op.arg.Type != bson.TypeString || !ok {
		return errorf(mongoerr.BadValue, "The 'to' field for $rename must be a string: %s", formatElem(op.dotted, op.arg))
	}
	to, err := updatePath(string(s))
	if err != nil {
		return err
	}
	if isDynamic(to) || slices.Contains(to, "$") {
		return errorf(mongoerr.BadValue, "The destination field for $rename may not be dynamic: %s", s)
	}
	switch {
	case string(s) == op.dotted:
		return errorf(mongoerr.BadValue, "The source and target field for $rename must differ: %s", formatElem(op.dotted, op.arg))
	case pathPrefix(op.path, to) || pathPrefix(to, op.path):
		return errorf(mongoerr.BadValue, "The source and target field for $rename must not be on the same path: %s", formatElem(op.dotted, op.arg))
	}
	op.to = to
	return nil
}

// target is the path an operator writes (a rename writes its destination).
func (op *updateOp) target() []string {
	if op.to != nil {
		return op.to
	}
	return op.path
}

func pathPrefix(p, of []string) bool {
	return len(p) <= len(of) && slices.Equal(p, of[:len(p)])
}

// checkConflicts rejects two operators on one path, or on a path and its prefix.
func checkConflicts(ops []*updateOp) error {
	var seen [][]string
	for _, op := range ops {
		paths := [][]string{op.path}
		if op.to != nil {
			paths = append(paths, op.to)
		}
		for _, p := range paths {
			for _, q := range seen {
				short := q
				if len(p) < len(q) {
					short = p
				}
				if pathPrefix(short, p) && pathPrefix(short, q) {
					return errorf(mongoerr.ConflictingUpdateOperators, "Updating the path '%s' would create a conflict at '%s'",
						strings.Join(p, "."), strings.Join(short, "."))
				}
			}
			seen = append(seen, p)
		}
	}
	return nil
}

// comparePaths orders paths component by component, numeric components numerically.
func comparePaths(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ai, aNum := arrayIndex(a[i])
		bi, bNum := arrayIndex(b[i])
		if aNum && bNum && ai != bi {
			return cmp3(ai < bi, ai > bi)
		}
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp3(len(a) < len(b), len(a) > len(b))
}

// Apply updates doc and returns the new document and whether it differs from doc. A
// replacement keeps doc's _id; changing _id fails with ImmutableField.
func (u *Update) Apply(doc bson.Raw) (bson.Raw, bool, error) { return u.ApplyMatched(doc, nil) }

// ApplyMatched is Apply for a document the filter f matched: a positional $ in the update's
// paths stands for the position of the array element f matched.
func (u *Update) ApplyMatched(doc bson.Raw, f *Filter) (bson.Raw, bool, error) {
	pos := -1
	if f != nil && slices.ContainsFunc(u.ops, func(op *updateOp) bool { return op.matched }) {
		if p, ok := f.Position(doc); ok {
			pos = p
		}
	}
	out, err := u.applyTo(doc, false, pos)
	if err != nil {
		return nil, false, err
	}
	return out, !bytes.Equal(out, doc), nil
}

// applyTo applies the update to doc, a document found or (insert) the seed of an upsert; pos
// is the position a positional $ stands for (-1: none).
func (u *Update) applyTo(doc []byte, insert bool, pos int) (bson.Raw, error) {
	switch {
	case u.replacement != nil:
		return replace(doc, u.replacement)
	case u.pipeline != nil:
		return u.applyPipeline(doc)
	}
	return u.applyOps(doc, insert, pos)
}

// replace builds the replacement with the original _id first.
func replace(orig, repl []byte) (bson.Raw, error) {
	id, hasID := lookup(orig, "_id")
	if newID, ok := lookup(repl, "_id"); ok && hasID && Compare(newID, id) != 0 {
		return nil, errorf(mongoerr.ImmutableField, "After applying the update, the (immutable) field '_id' was found "+
			"to have been altered to %s", formatElem("_id", newID))
	}
	if !hasID {
		return append(bson.Raw(nil), repl...), nil
	}
	return withIDFirst(id, repl), nil
}

func (u *Update) applyOps(doc []byte, insert bool, pos int) (bson.Raw, error) {
	root := decodeDoc(doc, false)
	for _, op := range u.ops {
		if op.mod == "$setOnInsert" && !insert {
			continue
		}
		if op.matched {
			if pos < 0 {
				return nil, errorf(mongoerr.BadValue, "The positional operator did not find the match needed from the query.")
			}
			op = op.at(pos)
		}
		if !op.dynamic {
			if err := op.apply(root); err != nil {
				return nil, err
			}
			continue
		}
		paths, err := u.expand(root, op)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			at := *op
			at.path = p
			if err := at.apply(root); err != nil {
				return nil, err
			}
		}
	}
	out := root.appendTo(nil)
	before, hadID := lookup(doc, "_id")
	after, _ := lookup(out, "_id")
	if hadID && (before.Type != after.Type || !bytes.Equal(before.Value, after.Value)) {
		path := "_id"
		for _, op := range u.ops {
			if t := op.target(); t[0] == "_id" || op.path[0] == "_id" {
				path = strings.Join(t, ".")
				break
			}
		}
		return nil, errorf(mongoerr.ImmutableField, "Performing an update on the path '%s' would modify the immutable field '_id'", path)
	}
	return out, nil
}

func (op *updateOp) apply(root *mdoc) error {
	switch op.mod {
	case "$set", "$setOnInsert":
		return setPath(root, op.path, op.arg)
	case "$currentDate":
		return setPath(root, op.path, currentDate(op.arg))
	case "$unset":
		removePath(root, op.path)
		return nil
	case "$rename":
		return op.rename(root)
	}
	d, err := navigate(root, op.path, op.mod != "$pop" && op.mod != "$pull" && op.mod != "$pullAll")
	if err != nil || d == nil {
		return err
	}
	i := d.index(op.path[len(op.path)-1])
	if i < 0 {
		return op.create(root, d)
	}
	return op.modify(root, &d.elems[i])
}

// create handles a modifier whose field does not exist yet.
func (op *updateOp) create(root, d *mdoc) error {
	var v bson.RawValue
	switch op.mod {
	case "$pop", "$pull", "$pullAll":
		return nil
	case "$inc", "$min", "$max":
		v = op.arg
	case "$mul":
		v, _ = arith(op.arg, int32Value(0), true) // zero of the argument's type
	case "$push":
		v = arrayValue(op.pushInto(nil))
	case "$addToSet":
		v = arrayValue(addToSet(nil, op.each, op.coll))
	}
	_, err := d.add(op.path[len(op.path)-1], v, parentName(op.path))
	return err
}

// modify applies a modifier to an existing field.
func (op *updateOp) modify(root *mdoc, e *melem) error {
	cur := e.value()
	switch op.mod {
	case "$inc", "$mul":
		if !isNumber(cur) {
			return errorf(mongoerr.TypeMismatch, "Cannot apply %s to a value of non-numeric type. {%s} has the field '%s' of non-numeric type %s",
				op.mod, idOf(root), op.path[len(op.path)-1], typeName(cur.Type))
		}
		v, ok := arith(cur, op.arg, op.mod == "$mul")
		if !ok {
			return errorf(mongoerr.BadValue, "Failed to apply %s operations to current value (%s) for document {%s}",
				op.mod, formatValue(cur), idOf(root))
		}
		e.set(v)
	case "$min", "$max":
		if c := op.coll.Compare(op.arg, cur); (c < 0 && op.mod == "$min") || (c > 0 && op.mod == "$max") {
			e.set(op.arg)
		}
	case "$push":
		if cur.Type != bson.TypeArray {
			return errorf(mongoerr.BadValue, "The field '%s' must be an array but is of type %s in document {%s}",
				op.dotted, typeName(cur.Type), idOf(root))
		}
		e.set(arrayValue(op.pushInto(values(cur))))
	case "$addToSet":
		if cur.Type != bson.TypeArray {
			return errorf(mongoerr.BadValue, "Cannot apply $addToSet to non-array field. Field named '%s' has non-array type %s",
				op.path[len(op.path)-1], typeName(cur.Type))
		}
		e.set(arrayValue(addToSet(values(cur), op.each, op.coll)))
	case "$pop":
		if cur.Type != bson.TypeArray {
			return errorf(mongoerr.TypeMismatch, "Path '%s' contains an element of non-array type '%s'", op.dotted, typeName(cur.Type))
		}
		vals := values(cur)
		switch {
		case len(vals) == 0:
		case op.pop > 0:
			e.set(arrayValue(vals[:len(vals)-1]))
		default:
			e.set(arrayValue(vals[1:]))
		}
	case "$pull", "$pullAll":
		if cur.Type != bson.TypeArray {
			return errorf(mongoerr.BadValue, "Cannot apply $pull to a non-array value")
		}
		vals := values(cur)
		kept := slices.DeleteFunc(slices.Clone(vals), op.pull)
		if len(kept) != len(vals) {
			e.set(arrayValue(kept))
		}
	}
	return nil
}

// pushInto returns the array after $push: values inserted at $position, then $sort, $slice.
func (op *updateOp) pushInto(vals []bson.RawValue) []bson.RawValue {
	pos := int64(len(vals))
	if op.position != nil {
		switch p := *op.position; {
		case p < 0:
			pos = max(0, int64(len(vals))+p)
		case p < pos:
			pos = p
		}
	}
	vals = slices.Insert(slices.Clone(vals), int(pos), op.each...)
	if op.sort != nil {
		op.sort.sort(vals)
	}
	if op.slice != nil {
		n := *op.slice
		switch {
		case n >= 0 && n < int64(len(vals)):
			vals = vals[:n]
		case n < 0 && -n < int64(len(vals)):
			vals = vals[int64(len(vals))+n:]
		}
	}
	return vals
}

func addToSet(vals, add []bson.RawValue, coll *Collation) []bson.RawValue {
	for _, a := range add {
		if !slices.ContainsFunc(vals, func(v bson.RawValue) bool { return coll.Compare(v, a) == 0 }) {
			vals = append(vals, a)
		}
	}
	return vals
}

func (op *updateOp) rename(root *mdoc) error {
	for i, path := range [][]string{op.path, op.to} {
		if f := arrayOnPath(root, path); f != "" {
			return errorf(mongoerr.BadValue, "The %s field cannot be an array element, '%s' in doc with %s has an array field called '%s'",
				[]string{"source", "destination"}[i], strings.Join(path, "."), idOf(root), f)
		}
	}
	src, _ := navigate(root, op.path, false)
	if src == nil {
		return nil
	}
	i := src.index(op.path[len(op.path)-1])
	if i < 0 {
		return nil
	}
	v := src.elems[i].value()
	src.elems = slices.Delete(src.elems, i, i+1)
	return setPath(root, op.to, v)
}

// arrayOnPath names the first array among the containers of path's last component.
func arrayOnPath(root *mdoc, path []string) string {
	d := root
	for _, p := range path[:len(path)-1] {
		i := d.index(p)
		if i < 0 {
			return ""
		}
		if d = d.elems[i].open(); d == nil {
			return ""
		}
		if d.array {
			return p
		}
	}
	return ""
}

func currentDate(arg bson.RawValue) bson.RawValue {
	now := time.Now()
	if isDoc(arg) {
		if t, _ := lookup(arg.Value, "$type"); t.Type == bson.TypeString {
			if s, _ := strBytes(t); string(s) == "timestamp" {
				return bson.RawValue{Type: bson.TypeTimestamp, Value: bsoncore.AppendTimestamp(nil, uint32(now.Unix()), 1)}
			}
		}
	}
	return bson.RawValue{Type: bson.TypeDateTime, Value: bsoncore.AppendDateTime(nil, now.UnixMilli())}
}

// arith adds (or multiplies) two numbers with the server's type promotion: int32 widens to
// int64 on overflow, int64 overflow fails, doubles and decimals win.
func arith(a, b bson.RawValue, mul bool) (bson.RawValue, bool) {
	na, _ := numberOf(a)
	nb, _ := numberOf(b)
	switch {
	case a.Type == bson.TypeDecimal128 || b.Type == bson.TypeDecimal128:
		f := na.float() + nb.float()
		if mul {
			f = na.float() * nb.float()
		}
		return decimalValue(f), true
	case a.Type == bson.TypeDouble || b.Type == bson.TypeDouble:
		if mul {
			return doubleValue(na.float() * nb.float()), true
		}
		return doubleValue(na.float() + nb.float()), true
	}
	r, overflow := na.i+nb.i, (na.i > 0 && nb.i > math.MaxInt64-na.i) || (na.i < 0 && nb.i < math.MinInt64-na.i)
	if mul {
		r = na.i * nb.i
		overflow = na.i != 0 && (r/na.i != nb.i || (na.i == -1 && nb.i == math.MinInt64))
	}
	switch {
	case overflow:
		return missing, false
	case a.Type == bson.TypeInt32 && b.Type == bson.TypeInt32 && r >= math.MinInt32 && r <= math.MaxInt32:
		return int32Value(int32(r)), true
	}
	return int64Value(r), true
}

// pushSort is $push's $sort: whole elements by 1/-1, or documents by a sort pattern.
type pushSort struct {
	dir  int
	by   *Sort
	coll *Collation
}

func newPushSort(v bson.RawValue, coll *Collation) (*pushSort, error) {
	if n, ok := numberOf(v); ok {
		if f := n.float(); f == 1 || f == -1 {
			return &pushSort{dir: int(f), coll: coll}, nil
		}
		return nil, errorf(mongoerr.BadValue, "The $sort element value must be either 1 or -1")
	}
	if !isDoc(v) {
		return nil, errorf(mongoerr.BadValue, "The $sort is invalid: use 1/-1 to sort the whole element, or {field:1/-1} to sort embedded fields")
	}
	if body, _ := docBody(v.Value); len(body) == 0 {
		return nil, errorf(mongoerr.BadValue, "The $sort pattern is empty when it should be a set of fields.")
	}
	s, err := NewSort(v.Value)
	if err != nil {
		return nil, errorf(mongoerr.BadValue, "The $sort element value must be either 1 or -1")
	}
	s.coll = coll
	return &pushSort{by: s, coll: coll}, nil
}

func (ps *pushSort) sort(vals []bson.RawValue) {
	if ps.by == nil {
		slices.SortStableFunc(vals, func(a, b bson.RawValue) int { return ps.dir * ps.coll.Compare(a, b) })
		return
	}
	SortBy(ps.by, vals, func(v bson.RawValue) []byte {
		if isDoc(v) {
			return v.Value
		}
		return emptyDoc // elements that are not documents sort as if every field were missing
	})
}

// Upsert builds the document an upsert inserts when nothing matches filter: the filter's
// equality fields (only _id for a replacement), then the update ($setOnInsert included), with
// a new ObjectId _id when there is none, _id first.
func (u *Update) Upsert(filter bson.Raw) (bson.Raw, error) {
	if len(filter) > 0 && !validDoc(filter) {
		return nil, errorf(mongoerr.InvalidBSON, "filter is not a valid BSON document")
	}
	var eqs []equality
	if err := equalities(filter, &eqs); err != nil {
		return nil, err
	}
	root := &mdoc{}
	slices.SortStableFunc(eqs, func(a, b equality) int { return strings.Compare(a.path, b.path) })
	for i, eq := range eqs {
		if u.replacement != nil && eq.path != "_id" {
			continue
		}
		for _, prev := range eqs[:i] {
			switch {
			case prev.path == eq.path:
				return nil, errorf(mongoerr.NotSingleValueField, "cannot infer query fields to set, path '%s' is matched twice", eq.path)
			case strings.HasPrefix(eq.path, prev.path+"."):
				return nil, errorf(mongoerr.NotSingleValueField, "cannot infer query fields to set, both paths '%s' and '%s' are matched", eq.path, prev.path)
			}
		}
		if err := setPath(root, splitPath(eq.path), eq.v); err != nil {
			return nil, err
		}
	}
	out, err := u.applyTo(root.appendTo(nil), true, -1)
	if err != nil {
		return nil, err
	}
	return IDFirst(out)
}

// IDFirst is a copy of doc as mongod stores it: _id first, an ObjectId generated when there is
// none. An array, regex or undefined _id is InvalidIdField.
func IDFirst(doc []byte) (bson.Raw, error) {
	id, ok := lookup(doc, "_id")
	if !ok {
		oid := bson.NewObjectID()
		id = bson.RawValue{Type: bson.TypeObjectID, Value: oid[:]}
	}
	switch id.Type {
	case bson.TypeArray, bson.TypeRegex, bson.TypeUndefined:
		return nil, errorf(mongoerr.InvalidIdField, "The '_id' value cannot be of type %s", typeName(id.Type))
	case bson.TypeEmbeddedDocument:
		if err := checkIDFields(id.Value); err != nil {
			return nil, err
		}
	}
	it := newIter(doc)
	if k, _, _ := it.next(); ok && string(k) == "_id" {
		return bytes.Clone(doc), nil
	}
	return withIDFirst(id, doc), nil
}

// checkIDFields refuses '$'-prefixed field names in an _id document, at any depth, as
// storage_validation.cpp does (DBRef fields are allowed).
func checkIDFields(doc []byte) error {
	it := newIter(doc)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		switch key := string(k); {
		case key == "$ref" || key == "$id" || key == "$db":
		case strings.HasPrefix(key, "$"):
			return errorf(mongoerr.DollarPrefixedFieldName, "_id fields may not contain '$'-prefixed fields: %s is not valid for storage.", key)
		}
		if isDoc(v) {
			if err := checkIDFields(v.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// withIDFirst is doc with _id set to id as its first field.
func withIDFirst(id bson.RawValue, doc []byte) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)+len(id.Value)+5))
	dst = appendValue(dst, "_id", id)
	it := newIter(doc)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		if string(k) != "_id" {
			dst = appendValue(dst, string(k), v)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

type equality struct {
	path string
	v    bson.RawValue
}

// equalities collects the fields a filter pins to one value: {a: v}, {a: {$eq: v}},
// {a: {$in: [v]}}, inside $and and single-clause $or, as the server seeds upserts.
func equalities(filter []byte, out *[]equality) error {
	it := newIter(filter)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		key := string(k)
		switch {
		case key == "$and" || key == "$or":
			clauses := values(v)
			if key == "$or" && len(clauses) != 1 {
				continue
			}
			for _, c := range clauses {
				if isDoc(c) {
					if err := equalities(c.Value, out); err != nil {
						return err
					}
				}
			}
		case strings.HasPrefix(key, "$") || v.Type == bson.TypeRegex:
		case isOperatorDoc(v):
			ops := newIter(v.Value)
			for op, arg, ok := ops.next(); ok; op, arg, ok = ops.next() {
				if in := values(arg); string(op) == "$in" && len(in) == 1 && in[0].Type != bson.TypeRegex {
					arg, op = in[0], []byte("$eq")
				}
				if string(op) == "$eq" {
					*out = append(*out, equality{key, arg})
				}
			}
		default:
			*out = append(*out, equality{key, v})
		}
	}
	return nil
}
