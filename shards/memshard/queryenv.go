package memshard

import (
	"maps"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/query"
)

// The query environment (query.Env) of a command: its let variables, evaluated once per command
// as mongod's ExpressionContext does, $$NOW, and its collation. A write statement's own
// collation and constants (c) apply to that statement only.

// queryEnv is the command's environment, built on first use.
func (r *request) queryEnv() (*query.Env, error) {
	if r.env != nil {
		return r.env, nil
	}
	let, _, err := r.docArg("let")
	if err != nil {
		return nil, err
	}
	coll, err := collationField(r.body, r.name)
	if err != nil {
		return nil, err
	}
	if r.env, err = query.NewEnv(let, coll, r.now()); err != nil {
		return nil, err
	}
	return r.env, nil
}

// stmtEnv is the environment of one write statement (parent names it in errors).
func (r *request) stmtEnv(st bsoncore.Document, parent string) (*query.Env, error) {
	base, err := r.queryEnv()
	if err != nil {
		return nil, err
	}
	coll, err := collationField(st, parent)
	if err != nil {
		return nil, err
	}
	c, _, err := docField(st, parent, "c")
	if err != nil {
		return nil, err
	}
	env := *base
	env.Collation = coll
	if len(c) > 5 {
		env.Vars = maps.Clone(base.Vars)
		if err := env.Let(c); err != nil {
			return nil, err
		}
	}
	return &env, nil
}

// collationField reads an optional collation document.
func collationField(doc bsoncore.Document, parent string) (*query.Collation, error) {
	spec, _, err := docField(doc, parent, "collation")
	if err != nil {
		return nil, err
	}
	return query.NewCollation(bson.Raw(spec))
}
