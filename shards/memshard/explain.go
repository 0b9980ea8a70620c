package memshard

import (
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/memshard/query"
)

// explain for find, aggregate, count and distinct: the plan mongod's planner would pick over
// memshard's one index (_id), and with executionStats what running it examined. Only the fields
// tools commonly read are there.

// commandNames is the dispatch table's names; explain refers to it (a direct reference to
// commands would be an initialization cycle through cmdAggregate).
var commandNames = map[string]bool{}

func init() {
	for name := range commands {
		commandNames[name] = true
	}
}

var explainVerbosities = map[string]bool{"queryPlanner": true, "executionStats": true, "allPlansExecution": true}

// queryPlan is the access path of one read.
type queryPlan struct {
	coll   string
	filter *query.Filter
	query  bson.Raw // the filter as given
	sort   bson.Raw // non-empty: the order asked for
	idHack bool     // an _id equality: mongod's IDHACK
	idScan bool     // an _id range or an _id sort: FETCH over IXSCAN of _id_
	count  bool     // a COUNT stage on top
	skip   int
	limit  int
	rest   []bson.Raw // aggregate stages after what the query layer took
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
	if _, err := r.projectionArg("projection"); err != nil {
		return nil, err
	}
	if p.skip, err = r.intArg("skip", 0); err != nil {
		return nil, err
	}
	if p.limit, err = r.intArg("limit", 0); err != nil {
		return nil, err
	}
	if _, err := r.sortArg("sort"); err != nil {
		return nil, err
	}
	p.sort, _, _ = r.docArg("sort")
	p.plan(r.usesIDIndex(p.filter))
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
	p.plan(p.filter.UsesIDIndex())
	return p, nil
}

// aggregatePlan moves a leading $match and $sort into the query, as mongod's pipeline
// optimisation does; the other stages stay.
func (r *request) aggregatePlan() (*queryPlan, error) {
	specs, err := r.docsArg("pipeline")
	if err != nil {
		return nil, err
	}
	stages := make([]bson.Raw, len(specs))
	for i, d := range specs {
		stages[i] = bson.Raw(d)
	}
	// Validate as running would; a final $out or $merge is shown, not run.
	readStages, _, err := splitWriteStage(r.db, stages)
	if err != nil {
		return nil, err
	}
	if _, err := query.NewPipeline(readStages); err != nil {
		return nil, err
	}
	coll, err := r.collName()
	if err != nil {
		return nil, err
	}
	p := &queryPlan{coll: coll, filter: &query.Filter{}}
	for len(stages) > 0 {
		el, _ := stages[0].IndexErr(0)
		switch {
		case el.Key() == "$match" && p.query == nil:
			p.query, _ = el.Value().DocumentOK()
			if p.filter, err = query.NewFilter(p.query); err != nil {
				return nil, err
			}
		case el.Key() == "$sort" && p.sort == nil:
			p.sort, _ = el.Value().DocumentOK()
		default:
			p.rest = stages
			p.plan(p.usesIDIndex())
			return p, nil
		}
		stages = stages[1:]
	}
	p.plan(p.usesIDIndex())
	return p, nil
}

func (r *request) basePlan(filterKey string) (*queryPlan, error) {
	coll, err := r.collName()
	if err != nil {
		return nil, err
	}
	f, q, err := r.filterArg(filterKey)
	if err != nil {
		return nil, err
	}
	return &queryPlan{coll: coll, filter: f, query: q}, nil
}

func (p *queryPlan) usesIDIndex() bool {
	elems, _ := bsoncore.Document(p.sort).Elements()
	return p.filter.UsesIDIndex() || len(elems) == 1 && elems[0].Key() == "_id"
}

// plan picks the access path: IDHACK for an _id equality without a sort, the _id index when it
// bounds or orders the read, a collection scan otherwise.
func (p *queryPlan) plan(idIndex bool) {
	_, eq := p.filter.IDEquality()
	p.idHack = eq && len(p.sort) <= 5
	p.idScan = !p.idHack && idIndex
}

func (p *queryPlan) winningPlan() bsoncore.Document {
	var stage bsoncore.Document
	switch {
	case p.idHack:
		stage = bsoncore.NewDocumentBuilder().AppendString("stage", "IDHACK").Build()
	case p.idScan:
		dir := "forward"
		if v, ok := bsoncore.Document(p.sort).Lookup("_id").AsInt64OK(); ok && v < 0 {
			dir = "backward"
		}
		ixscan := bsoncore.NewDocumentBuilder().AppendString("stage", "IXSCAN").
			AppendDocument("keyPattern", bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).Build()).
			AppendString("indexName", "_id_").AppendBoolean("isMultiKey", false).AppendBoolean("isUnique", true).
			AppendInt32("indexVersion", 2).AppendString("direction", dir).Build()
		fetch := bsoncore.NewDocumentBuilder().AppendString("stage", "FETCH")
		if len(p.query) > 5 {
			fetch.AppendDocument("filter", p.query)
		}
		stage = fetch.AppendDocument("inputStage", ixscan).Build()
	default:
		scan := bsoncore.NewDocumentBuilder().AppendString("stage", "COLLSCAN")
		if len(p.query) > 5 {
			scan.AppendDocument("filter", p.query)
		}
		stage = scan.AppendString("direction", "forward").Build()
		if len(p.sort) > 5 {
			stage = bsoncore.NewDocumentBuilder().AppendString("stage", "SORT").AppendDocument("sortPattern", p.sort).
				AppendString("type", "simple").AppendDocument("inputStage", stage).Build()
		}
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
	st := &execStats{}
	err := r.read(p.coll, func(c *collection, view *txn) error {
		if c == nil {
			return nil
		}
		matched := len(c.matching(p.filter, view, false))
		switch {
		case p.idHack:
			st.keys, st.docs = matched, matched
		case p.idScan:
			st.keys, st.docs = matched, matched
			if len(p.query) <= 5 || !p.filter.UsesIDIndex() { // the index only orders: every key is read
				st.keys = len(c.scan(view, nil))
				st.docs = st.keys
			}
		default:
			st.docs = len(c.scan(view, nil))
		}
		st.returned = len(window(make([]struct{}, matched), p.skip, p.limit))
		if p.count {
			st.returned = 0 // COUNT returns the number, not documents
		}
		return nil
	})
	return st, err
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
