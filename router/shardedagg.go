package router

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
	"github.com/mongos-lite/mongos-lite/topology"
)

// An aggregate of a sharded collection is split as mongos splits it
// (src/mongo/db/pipeline/sharded_agg_helpers.cpp): the shards run the stages up to the first
// one that needs every shard's documents, and the router the rest. At a $sort the shards sort
// and the router merges their sorted streams; at a $limit both limit; at a $group each shard
// groups its own documents and the router groups the groups; from a $skip on, or any other
// stage, the router runs the stages over everything the shards return.

// shardedStages are the stages an aggregate of a sharded collection may use: those the router
// can split or run itself (internal/query's pipeline). Any other is refused by name.
var shardedStages = map[string]bool{
	"$match": true, "$project": true, "$addFields": true, "$set": true, "$unset": true,
	"$replaceRoot": true, "$replaceWith": true, "$unwind": true, "$sort": true, "$skip": true,
	"$limit": true, "$group": true, "$count": true, "$sortByCount": true,
}

// streamingStages transform each document on its own: the shards can run them.
var streamingStages = map[string]bool{
	"$match": true, "$project": true, "$addFields": true, "$set": true, "$unset": true,
	"$replaceRoot": true, "$replaceWith": true, "$unwind": true,
}

// aggPlan is an aggregate split between the shards and the router.
type aggPlan struct {
	shard []bsoncore.Document // what each shard runs
	sort  bsoncore.Document   // the shards' last stage is this $sort: the router merges by it
	skip  int64               // the merger's skip and limit (-1: none), folded from the stages
	limit int64               // right after the split
	rest  []bson.Raw          // what the router runs over all the shards return
}

// splitPipeline splits stages; ns names the collection in refusals.
func splitPipeline(stages []bsoncore.Document, ns string) (aggPlan, error) {
	p := aggPlan{limit: -1}
	for _, s := range stages {
		if name := string(bsonview.FirstKey(s)); !shardedStages[name] {
			return p, mongoerr.New(mongoerr.CommandNotSupported,
				"mongos-lite does not run %s on the sharded collection %s: it splits $match, $project, $addFields, "+
					"$set, $unset, $replaceRoot, $replaceWith, $unwind, $sort, $skip, $limit, $group, $count and "+
					"$sortByCount between the shards and itself, and no stage that reads or writes another collection", name, ns)
		}
	}
	i := 0
	for i < len(stages) && streamingStages[string(bsonview.FirstKey(stages[i]))] {
		p.shard = append(p.shard, stages[i])
		i++
	}
	if i == len(stages) {
		return p, nil
	}
	s := stages[i]
	v := s.Index(0).Value()
	switch string(bsonview.FirstKey(s)) {
	case "$sort":
		p.sort, _ = v.DocumentOK()
		p.shard = append(p.shard, s)
		i++
		// A $skip and $limit right after the sort: the router applies them while merging, and
		// the shards stop at skip+limit.
	fold:
		for ; i < len(stages); i++ {
			n, ok := stages[i].Index(0).Value().AsInt64OK()
			switch name := string(bsonview.FirstKey(stages[i])); {
			case name == "$skip" && ok && n >= 0 && p.limit < 0:
				p.skip += n
			case name == "$limit" && ok && n > 0:
				if p.limit < 0 || n < p.limit {
					p.limit = n
				}
			default:
				break fold
			}
		}
		if p.limit >= 0 {
			p.shard = append(p.shard, stageDoc("$limit", bsoncore.Value{Type: bsoncore.TypeInt64,
				Data: bsoncore.AppendInt64(nil, p.skip+p.limit)}))
		}
	case "$limit":
		p.shard = append(p.shard, s)
		p.limit, _ = v.AsInt64OK()
		i++
	case "$group":
		partial, merge, err := splitGroup(s)
		if err != nil {
			return p, err
		}
		p.shard = append(p.shard, partial)
		p.rest = append(p.rest, merge...)
		i++
	case "$count", "$sortByCount":
		expanded, err := expandStage(s)
		if err != nil {
			return p, err
		}
		sub, err := splitPipeline(append(expanded, stages[i+1:]...), ns)
		if err != nil {
			return p, err
		}
		sub.shard = append(p.shard, sub.shard...)
		return sub, nil
	}
	for _, s := range stages[i:] {
		p.rest = append(p.rest, bson.Raw(s))
	}
	return p, nil
}

func stageDoc(name string, v bsoncore.Value) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().AppendValue(name, v).Build()
}

// expandStage is $count and $sortByCount as the $group (and $sort) they stand for.
func expandStage(s bsoncore.Document) ([]bsoncore.Document, error) {
	v := s.Index(0).Value()
	sum1 := bsoncore.NewDocumentBuilder().AppendInt32("$sum", 1).Build()
	if string(bsonview.FirstKey(s)) == "$count" {
		name, ok := v.StringValueOK()
		if !ok || name == "" {
			return nil, mongoerr.New(40156, "the count field must be a non-empty string")
		}
		return []bsoncore.Document{
			bsoncore.NewDocumentBuilder().AppendDocument("$group", bsoncore.NewDocumentBuilder().
				AppendNull("_id").AppendDocument(name, sum1).Build()).Build(),
			bsoncore.NewDocumentBuilder().AppendDocument("$project", bsoncore.NewDocumentBuilder().
				AppendInt32("_id", 0).AppendInt32(name, 1).Build()).Build(),
		}, nil
	}
	return []bsoncore.Document{
		bsoncore.NewDocumentBuilder().AppendDocument("$group", bsoncore.NewDocumentBuilder().
			AppendValue("_id", v).AppendDocument("count", sum1).Build()).Build(),
		bsoncore.NewDocumentBuilder().AppendDocument("$sort", bsoncore.NewDocumentBuilder().
			AppendInt32("count", -1).Build()).Build(),
	}, nil
}

// splitGroup is a $group as each shard's partial $group and the router's merge of the partial
// groups: sums, counts, minima, maxima, firsts and lasts of the shards' groups; an average from
// each shard's sum and count of numbers; pushes and sets concatenated (and deduplicated) by
// mergeArrays after the merge.
func splitGroup(s bsoncore.Document) (partial bsoncore.Document, merge []bson.Raw, err error) {
	spec, ok := s.Index(0).Value().DocumentOK()
	if !ok {
		return nil, nil, mongoerr.New(15947, "a group's fields must be specified in an object")
	}
	shard := bsoncore.NewDocumentBuilder()
	router := bsoncore.NewDocumentBuilder()
	final := bsoncore.NewDocumentBuilder().AppendString("_id", "$_id")
	var arrays []bsoncore.Document
	hasAvg := false
	for _, el := range mustElements(spec) {
		name := el.Key()
		if name == "_id" {
			shard.AppendValue("_id", el.Value())
			router.AppendString("_id", "$_id")
			continue
		}
		acc, _ := el.Value().DocumentOK()
		op := string(bsonview.FirstKey(acc))
		arg := acc.Index(0).Value()
		field := "$" + name
		switch op {
		case "$sum", "$count", "$min", "$max", "$first", "$last":
			shard.AppendDocument(name, acc)
			if op == "$count" {
				op = "$sum"
			}
			router.AppendDocument(name, bsoncore.NewDocumentBuilder().AppendString(op, field).Build())
			final.AppendString(name, field)
		case "$avg":
			hasAvg = true
			sumField, nField := "__avg_sum_"+name, "__avg_n_"+name
			shard.AppendDocument(sumField, bsoncore.NewDocumentBuilder().AppendValue("$sum", arg).Build())
			shard.AppendDocument(nField, bsoncore.NewDocumentBuilder().AppendDocument("$sum", countNumbers(arg)).Build())
			router.AppendDocument(sumField, bsoncore.NewDocumentBuilder().AppendString("$sum", "$"+sumField).Build())
			router.AppendDocument(nField, bsoncore.NewDocumentBuilder().AppendString("$sum", "$"+nField).Build())
			final.AppendDocument(name, averageOf("$"+sumField, "$"+nField))
		case "$push", "$addToSet":
			shard.AppendDocument(name, acc)
			router.AppendDocument(name, bsoncore.NewDocumentBuilder().AppendString("$push", field).Build())
			final.AppendString(name, field)
			arrays = append(arrays, bsoncore.NewDocumentBuilder().AppendString("field", name).
				AppendBoolean("set", op == "$addToSet").Build())
		default:
			return nil, nil, mongoerr.New(mongoerr.CommandNotSupported,
				"mongos-lite does not merge the accumulator %s of a $group across shards", op)
		}
	}
	partial = bsoncore.NewDocumentBuilder().AppendDocument("$group", shard.Build()).Build()
	merge = []bson.Raw{bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("$group", router.Build()).Build())}
	if hasAvg {
		merge = append(merge, bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("$replaceRoot",
			bsoncore.NewDocumentBuilder().AppendDocument("newRoot", final.Build()).Build()).Build()))
	}
	for _, a := range arrays {
		merge = append(merge, bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument(mergeArraysStage, a).Build()))
	}
	return partial, merge, nil
}

func mustElements(doc bsoncore.Document) []bsoncore.Element {
	els, _ := doc.Elements()
	return els
}

// countNumbers is {$cond: [{$in: [{$type: arg}, [numeric types]]}, 1, 0]}: $avg counts only
// numbers.
func countNumbers(arg bsoncore.Value) bsoncore.Document {
	types := bsoncore.BuildArray(nil,
		bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, "int")},
		bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, "long")},
		bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, "double")},
		bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, "decimal")})
	typeOf := bsoncore.NewDocumentBuilder().AppendValue("$type", arg).Build()
	in := bsoncore.NewDocumentBuilder().AppendArray("$in", bsoncore.BuildArray(nil,
		bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: typeOf},
		bsoncore.Value{Type: bsoncore.TypeArray, Data: types})).Build()
	return bsoncore.NewDocumentBuilder().AppendArray("$cond", bsoncore.BuildArray(nil,
		bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: in},
		bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 1)},
		bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 0)})).Build()
}

// averageOf is {$cond: [{$eq: [n, 0]}, null, {$divide: [sum, n]}]}.
func averageOf(sum, n string) bsoncore.Document {
	str := func(s string) bsoncore.Value {
		return bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, s)}
	}
	zero := bsoncore.NewDocumentBuilder().AppendArray("$eq", bsoncore.BuildArray(nil, str(n),
		bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 0)})).Build()
	divide := bsoncore.NewDocumentBuilder().AppendArray("$divide", bsoncore.BuildArray(nil, str(sum), str(n))).Build()
	return bsoncore.NewDocumentBuilder().AppendArray("$cond", bsoncore.BuildArray(nil,
		bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: zero},
		bsoncore.Value{Type: bsoncore.TypeNull},
		bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: divide})).Build()
}

// mergeArraysStage is the router's own step after merging $push and $addToSet partials: the
// shards' arrays of a group concatenated (a set's deduplicated).
const mergeArraysStage = "$__mongosLiteMergeArrays"

// aggregateRouted routes an aggregate of a collection by its routing table.
func (c *conn) aggregateRouted(ctx context.Context, r *request, stages []bsoncore.Document) (bsoncore.Document, error) {
	coll, _ := bsonview.Lookup(r.Body, "aggregate")
	name, isColl := coll.StringValueOK()
	if !isColl {
		if nss := otherNamespaces(string(r.DB), stages); len(nss) > 0 {
			rt, err := c.s.cluster.Routing(ctx, string(r.DB), "")
			if err != nil {
				return nil, mongoerr.As(err)
			}
			if err := c.checkNamespaces(ctx, r, nss, rt.Primary); err != nil {
				return nil, err
			}
		}
		return c.forwardToPrimary(ctx, r, false)
	}
	var filter bsoncore.Document
	if len(stages) > 0 && string(bsonview.FirstKey(stages[0])) == "$match" {
		filter, _ = stages[0].Index(0).Value().DocumentOK()
	}
	collation, _ := docField(r.Body, "collation")
	rt, targets, err := c.readTargets(ctx, r, name, filter, collation)
	if err != nil {
		return nil, err
	}
	if len(targets) == 1 {
		if err := c.checkOtherNamespaces(ctx, r, stages, targets[0]); err != nil {
			return nil, err
		}
		return c.forwardTo(ctx, r, targets[0])
	}
	return c.scatterAggregate(ctx, r, rt, targets, stages)
}

// scatterAggregate runs the split pipeline: the shards' part on every target, merged, then the
// router's part over all of it.
func (c *conn) scatterAggregate(ctx context.Context, r *request, rt *topology.Routing, targets []int, stages []bsoncore.Document) (bsoncore.Document, error) {
	if aggregateWrites(r.Body) {
		return nil, mongoerr.New(mongoerr.CommandNotSupported,
			"mongos-lite does not write from the sharded collection %s with $out or $merge", rt.NS)
	}
	if trueFlag(r.Body, "explain") { // {aggregate, explain: true} is explain's queryPlanner verbosity
		return c.explainAggregate(ctx, r, r.Body, stages, targets, bsoncore.Value{})
	}
	plan, err := splitPipeline(stages, rt.NS)
	if err != nil {
		return nil, err
	}
	collSpec, _ := docField(r.Body, "collation")
	let, _ := docField(r.Body, "let")
	collation, err := query.NewCollation(bson.Raw(collSpec))
	if err != nil {
		return nil, err
	}
	env, err := query.NewEnv(bson.Raw(let), collation, time.Now())
	if err != nil {
		return nil, err
	}
	rest, err := compileRest(env, plan.rest)
	if err != nil {
		return nil, err
	}
	m := &merger{db: string(r.DB), coll: rt.NS[len(r.DB)+1:], skip: plan.skip, limit: plan.limit,
		sortFromDocs: true}
	if len(plan.sort) > 0 {
		if m.sort, err = env.Sort(bson.Raw(plan.sort)); err != nil {
			return nil, err
		}
	}
	if err := c.openParts(ctx, r, m, rt.NS, targets, shardAggregate(r.Body, plan.shard)); err != nil {
		return nil, err
	}
	if rest != nil {
		// The router's part needs everything: read the shards to the end.
		var all []bson.Raw
		for !m.done() {
			docs, err := m.next(ctx, c, r, 0)
			if err != nil {
				c.s.killParts(rt.NS, m.parts)
				return nil, err
			}
			for _, d := range docs {
				all = append(all, bson.Raw(d))
			}
		}
		out, err := rest.run(all)
		if err != nil {
			return nil, err
		}
		return c.queuedCursor(r, rt.NS, rawDocs(out))
	}
	batchSize, err := firstBatchSize(r)
	if err != nil {
		c.s.killParts(rt.NS, m.parts)
		return nil, err
	}
	var docs []bsoncore.Document
	if batchSize != 0 {
		if docs, err = m.next(ctx, c, r, batchSize); err != nil {
			c.s.killParts(rt.NS, m.parts)
			return nil, err
		}
	}
	var id int64
	if m.done() {
		c.s.killParts(rt.NS, m.parts)
	} else {
		if id, err = c.s.cursors.Register(clustercursor.Spec{NS: rt.NS, Binding: binding(r), Remotes: remotesOf(m.parts),
			Originating: bytes.Clone(r.Body), Merge: m}); err != nil {
			return nil, err
		}
		c.addSessionCursor(r, id)
	}
	return cursorBatchReply(rt.NS, "firstBatch", id, docs, false), nil
}

// shardAggregate is the aggregate each shard runs: the client's, with the shards' stages.
func shardAggregate(body bsoncore.Document, stages []bsoncore.Document) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(body, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) != "pipeline" {
			dst = append(dst, el...)
			return true
		}
		aidx, d := bsoncore.AppendArrayElementStart(dst, "pipeline")
		for i, s := range stages {
			d = bsoncore.AppendDocumentElement(d, strconv.Itoa(i), s)
		}
		dst, _ = bsoncore.AppendArrayEnd(d, aidx)
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// routerStages is the router's part of a split aggregate: internal/query pipelines, with the
// merge of $push and $addToSet partials between them.
type routerStages struct {
	steps []routerStep
}

type routerStep struct {
	pipeline *query.Pipeline
	field    string // a merge of arrays, when pipeline is nil
	set      bool
	coll     *query.Collation
}

// compileRest compiles the router's part (nil: none).
func compileRest(env *query.Env, stages []bson.Raw) (*routerStages, error) {
	if len(stages) == 0 {
		return nil, nil
	}
	rs := &routerStages{}
	var run []bson.Raw
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		p, err := env.Pipeline(run)
		if err != nil {
			return err
		}
		rs.steps = append(rs.steps, routerStep{pipeline: p})
		run = nil
		return nil
	}
	for _, s := range stages {
		if string(bsonview.FirstKey(bsoncore.Document(s))) != mergeArraysStage {
			run = append(run, s)
			continue
		}
		if err := flush(); err != nil {
			return nil, err
		}
		spec := s.Lookup(mergeArraysStage)
		field, _ := spec.Document().Lookup("field").StringValueOK()
		set, _ := spec.Document().Lookup("set").BooleanOK()
		rs.steps = append(rs.steps, routerStep{field: field, set: set, coll: env.Collation})
	}
	return rs, flush()
}

func (rs *routerStages) run(docs []bson.Raw) ([]bson.Raw, error) {
	var err error
	for _, st := range rs.steps {
		if st.pipeline != nil {
			if docs, err = st.pipeline.Run(docs); err != nil {
				return nil, err
			}
			continue
		}
		for i, d := range docs {
			docs[i] = flattenField(d, st.field, st.set, st.coll)
		}
	}
	return docs, nil
}

// flattenField replaces doc's array of arrays under field by their concatenation, each value once
// (by the collation) for a set.
func flattenField(doc bson.Raw, field string, set bool, coll *query.Collation) bson.Raw {
	seen := map[string]bool{}
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(doc)))
	bsonview.Each(bsoncore.Document(doc), func(el bsoncore.Element) bool {
		outer, ok := el.Value().ArrayOK()
		if string(el.KeyBytes()) != field || !ok {
			dst = append(dst, el...)
			return true
		}
		aidx, a := bsoncore.AppendArrayElementStart(dst, field)
		n := 0
		bsonview.Each(bsoncore.Document(outer), func(part bsoncore.Element) bool {
			inner, _ := part.Value().ArrayOK()
			bsonview.Each(bsoncore.Document(inner), func(v bsoncore.Element) bool {
				val := v.Value()
				if set {
					key := coll.IndexKey(bson.RawValue{Type: bson.Type(val.Type), Value: val.Data})
					if seen[key] {
						return true
					}
					seen[key] = true
				}
				a = bsoncore.AppendValueElement(a, strconv.Itoa(n), val)
				n++
				return true
			})
			return true
		})
		dst, _ = bsoncore.AppendArrayEnd(a, aidx)
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
