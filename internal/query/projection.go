package query

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"

	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Projection is a compiled find projection or $project stage.
type Projection struct {
	root      *projNode // nil: the empty projection returns documents unchanged
	inclusion bool
	env       *Env
}

type projNode struct{ fields []*projField }

// projField is one field of a projection level: a flag (1 include, -1 exclude), a nested
// level, or a computed value.
type projField struct {
	name string
	flag int
	sub  *projNode
	expr expr
}

// NewProjection compiles a find projection: inclusion ({a: 1, "b.c": 1}, computed fields
// {x: "$a"} or literals) or exclusion ({a: 0}); _id is included unless {_id: 0}. Mixing
// inclusion and exclusion is rejected as the server does. An empty spec keeps documents whole.
func NewProjection(spec bson.Raw) (*Projection, error) { return (*Env)(nil).Projection(spec) }

// Projection compiles a find projection whose expressions see env's variables.
func (env *Env) Projection(spec bson.Raw) (*Projection, error) {
	if len(spec) == 0 {
		return &Projection{}, nil
	}
	if !validDoc(spec) {
		return nil, errorf(mongoerr.InvalidBSON, "projection is not a valid BSON document")
	}
	if body, _ := docBody(spec); len(body) == 0 {
		return &Projection{}, nil
	}
	return env.parseProjection(spec)
}

// projParser tracks the projection's mode while fields are added.
type projParser struct {
	mode  int // 0 undecided, 1 inclusion, -1 exclusion
	idSet bool
	idVal int
	exprs *exprParser
}

func (env *Env) parseProjection(spec []byte) (*Projection, error) {
	pp := projParser{exprs: &exprParser{env: env}}
	root := &projNode{}
	if err := pp.parseLevel(root, "", spec); err != nil {
		return nil, err
	}
	inclusion := pp.mode == 1 || (pp.mode == 0 && pp.idVal == 1)
	if inclusion && !pp.idSet {
		root.fields = append([]*projField{{name: "_id", flag: 1}}, root.fields...)
	}
	return &Projection{root: root, inclusion: inclusion, env: env}, nil
}

func (pp *projParser) parseLevel(n *projNode, prefix string, spec []byte) error {
	it := newIter(spec)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		path := prefix + string(k)
		if err := pp.add(n, prefix, path, string(k), v); err != nil {
			return err
		}
	}
	return nil
}

// add places one spec entry; key may be dotted, relative to prefix.
func (pp *projParser) add(n *projNode, prefix, path, key string, v bson.RawValue) error {
	parts := splitPath(key)
	for _, p := range parts {
		if p == "$" || strings.HasPrefix(p, "$[") {
			return unsupported("positional projection")
		}
		if err := checkFieldName(p); err != nil {
			return err
		}
	}
	if prefix == "" && parts[0] == "_id" {
		pp.idSet = true // any _id spec replaces the default inclusion of _id
	}
	for i, p := range parts[:len(parts)-1] {
		f := n.find(p)
		if f == nil {
			f = &projField{name: p, sub: &projNode{}}
			n.fields = append(n.fields, f)
		} else if f.sub == nil {
			return errorf(31249, "Path collision at %s remaining portion %s",
				path, strings.Join(parts[i+1:], "."))
		}
		n = f.sub
	}
	last := parts[len(parts)-1]
	if n.find(last) != nil {
		return errorf(31250, "Path collision at %s", path)
	}
	f := &projField{name: last}
	n.fields = append(n.fields, f)
	switch {
	case v.Type == bson.TypeBoolean || isNumber(v):
		f.flag = -1
		if trueValue(v) {
			f.flag = 1
		}
		if path == "_id" {
			pp.idVal = f.flag
			return nil
		}
		return pp.setMode(f.flag, path)
	case isDoc(v) && !isOperatorDoc(v):
		if body, _ := docBody(v.Value); len(body) == 0 {
			return errorf(51270, "An empty sub-projection is not a valid value. Found empty object at path")
		}
		f.sub = &projNode{}
		return pp.parseLevel(f.sub, path+".", v.Value)
	}
	if isOperatorDoc(v) {
		it := newIter(v.Value)
		if k, _, _ := it.next(); string(k) == "$slice" || string(k) == "$elemMatch" || string(k) == "$meta" {
			return unsupported("projection operator " + string(k))
		}
	}
	e, err := pp.exprs.parse(v)
	if err != nil {
		return err
	}
	f.expr = e
	if pp.mode == -1 {
		return errorf(31252, "Cannot use expression other than $meta in exclusion projection")
	}
	pp.mode = 1
	return nil
}

func (pp *projParser) setMode(flag int, path string) error {
	switch {
	case flag == 1 && pp.mode == -1:
		return errorf(31253, "Cannot do inclusion on field %s in exclusion projection", path)
	case flag == -1 && pp.mode == 1:
		return errorf(31254, "Cannot do exclusion on field %s in inclusion projection", path)
	}
	pp.mode = flag
	return nil
}

func (n *projNode) find(name string) *projField {
	for _, f := range n.fields {
		if f.name == name {
			return f
		}
	}
	return nil
}

// index returns the position of the field named name, or -1.
func (n *projNode) index(name []byte) int {
	for i, f := range n.fields {
		if f.name == string(name) {
			return i
		}
	}
	return -1
}

// computes reports whether the level (or a nested one) holds computed fields.
func (n *projNode) computes() bool {
	for _, f := range n.fields {
		if f.expr != nil || (f.sub != nil && f.sub.computes()) {
			return true
		}
	}
	return false
}

// Apply returns the projected document, a new one unless the projection is empty (then doc
// itself); doc is never modified. It fails only when a computed field's expression does.
func (p *Projection) Apply(doc bson.Raw) (bson.Raw, error) {
	switch {
	case p.root == nil:
		return doc, nil
	case p.inclusion:
		return include(doc, p.root, &evalCtx{root: doc, env: p.env})
	}
	return exclude(doc, p.root), nil
}

// include keeps the flagged fields in document order, then appends computed fields in spec
// order, as the server's inclusion projection does.
func include(d []byte, n *projNode, c *evalCtx) ([]byte, error) {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	seen := make([]bool, len(n.fields))
	it := newIter(d)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		i := n.index(k)
		if i < 0 {
			continue
		}
		switch f := n.fields[i]; {
		case f.flag == 1:
			dst = appendValue(dst, string(k), v)
		case f.sub != nil && (v.Type == bson.TypeEmbeddedDocument || v.Type == bson.TypeArray):
			sub, err := includeValue(v, f.sub, c)
			if err != nil {
				return nil, err
			}
			dst = appendValue(dst, string(k), sub)
			seen[i] = true
		}
	}
	for i, f := range n.fields {
		switch {
		case f.expr != nil:
			v, err := f.expr.eval(c)
			if err != nil {
				return nil, err
			}
			if v.Type != 0 {
				dst = appendValue(dst, f.name, v)
			}
		case f.sub != nil && !seen[i] && f.sub.computes():
			sub, err := include(emptyDoc, f.sub, c)
			if err != nil {
				return nil, err
			}
			dst = appendValue(dst, f.name, docValue(sub))
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, nil
}

var emptyDoc = []byte{5, 0, 0, 0, 0}

// includeValue projects a sub-document, or each document of an array (dropping scalars).
func includeValue(v bson.RawValue, n *projNode, c *evalCtx) (bson.RawValue, error) {
	if v.Type == bson.TypeEmbeddedDocument {
		d, _ := subDoc(v)
		sub, err := include(d, n, c)
		return docValue(sub), err
	}
	var out []bson.RawValue
	for _, e := range values(v) {
		if e.Type == bson.TypeEmbeddedDocument || e.Type == bson.TypeArray {
			sub, err := includeValue(e, n, c)
			if err != nil {
				return missing, err
			}
			out = append(out, sub)
		}
	}
	return arrayValue(out), nil
}

func exclude(d []byte, n *projNode) []byte {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	it := newIter(d)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		i := n.index(k)
		switch {
		case i < 0 || n.fields[i].flag == 1:
			dst = appendValue(dst, string(k), v)
		case n.fields[i].sub != nil:
			dst = appendValue(dst, string(k), excludeValue(v, n.fields[i].sub))
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// excludeValue applies a nested exclusion to a sub-document or to each element of an array.
func excludeValue(v bson.RawValue, n *projNode) bson.RawValue {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		d, _ := subDoc(v)
		return docValue(exclude(d, n))
	case bson.TypeArray:
		vals := values(v)
		for i, e := range vals {
			vals[i] = excludeValue(e, n)
		}
		return arrayValue(vals)
	}
	return v
}

// SplitSortKeyMeta takes the top-level fields {name: {$meta: "sortKey"}} out of a projection
// spec: the rest is an ordinary projection (nil when nothing is left), names are the fields that
// receive the document's sort key (an array of its sort values, mongod's format since 4.4).
func SplitSortKeyMeta(spec bson.Raw) (rest bson.Raw, names []string) {
	elems, err := spec.Elements()
	if err != nil {
		return spec, nil
	}
	b := bson.Raw(nil)
	idx, out := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		if meta, ok := e.Value().DocumentOK(); ok {
			if kind, ok := meta.Lookup("$meta").StringValueOK(); ok && kind == "sortKey" {
				if n, _ := meta.Elements(); len(n) == 1 {
					names = append(names, e.Key())
					continue
				}
			}
		}
		out = append(out, e...)
	}
	if len(names) == 0 {
		return spec, nil
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	if len(out) > 5 {
		b = out
	}
	return b, names
}
