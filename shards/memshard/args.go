package memshard

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// Command argument parsing with mongod's IDL error texts.

func missingField(path string) *mongoerr.Error {
	return mongoerr.New(mongoerr.IDLFailedToParse, "BSON field '%s' is missing but a required field", path)
}

// missingOrWrong is the error for a required field of the command that is absent or mistyped.
func missingOrWrong(r *request, key, want string) *mongoerr.Error {
	v, err := r.body.LookupErr(key)
	if err != nil {
		return missingField(r.name + "." + key)
	}
	return mongoerr.WrongType(r.name+"."+key, v.Type, want)
}

func rawValue(v bsoncore.Value) bson.RawValue {
	return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}
}

// collName is the collection the command names as its first value.
func (r *request) collName() (string, error) {
	v := r.body.Index(0).Value()
	name, ok := v.StringValueOK()
	if !ok {
		return "", mongoerr.New(mongoerr.InvalidNamespace, "collection name has invalid type %s", mongoerr.TypeName(v.Type))
	}
	if name == "" || strings.ContainsRune(name, 0) {
		return "", mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s.%s'", r.db, name)
	}
	return name, nil
}

func (r *request) stringArg(key string, required bool) (string, error) {
	return stringField(r.body, r.name, key, required)
}

func stringField(doc bsoncore.Document, parent, key string, required bool) (string, error) {
	v, err := doc.LookupErr(key)
	if err != nil {
		if required {
			return "", missingField(parent + "." + key)
		}
		return "", nil
	}
	s, ok := v.StringValueOK()
	if !ok {
		return "", mongoerr.WrongType(parent+"."+key, v.Type, "string")
	}
	return s, nil
}

// intArg reads a non-negative number; def when absent.
func (r *request) intArg(key string, def int) (int, error) {
	return intField(r.body, r.name, key, def)
}

func intField(doc bsoncore.Document, parent, key string, def int) (int, error) {
	v, err := doc.LookupErr(key)
	if err != nil {
		return def, nil
	}
	n, ok := v.AsInt64OK()
	if !ok {
		return 0, mongoerr.WrongType(parent+"."+key, v.Type, "long")
	}
	if n < 0 {
		return 0, mongoerr.New(mongoerr.BadValue, "%s value must be non-negative, but received: %d",
			strings.ToUpper(key[:1])+key[1:], n)
	}
	return int(min(n, 1<<31-1)), nil
}

// docArg reads an optional document field.
func (r *request) docArg(key string) (bson.Raw, bool, error) {
	return docField(r.body, r.name, key)
}

func docField(doc bsoncore.Document, parent, key string) (bson.Raw, bool, error) {
	v, err := doc.LookupErr(key)
	if err != nil {
		return nil, false, nil
	}
	d, ok := v.DocumentOK()
	if !ok {
		return nil, false, mongoerr.WrongType(parent+"."+key, v.Type, "object")
	}
	return bson.Raw(d), true, nil
}

// requiredDocField reads a document field a statement must have.
func requiredDocField(doc bsoncore.Document, parent, key string) (bson.Raw, error) {
	d, ok, err := docField(doc, parent, key)
	if err == nil && !ok {
		err = missingField(parent + "." + key)
	}
	return d, err
}

// docsArg reads a required array of documents.
func (r *request) docsArg(key string) ([]bsoncore.Document, error) {
	arr, ok := r.body.Lookup(key).ArrayOK()
	if !ok {
		return nil, missingOrWrong(r, key, "array")
	}
	vals, _ := arr.Values()
	docs := make([]bsoncore.Document, 0, len(vals))
	for i, v := range vals {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, mongoerr.WrongType(r.name+"."+key+"."+arrayKey(i), v.Type, "object")
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// boolArg reads a flag the way mongod's IDL "safeBool" does: bools and numbers.
func (r *request) boolArg(key string, def bool) bool {
	return failpoint.Truthy(r.body.Lookup(key), def)
}

// statements reads a write command's statements from the body array or the OP_MSG document
// sequence of the same name.
func (r *request) statements(key string) ([]bsoncore.Document, error) {
	_, err := r.body.LookupErr(key)
	inBody := err == nil
	var docs []bsoncore.Document
	for _, s := range r.seqs {
		if s.Identifier != key {
			continue
		}
		if inBody || docs != nil {
			return nil, mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '%s.%s' is a duplicate field", r.name, key)
		}
		seqDocs, err := s.Docs()
		if err != nil {
			return nil, mongoerr.New(mongoerr.BadValue, "%v", err)
		}
		docs = append(make([]bsoncore.Document, 0, len(seqDocs)), seqDocs...)
	}
	if docs != nil {
		return docs, nil
	}
	return r.docsArg(key)
}

// checkBatch enforces maxWriteBatchSize.
func checkBatch(n int) error {
	if n < 1 || n > maxWriteBatchSize {
		return mongoerr.New(mongoerr.InvalidLength, "Write batch sizes must be between 1 and %d. Got %d operations.", maxWriteBatchSize, n)
	}
	return nil
}

func (r *request) filterArg(key string) (*query.Filter, bson.Raw, error) {
	q, _, err := r.docArg(key)
	if err != nil {
		return nil, nil, err
	}
	env, err := r.queryEnv()
	if err != nil {
		return nil, nil, err
	}
	f, err := env.Filter(q)
	return f, q, err
}

// projectionArg reads an optional projection (nil when absent or empty).
func (r *request) projectionArg(key string) (*query.Projection, error) {
	spec, _, err := r.docArg(key)
	if err != nil {
		return nil, err
	}
	return r.projection(spec)
}

// projection compiles a projection spec (nil when empty).
func (r *request) projection(spec bson.Raw) (*query.Projection, error) {
	if len(spec) <= 5 {
		return nil, nil
	}
	env, err := r.queryEnv()
	if err != nil {
		return nil, err
	}
	return env.Projection(spec)
}
