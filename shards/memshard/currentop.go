package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/currentop"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// The $currentOp stage (src/mongo/db/pipeline/document_source_current_op.cpp) and the currentOp
// command (src/mongo/db/commands/query_cmd/current_op.cpp, current_op_common.cpp) of a
// replica-set member: its operations in progress, and on request its idle connections, idle
// cursors and idle sessions (currentop_report.go).

// parseCurrentOpSpec reads the stage's argument as a replica-set member does: localOps and
// targetAllNodes belong to mongos.
func parseCurrentOpSpec(v bsoncore.Value, r *request) (currentop.Spec, error) {
	spec, err := currentop.Parse(v, r.body.Index(0).Value(), r.db)
	if err == nil && spec.TargetAllNodes {
		err = mongoerr.New(mongoerr.FailedToParse, "$currentOp supports targetAllNodes parameter only for sharded clusters")
	}
	return spec, err
}

// cmdAggregateOrCurrentOp is aggregate, where a pipeline that starts with $currentOp reads this
// member's operations; every other pipeline is cmdAggregate's.
func cmdAggregateOrCurrentOp(r *request) error {
	specs, err := r.docsArg("pipeline")
	if err != nil || r.boolArg("explain", false) {
		return cmdAggregate(r)
	}
	for i, s := range specs {
		if i > 0 && stageName(s) == currentop.Stage {
			return mongoerr.New(40602, "$currentOp is only valid as the first stage in a pipeline.")
		}
	}
	if len(specs) == 0 || stageName(specs[0]) != currentop.Stage {
		return cmdAggregate(r)
	}
	return r.aggregateCurrentOp(specs)
}

// stageName is the name of a pipeline stage ("" for an empty document).
func stageName(stage bsoncore.Document) string {
	if el, err := stage.IndexErr(0); err == nil {
		return el.Key()
	}
	return ""
}

func (r *request) aggregateCurrentOp(specs []bsoncore.Document) error {
	spec, err := parseCurrentOpSpec(specs[0].Index(0).Value(), r)
	if err != nil {
		return err
	}
	if r.txn != nil {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
			"Stage not supported inside of a multi-document transaction: $currentOp")
	}
	batchSize, err := r.aggregateBatchSize()
	if err != nil {
		return err
	}
	rest := make([]bson.Raw, len(specs)-1)
	for i, d := range specs[1:] {
		rest[i] = bson.Raw(d)
	}
	p, err := query.NewPipeline(rest)
	if err != nil {
		return err
	}
	docs, err := p.Run(r.currentOps(spec))
	if err != nil {
		return err
	}
	r.replyCursor(r.db+".$cmd.aggregate", docs, batchSize, false)
	return nil
}

// aggregateBatchSize reads aggregate's required cursor option.
func (r *request) aggregateBatchSize() (int, error) {
	cur, ok := r.body.Lookup("cursor").DocumentOK()
	if !ok {
		return 0, mongoerr.New(mongoerr.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument")
	}
	return intField(cur, "aggregate.cursor", "batchSize", defaultFirstBatch)
}

// cmdCurrentOp is {currentOp: 1, $all, $ownOps, <filter>} (currentop.FromCommand), answered as
// {inprog: [...]}. Without test commands the truncation cannot be turned off, as in mongod.
func cmdCurrentOp(r *request) error {
	spec, filter := currentop.FromCommand(r.body, r.m.rs.opts.testCommands)
	f, err := query.NewFilter(bson.Raw(filter))
	if err != nil {
		return err
	}
	idx, out := bsoncore.AppendArrayElementStart(r.out, "inprog")
	n := 0
	for _, d := range r.currentOps(spec) {
		if f.Match(d) {
			out = bsoncore.AppendDocumentElement(out, arrayKey(n), d)
			n++
		}
	}
	r.out, _ = bsoncore.AppendArrayEnd(out, idx)
	return nil
}
