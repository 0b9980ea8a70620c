package query

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Pipeline-style updates (pipeline_executor.cpp): the update is an aggregation pipeline of
// the stages that reshape one document, run on the document found; the result replaces it,
// keeping its _id.

var updateStages = map[string]bool{
	"$addFields": true, "$set": true, "$project": true, "$unset": true, "$replaceRoot": true, "$replaceWith": true,
}

func (env *Env) pipelineUpdate(u bson.RawValue) (*Update, error) {
	var stages []bson.Raw
	for i, v := range values(u) {
		if !isDoc(v) {
			return nil, errorf(mongoerr.TypeMismatch, "Each element of the 'pipeline' array must be an object, but element %d is of type %s", i, typeName(v.Type))
		}
		it := newIter(v.Value)
		if name, _, ok := it.next(); ok && !updateStages[string(name)] {
			if _, _, more := it.next(); !more {
				return nil, errorf(mongoerr.InvalidOptions, "%s is not allowed to be used within an update", name)
			}
		}
		stages = append(stages, v.Value)
	}
	p, err := env.Pipeline(stages)
	if err != nil {
		return nil, err
	}
	return &Update{pipeline: p}, nil
}

func (u *Update) applyPipeline(doc []byte) (bson.Raw, error) {
	out, err := u.pipeline.Run([]bson.Raw{doc})
	if err != nil {
		return nil, err
	}
	return replace(doc, out[0])
}
