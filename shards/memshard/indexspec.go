package memshard

import (
	"fmt"
	"math"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// Index specifications as createIndexes validates them (index_key_validate.cpp) and as
// listIndexes returns them: v, key, name, then the options in the order given.

// indexOptions are the fields an index specification may hold besides key and name.
var indexOptions = map[string]bool{
	"v": true, "unique": true, "sparse": true, "partialFilterExpression": true, "expireAfterSeconds": true,
	"background": true, "collation": true, "hidden": true, "weights": true, "default_language": true,
	"language_override": true, "textIndexVersion": true, "2dsphereIndexVersion": true, "bits": true,
	"min": true, "max": true, "wildcardProjection": true, "storageEngine": true, "ns": true,
	"prepareUnique": true, "bucketSize": true, "coarsestIndexedLevel": true, "finestIndexedLevel": true,
}

// indexPlugins are the key pattern strings mongod knows; memshard keeps hashed indexes, and the
// others as catalog entries only.
var indexPlugins = map[string]bool{"hashed": true, "text": true, "2d": true, "2dsphere": true, "geoHaystack": true, "columnstore": true}

// newIndex validates spec and builds an empty index from it.
func newIndex(spec bsoncore.Document) (*index, error) {
	inSpec := func(code mongoerr.Code, format string, args ...any) error {
		return mongoerr.New(code, "Error in specification %s :: caused by :: %s", shellDoc(spec), fmt.Sprintf(format, args...))
	}
	key, ok := spec.Lookup("key").DocumentOK()
	if !ok {
		return nil, inSpec(mongoerr.FailedToParse, "The 'key' field is a required property of an index specification")
	}
	name, ok := spec.Lookup("name").StringValueOK()
	if !ok {
		return nil, inSpec(mongoerr.FailedToParse, "The 'name' field is a required property of an index specification")
	}
	if name == "" {
		return nil, inSpec(mongoerr.CannotCreateIndex, "index name cannot be empty")
	}
	elems, _ := spec.Elements()
	for _, e := range elems {
		if k := e.Key(); k != "key" && k != "name" && !indexOptions[k] {
			return nil, mongoerr.New(mongoerr.InvalidIndexSpecificationOption, "The field '%s' is not valid for an index specification. Specification: %s", k, shellDoc(spec))
		}
	}
	ix := &index{name: name, keyDoc: key, groups: map[string]*keyGroup{}, hashed: -1,
		unique: failpoint.Truthy(spec.Lookup("unique"), false), sparse: failpoint.Truthy(spec.Lookup("sparse"), false)}
	fields, _ := key.Elements()
	if len(fields) == 0 {
		return nil, inSpec(mongoerr.CannotCreateIndex, "Index keys cannot be empty.")
	}
	for _, f := range fields {
		if err := ix.addField(f); err != nil {
			return nil, inSpec(mongoerr.CannotCreateIndex, "%s", mongoerr.As(err).Msg)
		}
	}
	if pf, err := spec.LookupErr("partialFilterExpression"); err == nil {
		doc, ok := pf.DocumentOK()
		if !ok {
			return nil, inSpec(mongoerr.CannotCreateIndex, "The field 'partialFilterExpression' must be an object, but got %s", mongoerr.TypeName(pf.Type))
		}
		if ix.sparse {
			return nil, inSpec(mongoerr.CannotCreateIndex, "cannot mix \"partialFilterExpression\" and \"sparse\" options")
		}
		if op := unsupportedInPartial(doc); op != "" {
			return nil, inSpec(mongoerr.CannotCreateIndex, "Expression not supported in partial index: %s", op)
		}
		if ix.partial, err = query.NewFilter(bson.Raw(doc)); err != nil {
			return nil, err
		}
	}
	var err error
	if ix.coll, err = indexCollation(spec); err != nil {
		return nil, inSpec(mongoerr.CannotCreateIndex, "%s", mongoerr.As(err).Msg)
	}
	ix.hidden = failpoint.Truthy(spec.Lookup("hidden"), false)
	if ix.hidden && ix.isID() {
		return nil, inSpec(mongoerr.BadValue, "can't hide _id index")
	}
	ix.spec = normalizedSpec(spec, key, name)
	return ix, nil
}

// partialOperators are what a partialFilterExpression may use (expression_parser.cpp's
// partial index allowed features).
var partialOperators = map[string]bool{"$eq": true, "$exists": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true, "$type": true, "$in": true}

// unsupportedInPartial names the first operator a partial filter may not use ("" when none).
func unsupportedInPartial(filter bsoncore.Document) string {
	elems, _ := filter.Elements()
	for _, e := range elems {
		key, v := e.Key(), e.Value()
		switch {
		case key == "$and" || key == "$or":
			clauses, _ := v.Array().Values()
			for _, c := range clauses {
				if d, ok := c.DocumentOK(); ok {
					if op := unsupportedInPartial(d); op != "" {
						return op
					}
				}
			}
		case strings.HasPrefix(key, "$"):
			return key
		default:
			ops, ok := v.DocumentOK()
			if !ok {
				continue
			}
			inner, _ := ops.Elements()
			for _, op := range inner {
				if strings.HasPrefix(op.Key(), "$") && !partialOperators[op.Key()] {
					return op.Key()
				}
				if exists, ok := op.Value().BooleanOK(); op.Key() == "$exists" && ok && !exists {
					return "$exists: false"
				}
			}
		}
	}
	return ""
}

// indexCollation compiles the spec's collation (nil: simple).
func indexCollation(spec bsoncore.Document) (*query.Collation, error) {
	v, err := spec.LookupErr("collation")
	if err != nil {
		return nil, nil
	}
	d, ok := v.DocumentOK()
	if !ok {
		return nil, mongoerr.WrongType("collation", v.Type, "object")
	}
	return query.NewCollation(bson.Raw(d))
}

// addField adds one field of the key pattern: a direction, or a plugin name.
func (ix *index) addField(f bsoncore.Element) error {
	name, v := f.Key(), f.Value()
	switch {
	case name == "":
		return mongoerr.New(mongoerr.CannotCreateIndex, "Index keys cannot be an empty field.")
	case strings.HasPrefix(name, "$") && name != "$**":
		return mongoerr.New(mongoerr.CannotCreateIndex, "Index key contains an illegal field name: field name starts with '$'.")
	}
	dir := 1
	switch s, isString := v.StringValueOK(); {
	case isString && !indexPlugins[s]:
		return mongoerr.New(mongoerr.CannotCreateIndex, "Unknown index plugin '%s'", s)
	case isString:
		if ix.special != "" && ix.special != s {
			return mongoerr.New(mongoerr.CannotCreateIndex, "Can't use more than one index plugin for a single index.")
		}
		ix.special = s
		if s == "hashed" {
			ix.hashed = len(ix.fields)
		}
	default:
		n, isNum := v.AsFloat64OK()
		switch {
		case !isNum:
			return mongoerr.New(mongoerr.CannotCreateIndex, "Values in v:2 index key pattern cannot be of type %s. Only numbers > 0, numbers < 0, and strings are allowed.", mongoerr.TypeName(v.Type))
		case math.IsNaN(n):
			return mongoerr.New(mongoerr.CannotCreateIndex, "Values in the index key pattern cannot be NaN.")
		case n == 0:
			return mongoerr.New(mongoerr.CannotCreateIndex, "Values in the index key pattern cannot be 0.")
		case n < 0:
			dir = -1
		}
	}
	ix.fields = append(ix.fields, name)
	ix.paths = append(ix.paths, strings.Split(name, "."))
	ix.dirs = append(ix.dirs, dir)
	return nil
}

// normalizedSpec is spec as mongod stores it: {v: 2, key, name, options...}.
func normalizedSpec(spec, key bsoncore.Document, name string) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("v", 2).AppendDocument("key", key).AppendString("name", name)
	elems, _ := spec.Elements()
	for _, e := range elems {
		switch e.Key() {
		case "v", "key", "name", "background", "ns":
		default:
			b.AppendValue(e.Key(), e.Value())
		}
	}
	return b.Build()
}

// sameOptions reports whether two specs differ only in name (index_descriptor.cpp compares
// the options that change what an index holds).
func sameOptions(a, b *index) bool {
	opt := func(ix *index, key string) bson.RawValue { return rawValue(ix.spec.Lookup(key)) }
	for _, k := range []string{"unique", "sparse", "partialFilterExpression", "collation", "expireAfterSeconds"} {
		x, y := opt(a, k), opt(b, k)
		if k == "unique" || k == "sparse" {
			if failpoint.Truthy(bsoncore.Value{Type: bsoncore.Type(x.Type), Data: x.Value}, false) !=
				failpoint.Truthy(bsoncore.Value{Type: bsoncore.Type(y.Type), Data: y.Value}, false) {
				return false
			}
			continue
		}
		if x.Type != y.Type || x.Type != 0 && query.Compare(x, y) != 0 {
			return false
		}
	}
	return true
}

// conflict is mongod's verdict on creating ix beside an existing index (index_catalog_impl.cpp's
// prepareSpecForCreate): nil to build it, errAlreadyExists to skip it, or an error.
func (c *collection) conflict(ix *index) error {
	for _, old := range c.indexes {
		sameKey := sameKeyPattern(old.keyDoc, ix.keyDoc)
		switch {
		case old.name == ix.name && !sameKey:
			return mongoerr.New(mongoerr.IndexKeySpecsConflict, "An existing index has the same name as the requested index. "+
				"When index names are not specified, they are auto generated and can cause conflicts. Please refer to our documentation. "+
				"Requested index: %s, existing index: %s", shellDoc(ix.spec), shellDoc(old.spec))
		case old.name == ix.name && !sameOptions(old, ix):
			return mongoerr.New(mongoerr.IndexOptionsConflict, "An equivalent index already exists with the same name but different options. "+
				"Requested index: %s, existing index: %s", shellDoc(ix.spec), shellDoc(old.spec))
		case old.name == ix.name:
			return errAlreadyExists
		case sameKey && sameOptions(old, ix):
			return mongoerr.New(mongoerr.IndexOptionsConflict, "Index already exists with a different name: %s", old.name)
		}
	}
	return nil
}

var errAlreadyExists = mongoerr.New(mongoerr.IndexOptionsConflict, "index already exists")

// shellDoc prints a document as mongod's messages do.
func shellDoc(d bsoncore.Document) string {
	return query.Format(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: d})
}
