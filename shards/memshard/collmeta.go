package memshard

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// What create and collMod set on a collection: its options as listCollections shows them, a
// view definition (a view holds no documents: reads see its source through its pipeline), and
// a document validator (create.cpp, coll_mod.cpp, view_catalog.cpp).

// maxViewDepth is how many views deep a read may resolve (view_graph.cpp).
const maxViewDepth = 20

type collMeta struct {
	options   bsoncore.Document // create's options, as listCollections shows them
	view      *viewDef
	validator *validator
}

// viewDef is a view: the namespace it reads (in its database) and its pipeline.
type viewDef struct {
	on       string
	pipeline []bson.Raw
}

// validator is a collection's document validator: a query filter new versions must match.
type validator struct {
	spec   bson.Raw
	filter *query.Filter
	level  string // strict, moderate or off
	action string // error or warn
}

// createOptions are the fields of create that become collection options.
var createOptions = map[string]bool{
	"capped": true, "size": true, "max": true, "autoIndexId": true, "idIndex": true, "storageEngine": true,
	"validator": true, "validationLevel": true, "validationAction": true, "indexOptionDefaults": true,
	"viewOn": true, "pipeline": true, "collation": true, "changeStreamPreAndPostImages": true,
	"clusteredIndex": true, "expireAfterSeconds": true, "timeseries": true, "encryptedFields": true, "flags": true,
}

// parseCreate reads create's options.
func (r *request) parseCreate() (collMeta, error) {
	var m collMeta
	b := bsoncore.NewDocumentBuilder()
	elems, _ := r.body.Elements()
	for _, e := range elems[1:] {
		if createOptions[e.Key()] {
			b.AppendValue(e.Key(), e.Value())
		}
	}
	m.options = b.Build()
	on, hasView := r.body.Lookup("viewOn").StringValueOK()
	switch v, err := r.body.LookupErr("viewOn"); {
	case err == nil && !hasView:
		return m, mongoerr.WrongType("create.viewOn", v.Type, "string")
	case hasView:
		stages, err := r.pipelineArg()
		if err != nil {
			return m, err
		}
		if _, err := query.NewPipeline(stages); err != nil {
			return m, err
		}
		m.view = &viewDef{on: on, pipeline: stages}
		m.options = bsoncore.NewDocumentBuilder().AppendString("viewOn", on).
			AppendArray("pipeline", stagesArray(stages)).Build()
	default:
		if _, err := r.body.LookupErr("pipeline"); err == nil {
			return m, mongoerr.New(mongoerr.InvalidOptions, "'pipeline' requires 'viewOn' to also be specified")
		}
	}
	var err error
	m.validator, err = parseValidator(r.body, r.name, nil)
	return m, err
}

// pipelineArg reads an optional pipeline of stage documents.
func (r *request) pipelineArg() ([]bson.Raw, error) {
	if _, err := r.body.LookupErr("pipeline"); err != nil {
		return nil, nil
	}
	return r.stagesArg()
}

func stagesArray(stages []bson.Raw) bsoncore.Array {
	b := bsoncore.NewArrayBuilder()
	for _, st := range stages {
		b.AppendDocument(st)
	}
	return b.Build()
}

// parseValidator reads validator, validationLevel and validationAction from the command doc
// (named parent in errors) over the current validator (nil: none).
func parseValidator(doc bsoncore.Document, parent string, cur *validator) (*validator, error) {
	v := &validator{level: "strict", action: "error"}
	if cur != nil {
		*v = *cur
	}
	spec, has, err := docField(doc, parent, "validator")
	if err != nil {
		return nil, err
	}
	if has {
		if v.filter, err = query.NewFilter(spec); err != nil {
			return nil, err
		}
		v.spec = spec
	}
	for _, f := range []struct {
		key     string
		dst     *string
		allowed []string
	}{{"validationLevel", &v.level, []string{"off", "strict", "moderate"}}, {"validationAction", &v.action, []string{"error", "warn", "errorAndLog"}}} {
		s, err := stringField(doc, parent, f.key, false)
		if err != nil {
			return nil, err
		}
		if s == "" {
			continue
		}
		if !slices.Contains(f.allowed, s) {
			return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field '%s.%s' is not a valid value.", s, parent, f.key)
		}
		*f.dst = s
	}
	if v.spec == nil && cur == nil {
		return nil, nil
	}
	return v, nil
}

func viewError(ns string) *mongoerr.Error {
	return mongoerr.New(mongoerr.CommandNotSupportedOnView, "Namespace %s is a view, not a collection", ns)
}

// writableColl refuses writes to a view.
func (c *collection) writableColl() error {
	if c != nil && c.meta.view != nil {
		return viewError(c.ns())
	}
	return nil
}

// viewDocs are the documents a view presents as t sees them: its source's (a collection's, or
// another view's) through its pipeline. Callers hold store.mu.
func (s *store) viewDocs(c *collection, t *txn) ([]bson.Raw, error) {
	chain := []*viewDef{}
	for c != nil && c.meta.view != nil {
		if len(chain) == maxViewDepth {
			return nil, mongoerr.New(mongoerr.ViewDepthLimitExceeded, "View depth too deep or view cycle detected. Maximum depth is %d", maxViewDepth)
		}
		chain = append(chain, c.meta.view)
		c = s.coll(c.db, c.meta.view.on, t)
	}
	var docs []bson.Raw
	if c != nil {
		docs = c.scan(t, nil)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		p, err := query.NewPipeline(chain[i].pipeline)
		if err != nil {
			return nil, err
		}
		if docs, err = p.Run(docs); err != nil {
			return nil, err
		}
	}
	return docs, nil
}

// admit checks the new versions a statement is about to write: the collection's validator
// (unless the command bypasses it), then its indexes. Callers hold store.mu exclusively.
func (r *request) admit(c *collection, writes []pendingWrite) error {
	if c == nil || len(writes) == 0 {
		return nil
	}
	if v := c.meta.validator; v != nil && v.level != "off" && v.action == "error" && v.filter != nil &&
		!failpoint.Truthy(r.body.Lookup("bypassDocumentValidation"), false) {
		for _, w := range writes {
			if w.d != nil && v.level == "moderate" {
				if old := visible(w.d, r.txn); old != nil && !v.filter.Match(old) {
					continue // moderate: documents that did not pass before are not checked
				}
			}
			if !v.filter.Match(w.raw) {
				return v.failure(w.raw)
			}
		}
	}
	return c.checkWrites(r.txn, writes)
}

// failure is DocumentValidationFailure with errInfo: the document's _id and which clauses of
// the validator it did not satisfy (doc_validation_error.cpp explains each operator in more
// detail).
func (v *validator) failure(raw bson.Raw) error {
	details := bsoncore.NewDocumentBuilder().AppendString("operatorName", "$and")
	failed := bsoncore.NewArrayBuilder()
	elems, _ := bsoncore.Document(v.spec).Elements()
	for i, e := range elems {
		clause := bsoncore.NewDocumentBuilder().AppendValue(e.Key(), e.Value()).Build()
		if f, err := query.NewFilter(bson.Raw(clause)); err == nil && !f.Match(raw) {
			failed.AppendDocument(bsoncore.NewDocumentBuilder().AppendInt32("index", int32(i)).
				AppendDocument("details", bsoncore.NewDocumentBuilder().AppendString("operatorName", clauseOperator(e)).
					AppendDocument("specifiedAs", clause).AppendString("reason", "expression did not match").Build()).Build())
		}
	}
	details.AppendArray("clausesNotSatisfied", failed.Build())
	id := raw.Lookup("_id")
	info := bsoncore.NewDocumentBuilder().AppendValue("failingDocumentId", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value}).
		AppendDocument("details", details.Build()).Build()
	e := mongoerr.New(mongoerr.DocumentValidationFailure, "Document failed validation")
	e.Extra = bsoncore.NewDocumentBuilder().AppendDocument("errInfo", info).Build()
	return e
}

// clauseOperator names a validator clause's operator: $type in {x: {$type: ...}}, $eq for a
// plain value, the clause itself for a top-level operator.
func clauseOperator(e bsoncore.Element) string {
	if len(e.Key()) > 0 && e.Key()[0] == '$' {
		return e.Key()
	}
	if d, ok := e.Value().DocumentOK(); ok {
		if first, err := d.IndexErr(0); err == nil && len(first.Key()) > 0 && first.Key()[0] == '$' {
			return first.Key()
		}
	}
	return "$eq"
}

// options is the collection options document with the validator's fields set.
func (v *validator) options(old bsoncore.Document) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder()
	elems, _ := old.Elements()
	for _, e := range elems {
		switch e.Key() {
		case "validator", "validationLevel", "validationAction":
		default:
			b.AppendValue(e.Key(), e.Value())
		}
	}
	if v.spec != nil {
		b.AppendDocument("validator", v.spec)
	}
	return b.AppendString("validationLevel", v.level).AppendString("validationAction", v.action).Build()
}
