package memshard

import (
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// explain for find, aggregate, count and distinct: the plan memshard's planner picked (plan.go)
// in the shape mongod's explain gives it (plan_explainer_impl.cpp), and with executionStats what
// running it examined. Only the fields tools commonly read are there.

// commandNames is the dispatch table's names; explain refers to it (a direct reference to
// commands would be an initialization cycle through cmdAggregate).
var commandNames = map[string]bool{}

func init() {
	for name := range commands {
		commandNames[name] = true
	}
}

var explainVerbosities = map[string]bool{"queryPlanner": true, "executionStats": true, "allPlansExecution": true}

// queryPlan is one read being explained.
type queryPlan struct {
	coll  string
	q     querySpec
	query bson.Raw // the filter as given
	count bool     // a COUNT stage on top
	skip  int
	limit int
	rest  []bson.Raw // aggregate stages after what the query layer took
	a     *access    // the access the planner chose
}

func cmdExplain(r *request) error {
	v := r.body.Index(0).Value()
	inner, ok := v.DocumentOK()
	if !ok {
		return mongoerr.WrongType("explain.explain", v.Type, "object")
	}
	verbosity, err := r.stringArg("verbosity", false)
	switch {
	case err != nil:
		return err
	case verbosity == "":
		verbosity = "allPlansExecution"
	case !explainVerbosities[verbosity]:
		return mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field 'explain.verbosity' is not a valid value.", verbosity)
	}
	sub := *r
	sub.body, sub.name = inner, wire.CommandName(inner)
	return sub.explain(r, verbosity)
}

// explain answers for the command in r.body into out's reply.
func (r *request) explain(out *request, verbosity string) error {
	var p *queryPlan
	var err error
	switch r.name {
	case "find":
		p, err = r.findPlan()
	case "count", "distinct":
		p, err = r.countPlan()
	case "aggregate":
		p, err = r.aggregatePlan()
	case "update", "delete", "findAndModify":
		return mongoerr.New(mongoerr.BadValue, "memshard does not support explain of %s", r.name)
	default:
		if !commandNames[r.name] {
			return mongoerr.New(mongoerr.CommandNotFound, "Explain failed due to unknown command: %s", r.name)
		}
		return mongoerr.New(mongoerr.IllegalOperation, "Cannot explain cmd: %s", r.name)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	var stats *execStats
	if verbosity != "queryPlanner" {
		if stats, err = r.examine(p); err != nil {
			return err
		}
	} else if err := r.choose(p); err != nil {
		return err
	}
	planner := p.plannerDoc(r.ns(p.coll))
	dst := bsoncore.AppendStringElement(out.out, "explainVersion", "1")
	if len(p.rest) == 0 {
		dst = bsoncore.AppendDocumentElement(dst, "queryPlanner", planner)
		if stats != nil {
			dst = bsoncore.AppendDocumentElement(dst, "executionStats", stats.doc(p, verbosity, time.Since(start)))
		}
	} else { // the stages the query layer did not take stay in the pipeline
		cursor := bsoncore.NewDocumentBuilder().AppendDocument("queryPlanner", planner)
		if stats != nil {
			cursor.AppendDocument("executionStats", stats.doc(p, verbosity, time.Since(start)))
		}
		idx, arr := bsoncore.AppendArrayElementStart(dst, "stages")
		arr = bsoncore.AppendDocumentElement(arr, "0", bsoncore.NewDocumentBuilder().AppendDocument("$cursor", cursor.Build()).Build())
		for i, st := range p.rest {
			arr = bsoncore.AppendDocumentElement(arr, arrayKey(i+1), st)
		}
		dst, _ = bsoncore.AppendArrayEnd(arr, idx)
	}
	dst = bsoncore.AppendDocumentElement(dst, "command", withElement(r.body, bsoncore.AppendStringElement(nil, "$db", r.db)))
	host, port, _ := strings.Cut(r.m.host, ":")
	dst = bsoncore.AppendDocumentElement(dst, "serverInfo", bsoncore.NewDocumentBuilder().AppendString("host", host).
		AppendString("port", port).AppendString("version", serverVersion).AppendString("gitVersion", "memshard").Build())
	out.out = dst
	return nil
}

func (r *request) findPlan() (*queryPlan, error) {
	p, err := r.basePlan("filter")
	if err != nil {
		return nil, err
	}
	if _, _, err := r.findProjection(); err != nil {
		return nil, err
	}
	if p.skip, err = r.intArg("skip", 0); err != nil {
		return nil, err
	}
	if p.limit, err = r.intArg("limit", 0); err != nil {
		return nil, err
	}
	return p, nil
}

func (r *request) countPlan() (*queryPlan, error) {
	p, err := r.basePlan("query")
	if err != nil {
		return nil, err
	}
	if r.name == "distinct" {
		if _, err := r.stringArg("key", true); err != nil {
			return nil, err
		}
	}
	p.count = r.name == "count"
	return p, nil
}

// aggregatePlan moves a leading $match and $sort into the query, as mongod's pipeline
// optimisation does; the other stages stay.
func (r *request) aggregatePlan() (*queryPlan, error) {
	stages, err := r.stagesArg()
	if err != nil {
		return nil, err
	}
	env, err := r.queryEnv()
	if err != nil {
		return nil, err
	}
	// Validate as running would; a final $out or $merge is shown, not run.
	readStages, _, err := splitWriteStage(r.db, stages)
	if err != nil {
		return nil, err
	}
	if _, err := env.Pipeline(readStages); err != nil {
		return nil, err
	}
	coll, err := r.collName()
	if err != nil {
		return nil, err
	}
	p := &queryPlan{coll: coll}
	if p.q, p.rest, err = r.pipelineQuery(env, stages); err != nil {
		return nil, err
	}
	if len(stages) > 0 && len(p.rest) < len(stages) {
		if el, _ := stages[0].IndexErr(0); el.Key() == "$match" {
			p.query, _ = el.Value().DocumentOK()
		}
	}
	return p, nil
}

func (r *request) basePlan(filterKey string) (*queryPlan, error) {
	coll, err := r.collName()
	if err != nil {
		return nil, err
	}
	q, err := r.readSpec(filterKey)
	if err != nil {
		return nil, err
	}
	query, _, _ := r.docArg(filterKey)
	return &queryPlan{coll: coll, q: q, query: query}, nil
}

// choose runs the planner (without running the plan).
func (r *request) choose(p *queryPlan) error {
	return r.read(p.coll, func(c *collection, _ *txn) error {
		if c != nil && c.meta.view != nil {
			p.a = &access{kind: collScan}
			return nil
		}
		var err error
		p.a, err = c.plan(p.q)
		return err
	})
}

func (p *queryPlan) winningPlan() bsoncore.Document {
	var stage bsoncore.Document
	switch a := p.a; a.kind {
	case idHack:
		stage = bsoncore.NewDocumentBuilder().AppendString("stage", "IDHACK").Build()
	case ixScan:
		fetch := bsoncore.NewDocumentBuilder().AppendString("stage", "FETCH")
		if p.residual() {
			fetch.AppendDocument("filter", p.query)
		}
		stage = fetch.AppendDocument("inputStage", a.ixscanStage()).Build()
	default:
		scan := bsoncore.NewDocumentBuilder().AppendString("stage", "COLLSCAN")
		if len(p.query) > 5 {
			scan.AppendDocument("filter", p.query)
		}
		dir := "forward"
		if a.backward {
			dir = "backward"
		}
		stage = scan.AppendString("direction", dir).Build()
	}
	if len(p.q.sort) > 5 && !p.a.sorted {
		stage = bsoncore.NewDocumentBuilder().AppendString("stage", "SORT").AppendDocument("sortPattern", p.q.sort).
			AppendString("type", "simple").AppendDocument("inputStage", stage).Build()
	}
	if p.skip > 0 {
		stage = bsoncore.NewDocumentBuilder().AppendString("stage", "SKIP").AppendInt64("skipAmount", int64(p.skip)).
			AppendDocument("inputStage", stage).Build()
	}
	if p.limit > 0 {
		stage = bsoncore.NewDocumentBuilder().AppendString("stage", "LIMIT").AppendInt64("limitAmount", int64(p.limit)).
			AppendDocument("inputStage", stage).Build()
	}
	if p.count {
		stage = bsoncore.NewDocumentBuilder().AppendString("stage", "COUNT").AppendDocument("inputStage", stage).Build()
	}
	return stage
}

// residual reports whether the filter constrains paths the index bounds do not settle, so the
// FETCH stage filters.
func (p *queryPlan) residual() bool {
	for _, path := range p.q.filter.Paths() {
		ivs, ok := p.q.filter.Bounds(path, p.a.ix.multikey)
		if !ok || !slices.Contains(p.a.ix.fields, path) || !allPoints(ivs) && len(ivs) != 1 {
			return true
		}
	}
	return len(p.q.filter.Paths()) == 0 && len(p.query) > 5
}

// ixscanStage is explain's IXSCAN stage.
func (a *access) ixscanStage() bsoncore.Document {
	ix := a.ix
	multiKeyPaths := bsoncore.NewDocumentBuilder()
	bounds := bsoncore.NewDocumentBuilder()
	for i, f := range ix.fields {
		multiKeyPaths.AppendArray(f, bsoncore.NewArrayBuilder().Build())
		desc := (ix.dirs[i] < 0) != a.backward
		bounds.AppendArray(f, query.BoundsArray(a.bounds[i], desc))
	}
	dir := "forward"
	if a.backward {
		dir = "backward"
	}
	return bsoncore.NewDocumentBuilder().AppendString("stage", "IXSCAN").AppendDocument("keyPattern", ix.keyDoc).
		AppendString("indexName", ix.name).AppendBoolean("isMultiKey", ix.multikey).
		AppendDocument("multiKeyPaths", multiKeyPaths.Build()).AppendBoolean("isUnique", ix.unique).
		AppendBoolean("isSparse", ix.sparse).AppendBoolean("isPartial", ix.partial != nil).AppendInt32("indexVersion", 2).
		AppendString("direction", dir).AppendDocument("indexBounds", bounds.Build()).Build()
}

func (p *queryPlan) plannerDoc(ns string) bsoncore.Document {
	parsed := p.query
	if len(parsed) == 0 {
		parsed = bson.Raw(bsoncore.NewDocumentBuilder().Build())
	}
	return bsoncore.NewDocumentBuilder().AppendString("namespace", ns).AppendDocument("parsedQuery", parsed).
		AppendBoolean("indexFilterSet", false).AppendBoolean("maxIndexedOrSolutionsReached", false).
		AppendBoolean("maxIndexedAndSolutionsReached", false).AppendBoolean("maxScansToExplodeReached", false).
		AppendDocument("winningPlan", p.winningPlan()).AppendArray("rejectedPlans", bsoncore.NewArrayBuilder().Build()).Build()
}

// execStats is what running a plan examined.
type execStats struct {
	returned, keys, docs int
}

// examine runs the plan's read and counts what it examined.
func (r *request) examine(p *queryPlan) (*execStats, error) {
	rows, a, st, err := r.readQuery(p.coll, p.q)
	if err != nil {
		return nil, err
	}
	p.a = a
	out := &execStats{keys: st.keys, docs: st.docs, returned: len(window(rows, p.skip, p.limit))}
	if p.count {
		out.returned = 0 // COUNT returns the number, not documents
	}
	return out, nil
}

func (st *execStats) doc(p *queryPlan, verbosity string, took time.Duration) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendBoolean("executionSuccess", true).AppendInt32("nReturned", int32(st.returned)).
		AppendInt64("executionTimeMillis", took.Milliseconds()).AppendInt32("totalKeysExamined", int32(st.keys)).
		AppendInt32("totalDocsExamined", int32(st.docs))
	b.AppendDocument("executionStages", withElement(p.winningPlan(), bsoncore.AppendInt32Element(nil, "nReturned", int32(st.returned))))
	if verbosity == "allPlansExecution" {
		b.AppendArray("allPlansExecution", bsoncore.NewArrayBuilder().Build())
	}
	return b.Build()
}
