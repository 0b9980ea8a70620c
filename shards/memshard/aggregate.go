package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// aggregate: the collection (or a session listing) read, then run through the pipeline.

func cmdAggregate(r *request) error {
	if r.boolArg("explain", false) {
		return r.explain(r, "queryPlanner")
	}
	stages, err := r.stagesArg()
	if err != nil {
		return err
	}
	cur, ok := r.body.Lookup("cursor").DocumentOK()
	if !ok {
		return mongoerr.New(mongoerr.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument")
	}
	batchSize, err := intField(cur, "aggregate.cursor", "batchSize", defaultFirstBatch)
	if err != nil {
		return err
	}
	env, err := r.queryEnv()
	if err != nil {
		return err
	}
	target := r.body.Index(0).Value()
	coll, isColl := target.StringValueOK()
	first := ""
	if len(stages) > 0 {
		if el, err := stages[0].IndexErr(0); err == nil {
			first = el.Key()
		}
	}
	var docs []bson.Raw
	ns := r.ns(coll)
	switch {
	case first == "$changeStream":
		return r.openChangeStream(stages, batchSize)
	case first == "$listLocalSessions":
		if isColl {
			return mongoerr.New(mongoerr.InvalidNamespace, "$listLocalSessions must be run against the database with {aggregate: 1}, not a collection")
		}
		if docs, err = r.listSessions(first, stages[0]); err != nil {
			return err
		}
		stages, ns = stages[1:], r.db+".$cmd.aggregate"
	case first == "$listSessions":
		if r.db != "config" || coll != "system.sessions" {
			return mongoerr.New(mongoerr.InvalidNamespace, "$listSessions may only be run against config.system.sessions")
		}
		if docs, err = r.listSessions(first, stages[0]); err != nil {
			return err
		}
		stages = stages[1:]
	case first == "$documents":
		if isColl {
			return mongoerr.New(mongoerr.InvalidNamespace, "$documents must be run against the database with {aggregate: 1}, not a collection")
		}
		if docs, err = env.Documents(stages[0].Index(0).Value()); err != nil {
			return err
		}
		stages, ns = stages[1:], r.db+".$cmd.aggregate"
	case !isColl:
		return mongoerr.New(mongoerr.InvalidNamespace, "{aggregate: 1} is not valid for '%s'; a collection is required.", first)
	case first == "$collStats":
		if coll, err = r.collName(); err != nil {
			return err
		}
		if docs, err = r.collStats(coll, stages[0]); err != nil {
			return err
		}
		stages = stages[1:]
	default:
		if coll, err = r.collName(); err != nil {
			return err
		}
		var q querySpec
		if q, stages, err = r.pipelineQuery(env, stages); err != nil {
			return err
		}
		rows, _, _, err := r.readQuery(coll, q)
		if err != nil {
			return err
		}
		docs = make([]bson.Raw, len(rows))
		for i, x := range rows {
			docs[i] = x.doc
		}
	}
	stages, out, err := splitWriteStage(r.db, stages)
	if err != nil {
		return err
	}
	if level, _ := r.body.Lookup("readConcern", "level").StringValueOK(); out != nil && level == "linearizable" {
		return mongoerr.New(mongoerr.InvalidOptions, "%s cannot be used with a 'linearizable' read concern level", out.name)
	}
	p, err := env.Pipeline(stages)
	if err != nil {
		return err
	}
	if docs, err = p.Run(docs); err != nil {
		return err
	}
	if out != nil {
		if err := r.runWriteStage(out, docs); err != nil {
			return err
		}
		docs = nil // $out and $merge answer an empty cursor
	}
	r.replyCursor(ns, docs, batchSize, false)
	return nil
}

// stagesArg reads the pipeline.
func (r *request) stagesArg() ([]bson.Raw, error) {
	specs, err := r.docsArg("pipeline")
	if err != nil {
		return nil, err
	}
	stages := make([]bson.Raw, len(specs))
	for i, d := range specs {
		stages[i] = bson.Raw(d)
	}
	return stages, nil
}

// pipelineQuery moves a leading $match (and a $sort after it) into the query that reads the
// collection, as mongod's pipeline optimisation does, so that they can use an index; the
// aggregate's hint applies to it. It returns the stages left.
func (r *request) pipelineQuery(env *query.Env, stages []bson.Raw) (querySpec, []bson.Raw, error) {
	q := querySpec{filter: &query.Filter{}, hint: hintArg(r.body)}
	matched := false
	for len(stages) > 0 {
		el, _ := stages[0].IndexErr(0)
		spec, isDoc := el.Value().DocumentOK()
		switch {
		case el.Key() == "$match" && !matched && isDoc:
			f, err := env.Filter(bson.Raw(spec))
			if err != nil {
				return q, nil, err
			}
			q.filter, matched = f, true
		case el.Key() == "$sort" && len(q.sort) == 0 && isDoc && len(spec) > 5:
			if err := q.sortBy(env, bson.Raw(spec)); err != nil {
				return q, nil, err
			}
		default:
			return q, stages, nil
		}
		stages = stages[1:]
	}
	return q, stages, nil
}

func (r *request) listSessions(stage string, spec bson.Raw) ([]bson.Raw, error) {
	v := spec.Lookup(stage)
	ls, err := sessionid.ParseListSpec(stage, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}, r.caller())
	if err != nil {
		return nil, err
	}
	return r.m.sessionDocs(ls), nil
}
