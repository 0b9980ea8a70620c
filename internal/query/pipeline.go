package query

import (
	"errors"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Pipeline is a compiled aggregation pipeline.
type Pipeline struct{ stages []stage }

type stage interface {
	run(docs []bson.Raw) ([]bson.Raw, error)
}

// Real stages memshard does not implement; they get an honest error rather than the server's
// "Unrecognized pipeline stage name". ($listLocalSessions and $listSessions are memshard's own.)
var unsupportedStages = map[string]bool{
	"$lookup": true, "$facet": true, "$bucket": true, "$bucketAuto": true, "$sample": true,
	"$out": true, "$merge": true, "$geoNear": true,
	"$graphLookup": true, "$redact": true,
	"$indexStats": true, "$currentOp": true, "$changeStream": true, "$unionWith": true,
	"$densify": true, "$fill": true, "$setWindowFields": true,
	"$listLocalSessions": true, "$listSessions": true, "$planCacheStats": true,
}

// NewPipeline compiles a pipeline without variables, by the simple collation.
func NewPipeline(stages []bson.Raw) (*Pipeline, error) { return (*Env)(nil).Pipeline(stages) }

// Pipeline compiles the stages $match $project $addFields/$set $unset $replaceRoot
// $replaceWith $sort $skip $limit $group $count $sortByCount $unwind in env. An unknown stage name fails as
// on the server (40324).
func (env *Env) Pipeline(stages []bson.Raw) (*Pipeline, error) {
	p := &Pipeline{}
	for _, spec := range stages {
		if !validDoc(spec) {
			return nil, errorf(mongoerr.InvalidBSON, "pipeline stage is not a valid BSON document")
		}
		it := newIter(spec)
		k, v, ok := it.next()
		if _, _, more := it.next(); !ok || more {
			return nil, errorf(40323, "A pipeline stage specification object must contain exactly one field.")
		}
		s, err := env.parseStage(string(k), v)
		if err != nil {
			return nil, err
		}
		p.stages = append(p.stages, s)
	}
	return p, nil
}

// Run passes docs through every stage.
func (p *Pipeline) Run(docs []bson.Raw) ([]bson.Raw, error) {
	var err error
	for _, s := range p.stages {
		if docs, err = s.run(docs); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

func (env *Env) parseStage(name string, v bson.RawValue) (stage, error) {
	switch name {
	case "$match":
		if !isDoc(v) {
			return nil, errorf(15959, "the match filter must be an expression in an object")
		}
		f, err := env.Filter(v.Value)
		return matchStage{f}, err
	case "$project":
		p, err := env.parseProjectStage(v)
		return projectStage{p}, causedBy(name, err)
	case "$unset":
		p, err := parseUnset(v)
		return projectStage{p}, causedBy(name, err)
	case "$addFields", "$set":
		return env.parseAddFields(name, v)
	case "$replaceRoot", "$replaceWith":
		return env.parseReplaceRoot(name, v)
	case "$sort":
		if !isDoc(v) {
			return nil, errorf(15973, "the $sort key specification must be an object")
		}
		if body, _ := docBody(v.Value); len(body) == 0 {
			return nil, errorf(15976, "$sort stage must have at least one sort key")
		}
		s, err := env.Sort(v.Value)
		return sortStage{s}, err
	case "$skip":
		n, ok := integer(v)
		switch {
		case !ok:
			return nil, errorf(15972, "Argument to $skip must be a number")
		case n < 0:
			return nil, errorf(15956, "Argument to $skip cannot be negative")
		}
		return skipStage(n), nil
	case "$limit":
		n, ok := integer(v)
		switch {
		case !ok:
			return nil, errorf(15957, "the limit must be specified as a number")
		case n <= 0:
			return nil, errorf(15958, "the limit must be positive")
		}
		return limitStage(n), nil
	case "$count":
		return parseCount(v)
	case "$sortByCount":
		return env.parseSortByCount(v)
	case "$group":
		return env.parseGroup(v)
	case "$collStats", "$documents":
		return nil, errorf(40602, "%s is only valid as the first stage in a pipeline", name)
	case "$unwind":
		return parseUnwind(v)
	}
	if unsupportedStages[name] {
		return nil, unsupported("pipeline stage " + name)
	}
	return nil, errorf(40324, "Unrecognized pipeline stage name: '%s'", name)
}

// causedBy prefixes a stage's parse error as the server does ("Invalid $project :: caused by :: ...").
func causedBy(stage string, err error) error {
	var me *mongoerr.Error
	if errors.As(err, &me) {
		return &mongoerr.Error{Code: me.Code, Msg: "Invalid " + stage + " :: caused by :: " + me.Msg}
	}
	return err
}

type matchStage struct{ f *Filter }

func (s matchStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	out := docs[:0:0]
	for _, d := range docs {
		if s.f.Match(d) {
			out = append(out, d)
		}
	}
	return out, s.f.Err()
}

type projectStage struct{ p *Projection }

func (s projectStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	out := make([]bson.Raw, len(docs))
	for i, d := range docs {
		var err error
		if out[i], err = s.p.Apply(d); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (env *Env) parseProjectStage(v bson.RawValue) (*Projection, error) {
	if !isDoc(v) {
		return nil, errorf(15969, "$project specification must be an object")
	}
	if body, _ := docBody(v.Value); len(body) == 0 {
		return nil, errorf(51272, "projection specification must have at least one field")
	}
	return env.parseProjection(v.Value)
}

// parseUnset builds the exclusion projection of {$unset: "a"} or {$unset: ["a", "b.c"]}.
func parseUnset(v bson.RawValue) (*Projection, error) {
	paths := []bson.RawValue{v}
	switch v.Type {
	case bson.TypeString:
	case bson.TypeArray:
		paths = values(v)
		if len(paths) == 0 {
			return nil, errorf(31002, "$unset specification must be a string or an array with at least one field")
		}
	default:
		return nil, errorf(31002, "$unset specification must be a string or an array")
	}
	var pp projParser
	root := &projNode{}
	for _, p := range paths {
		s, ok := strBytes(p)
		if p.Type != bson.TypeString || !ok {
			return nil, errorf(31120, "$unset specification must be a string or an array containing only string values")
		}
		if err := pp.add(root, "", string(s), string(s), int32Value(0)); err != nil {
			return nil, err
		}
	}
	return &Projection{root: root}, nil
}

type sortStage struct{ s *Sort }

func (s sortStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	out := append([]bson.Raw(nil), docs...)
	s.s.Sort(out)
	return out, nil
}

type skipStage int64

func (n skipStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	if int64(len(docs)) <= int64(n) {
		return nil, nil
	}
	return docs[n:], nil
}

type limitStage int64

func (n limitStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	if int64(len(docs)) > int64(n) {
		return docs[:n], nil
	}
	return docs, nil
}

type countStage string

func parseCount(v bson.RawValue) (stage, error) {
	s, ok := strBytes(v)
	switch {
	case v.Type != bson.TypeString || !ok:
		return nil, errorf(40156, "the count field must be a non-empty string")
	case len(s) == 0:
		return nil, errorf(40157, "the count field must be a non-empty string")
	case s[0] == '$':
		return nil, errorf(40158, "the count field cannot be a $-prefixed path")
	case strings.Contains(string(s), "."):
		return nil, errorf(40160, "the count field cannot contain '.'")
	case strings.IndexByte(string(s), 0) >= 0:
		return nil, errorf(40159, "the count field cannot contain a null byte")
	}
	return countStage(s), nil
}

// sortByCount is $sortByCount: {$group: {_id: <expr>, count: {$sum: 1}}} then
// {$sort: {count: -1}} (document_source_sort_by_count.cpp).
type sortByCount struct {
	group stage
	sort  *Sort
}

func (env *Env) parseSortByCount(v bson.RawValue) (stage, error) {
	if s, ok := strBytes(v); v.Type == bson.TypeString && ok && (len(s) == 0 || s[0] != '$') || v.Type != bson.TypeString && !isOperatorDoc(v) {
		return nil, errorf(40149, "the sortByCount field must be defined as a $-prefixed path or an expression")
	}
	spec := bsoncore.NewDocumentBuilder().AppendValue("_id", bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}).
		AppendDocument("count", bsoncore.NewDocumentBuilder().AppendInt32("$sum", 1).Build()).Build()
	g, err := env.parseGroup(docValue(bson.Raw(spec)))
	if err != nil {
		return nil, err
	}
	s, err := env.Sort(bson.Raw(bsoncore.NewDocumentBuilder().AppendInt32("count", -1).Build()))
	return sortByCount{g, s}, err
}

func (s sortByCount) run(docs []bson.Raw) ([]bson.Raw, error) {
	out, err := s.group.run(docs)
	if err == nil {
		s.sort.Sort(out)
	}
	return out, err
}

func (name countStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	if len(docs) == 0 {
		return nil, nil
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = bsoncore.AppendInt32Element(dst, string(name), int32(len(docs)))
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return []bson.Raw{dst}, nil
}

// addFieldsStage sets computed fields, replacing existing ones in place and appending new ones;
// every expression sees the input document.
type addFieldsStage struct {
	env   *Env
	paths [][]string
	exprs []expr
}

func (env *Env) parseAddFields(name string, v bson.RawValue) (stage, error) {
	if !isDoc(v) {
		return nil, errorf(40272, "%s specification stage must be an object, got %s", name, typeName(v.Type))
	}
	s := &addFieldsStage{env: env}
	if err := s.parse(nil, v.Value); err != nil {
		return nil, causedBy(name, err)
	}
	return s, nil
}

// parse flattens nested specs: {a: {b: "$x"}} sets a.b and keeps a's other fields.
func (s *addFieldsStage) parse(prefix []string, spec []byte) error {
	it := newIter(spec)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		path := append(append([]string(nil), prefix...), splitPath(string(k))...)
		for _, p := range path {
			if err := checkFieldName(p); err != nil {
				return err
			}
		}
		if body, _ := docBody(v.Value); isDoc(v) && !isOperatorDoc(v) && len(body) > 0 {
			if err := s.parse(path, v.Value); err != nil {
				return err
			}
			continue
		}
		e, err := (&exprParser{env: s.env}).parse(v)
		if err != nil {
			return err
		}
		s.paths, s.exprs = append(s.paths, path), append(s.exprs, e)
	}
	return nil
}

func (s *addFieldsStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	out := make([]bson.Raw, len(docs))
	for i, d := range docs {
		root := decodeDoc(d, false)
		for j, e := range s.exprs {
			v, err := evalDoc(e, d, s.env)
			if err != nil {
				return nil, err
			}
			if v.Type == 0 { // $$REMOVE, or a missing path: the field goes
				removePath(root, s.paths[j])
				continue
			}
			if err := setPath(root, s.paths[j], v); err != nil {
				return nil, err
			}
		}
		out[i] = root.appendTo(nil)
	}
	return out, nil
}

// unwindStage outputs one document per element of an array field.
type unwindStage struct {
	path     []string
	index    string // includeArrayIndex field, "" for none
	preserve bool   // preserveNullAndEmptyArrays
}

func parseUnwind(v bson.RawValue) (stage, error) {
	s := &unwindStage{}
	path := v
	if isDoc(v) {
		it := newIter(v.Value)
		path = missing
		for k, f, ok := it.next(); ok; k, f, ok = it.next() {
			switch string(k) {
			case "path":
				path = f
			case "includeArrayIndex":
				name, _ := strBytes(f)
				if f.Type != bson.TypeString || strings.HasPrefix(string(name), "$") {
					return nil, errorf(28810, "expected a non-empty string for the includeArrayIndex option to $unwind stage")
				}
				if strings.IndexByte(string(name), 0) >= 0 {
					return nil, errorf(16411, "FieldPath field names may not contain '\\0'.")
				}
				s.index = string(name)
			case "preserveNullAndEmptyArrays":
				if f.Type != bson.TypeBoolean {
					return nil, errorf(28809, "expected a boolean for the preserveNullAndEmptyArrays option to $unwind stage")
				}
				s.preserve = trueValue(f)
			default:
				return nil, errorf(28811, "unrecognized option to $unwind stage")
			}
		}
		if path.Type == 0 {
			return nil, errorf(28812, "no path specified to $unwind stage")
		}
	} else if v.Type != bson.TypeString {
		return nil, errorf(15981, "expected either a string or an object as specification for $unwind stage, got %s", typeName(v.Type))
	}
	p, _ := strBytes(path)
	if path.Type != bson.TypeString {
		return nil, errorf(28808, "expected a string as the path for $unwind stage, got %s", typeName(path.Type))
	}
	if !strings.HasPrefix(string(p), "$") || len(p) < 2 {
		return nil, errorf(28818, "path option to $unwind stage should be prefixed with a '$': %s", p)
	}
	s.path = splitPath(string(p[1:]))
	return s, nil
}

func (s *unwindStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	var out []bson.Raw
	for _, d := range docs {
		v, found := missing, true
		cur := docValue(d)
		for _, p := range s.path {
			if !isDoc(cur) {
				found = false
				break
			}
			if cur, found = lookup(cur.Value, p); !found {
				break
			}
		}
		if found {
			v = cur
		}
		elems := []bson.RawValue{v}
		if v.Type == bson.TypeArray {
			elems = values(v)
		}
		if v.Type == 0 || v.Type == bson.TypeNull || len(elems) == 0 {
			if s.preserve {
				doc, err := s.emit(d, missing, nullValue)
				if err != nil {
					return nil, err
				}
				out = append(out, doc)
			}
			continue
		}
		for i, e := range elems {
			idx := nullValue
			if v.Type == bson.TypeArray {
				idx = int64Value(int64(i))
			}
			doc, err := s.emit(d, e, idx)
			if err != nil {
				return nil, err
			}
			out = append(out, doc)
		}
	}
	return out, nil
}

// emit writes d with the unwound field set to e (removed when e is missing, as for an empty
// array) and the optional index field.
func (s *unwindStage) emit(d bson.Raw, e, idx bson.RawValue) (bson.Raw, error) {
	root := decodeDoc(d, false)
	if e.Type != 0 {
		if err := setPath(root, s.path, e); err != nil {
			return nil, err
		}
	} else if c, _ := navigate(root, s.path, false); c != nil {
		if i := c.index(s.path[len(s.path)-1]); i >= 0 && c.elems[i].typ() == bson.TypeArray {
			c.elems = append(c.elems[:i], c.elems[i+1:]...)
		}
	}
	if s.index != "" {
		if err := setPath(root, splitPath(s.index), idx); err != nil {
			return nil, err
		}
	}
	return root.appendTo(nil), nil
}

// replaceRootStage is $replaceRoot ({newRoot: e}) or $replaceWith (e): each document becomes
// the document e evaluates to.
type replaceRootStage struct {
	e   expr
	env *Env
}

func (env *Env) parseReplaceRoot(name string, v bson.RawValue) (stage, error) {
	spec := v
	if name == "$replaceRoot" {
		if !isDoc(v) {
			return nil, errorf(40229, "expected an object as specification for $replaceRoot stage, got %s", typeName(v.Type))
		}
		spec = missing
		it := newIter(v.Value)
		for k, f, ok := it.next(); ok; k, f, ok = it.next() {
			if string(k) != "newRoot" {
				return nil, errorf(40230, "unrecognized option to $replaceRoot stage: %s, only valid option is 'newRoot'.", k)
			}
			spec = f
		}
		if spec.Type == 0 {
			return nil, errorf(40231, "no newRoot specified for the $replaceRoot stage")
		}
	}
	e, err := (&exprParser{env: env}).parse(spec)
	if err != nil {
		return nil, err
	}
	return replaceRootStage{e: e, env: env}, nil
}

func (s replaceRootStage) run(docs []bson.Raw) ([]bson.Raw, error) {
	out := make([]bson.Raw, len(docs))
	for i, d := range docs {
		v, err := evalDoc(s.e, d, s.env)
		if err != nil {
			return nil, err
		}
		if !isDoc(v) {
			return nil, errorf(40228, "'replacement document' must evaluate to an object, but resulting value was: %s. Type of resulting value: '%s'. Input document: %s",
				formatOrMissing(v), typeNameOrMissing(v), formatValue(docValue(d)))
		}
		out[i] = v.Value
	}
	return out, nil
}

func formatOrMissing(v bson.RawValue) string {
	if v.Type == 0 {
		return "MISSING"
	}
	return formatValue(v)
}

// Documents evaluates the value of a $documents stage (an expression without a document that
// must give an array of documents), as document_source_documents.cpp's unwind and
// replaceRoot do.
func (env *Env) Documents(v bson.RawValue) ([]bson.Raw, error) {
	e, err := (&exprParser{env: env}).parse(v)
	if err != nil {
		return nil, err
	}
	arr, err := evalDoc(e, emptyDoc, env)
	if err != nil {
		return nil, err
	}
	if arr.Type != bson.TypeArray {
		return nil, errorf(5858203, "error during $documents stage :: caused by :: expected an array, got %s", typeNameOrMissing(arr))
	}
	var out []bson.Raw
	for _, d := range values(arr) {
		if !isDoc(d) {
			return nil, errorf(40228, "'replacement document' must evaluate to an object, but resulting value was: %s. Type of resulting value: '%s'.",
				formatValue(d), typeName(d.Type))
		}
		out = append(out, d.Value)
	}
	return out, nil
}
