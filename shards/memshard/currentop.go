package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	clientcmd "github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards/memshard/query"
)

// The $currentOp stage (src/mongo/db/pipeline/document_source_current_op.cpp) and the currentOp
// command (src/mongo/db/commands/query_cmd/current_op.cpp, current_op_common.cpp) of a
// replica-set member: its operations in progress, and on request its idle connections, idle
// cursors and idle sessions (currentop_report.go).

// currentOpSpec is $currentOp's options (document_source_current_op.idl) with mongod's defaults.
type currentOpSpec struct {
	allUsers        bool // others' operations too (needs inprog); without auth everyone's anyway
	idleConnections bool
	idleCursors     bool
	idleSessions    bool // default true: transactions between their statements
	truncateOps     bool // a command over 1000 bytes is reported as a string prefix
}

const currentOpStage = "$currentOp"

// parseCurrentOpSpec reads the stage's argument as mongod does: the lite parse first (an object,
// allUsers and localOps booleans), then the namespace, then the strict IDL parse.
func parseCurrentOpSpec(v bsoncore.Value, r *request) (currentOpSpec, error) {
	spec := currentOpSpec{idleSessions: true}
	doc, ok := v.DocumentOK()
	if !ok {
		return spec, mongoerr.New(mongoerr.TypeMismatch, "$currentOp options must be specified in an object, but found: %s",
			mongoerr.TypeName(v.Type))
	}
	elems, _ := doc.Elements()
	for _, e := range elems {
		if k := e.Key(); (k == "allUsers" || k == "localOps") && e.Value().Type != bsoncore.TypeBoolean {
			return spec, mongoerr.New(mongoerr.TypeMismatch,
				"The '%s' parameter of the $currentOp stage must be a boolean value, but found: %s", k, mongoerr.TypeName(e.Value().Type))
		}
	}
	if _, isColl := r.body.Index(0).Value().StringValueOK(); isColl || r.db != "admin" {
		return spec, mongoerr.New(mongoerr.InvalidNamespace, "$currentOp must be run against the 'admin' database with {aggregate: 1}")
	}
	var localOps, targetAllNodes bool
	fields := map[string]*bool{
		"allUsers": &spec.allUsers, "idleConnections": &spec.idleConnections, "idleCursors": &spec.idleCursors,
		"idleSessions": &spec.idleSessions, "localOps": &localOps, "truncateOps": &spec.truncateOps,
		"targetAllNodes": &targetAllNodes,
	}
	seen := map[string]bool{}
	for _, e := range elems {
		k := e.Key()
		dst, known := fields[k]
		switch {
		case !known:
			return spec, mongoerr.New(mongoerr.IDLUnknownField, "BSON field '$currentOp.%s' is an unknown field.", k)
		case seen[k]:
			return spec, mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '$currentOp.%s' is a duplicate field", k)
		}
		seen[k] = true
		b, ok := e.Value().BooleanOK()
		if !ok { // OptionalBool::parseFromBSON
			return spec, mongoerr.New(mongoerr.TypeMismatch, "Field '%s' should be a boolean value, but found: %s", k, mongoerr.TypeName(e.Value().Type))
		}
		*dst = b
	}
	switch {
	case localOps && targetAllNodes:
		return spec, mongoerr.New(mongoerr.FailedToParse, "The 'localOps' parameter of the $currentOp stage cannot be true when 'targetAllNodes' is also true")
	case targetAllNodes: // a replica-set member is not part of a sharded cluster
		return spec, mongoerr.New(mongoerr.FailedToParse, "$currentOp supports targetAllNodes parameter only for sharded clusters")
	}
	return spec, nil
}

// cmdAggregateOrCurrentOp is aggregate, where a pipeline that starts with $currentOp reads this
// member's operations and one that starts with $collStats its statistics of the collection
// (collstatsstage.go); every other pipeline is cmdAggregate's.
func cmdAggregateOrCurrentOp(r *request) error {
	specs, err := r.docsArg("pipeline")
	if err != nil || r.boolArg("explain", false) {
		return cmdAggregate(r)
	}
	for i, s := range specs {
		if name := stageName(s); i > 0 && (name == currentOpStage || name == collStatsStage) {
			return mongoerr.New(40602, "%s is only valid as the first stage in a pipeline.", name)
		}
	}
	switch {
	case len(specs) == 0:
		return cmdAggregate(r)
	case stageName(specs[0]) == currentOpStage:
		return r.aggregateCurrentOp(specs)
	case stageName(specs[0]) == collStatsStage:
		return r.aggregateCollStats(specs)
	}
	return cmdAggregate(r)
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
	docs, err := runLater(specs, r.currentOps(spec))
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

// currentOpParams are the currentOp command's own fields; the others (generic arguments aside)
// are its filter.
var currentOpParams = map[string]bool{"$all": true, "$ownOps": true, "$truncateOps": true}

// cmdCurrentOp is {currentOp: 1, $all, $ownOps, <filter>}: $currentOp with idleConnections: $all,
// allUsers: !$ownOps and truncated operations, matched against the filter, answered as
// {inprog: [...]}. Without test commands the truncation cannot be turned off, as in mongod.
func cmdCurrentOp(r *request) error {
	spec := currentOpSpec{idleSessions: true, idleConnections: r.boolArg("$all", false),
		allUsers: !r.boolArg("$ownOps", false), truncateOps: !r.m.rs.opts.testCommands || r.boolArg("$truncateOps", true)}
	fb := bsoncore.NewDocumentBuilder()
	elems, _ := r.body.Elements()
	for i, e := range elems {
		if i == 0 || currentOpParams[e.Key()] || clientcmd.DispositionOf(e.KeyBytes()) != clientcmd.Own {
			continue
		}
		fb.AppendValue(e.Key(), e.Value())
	}
	f, err := query.NewFilter(bson.Raw(fb.Build()))
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
