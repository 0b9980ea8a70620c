package router

import (
	"context"
	"net"
	"os"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
)

// explain of a read of a sharded collection answers in mongos's shape
// (src/mongo/s/commands/cluster_explain.cpp, cluster_aggregate.cpp): every targeted shard
// explains its part, and the router names how it merges them (SINGLE_SHARD, SHARD_MERGE,
// SHARD_MERGE_SORT; an aggregate's split pipeline). Any other explain goes to its database's
// primary shard, as before.

// explainRouted serves explain.
func (c *conn) explainRouted(ctx context.Context, r *request) (bsoncore.Document, error) {
	v, _ := bsonview.Lookup(r.Body, "explain")
	inner, ok := v.DocumentOK()
	if !ok {
		return c.forwardToPrimary(ctx, r, false)
	}
	name := string(bsonview.FirstKey(inner))
	collV, _ := bsonview.Lookup(inner, name)
	coll, isColl := collV.StringValueOK()
	filterKey := map[string]string{"find": "filter", "count": "query", "distinct": "query", "aggregate": ""}
	key, reads := filterKey[name]
	if !reads || !isColl {
		return c.forwardToPrimary(ctx, r, false)
	}
	var filter bsoncore.Document
	stages := pipelineStages(inner)
	if key != "" {
		filter, _ = docField(inner, key)
	} else if len(stages) > 0 && string(bsonview.FirstKey(stages[0])) == "$match" {
		filter, _ = stages[0].Index(0).Value().DocumentOK()
	}
	collation, _ := docField(inner, "collation")
	rt, targets, err := c.readTargets(ctx, r, coll, filter, collation)
	if err != nil {
		return nil, err
	}
	if !rt.Sharded {
		return c.forwardToPrimary(ctx, r, false)
	}
	verbosity, _ := bsonview.Lookup(r.Body, "verbosity")
	if name == "aggregate" {
		return c.explainAggregate(ctx, r, inner, stages, targets, verbosity)
	}
	shardCmd, stage := inner, "SINGLE_SHARD"
	if len(targets) > 1 {
		stage = "SHARD_MERGE"
		switch name {
		case "find":
			find := *r
			find.Body = inner
			shape, err := parseFindShape(&find)
			if err != nil {
				return nil, err
			}
			if shardCmd = shardFind(inner, shape); len(shape.sort) > 5 {
				stage = "SHARD_MERGE_SORT"
			}
		}
	}
	calls, err := c.callTargets(ctx, r, targets, explainCommand(shardCmd, verbosity))
	if err != nil {
		return nil, err
	}
	return c.mergedExplain(stage, inner, calls), nil
}

// pipelineStages are an aggregate's stages.
func pipelineStages(body bsoncore.Document) []bsoncore.Document {
	pv, _ := bsonview.Lookup(body, "pipeline")
	arr, _ := pv.ArrayOK()
	return stagesOf(arr)
}

// explainCommand is {explain: cmd, verbosity} (cmd without its $db, which the whole carries).
func explainCommand(cmd bsoncore.Document, verbosity bsoncore.Value) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendDocument("explain", withoutField(cmd, "$db"))
	if verbosity.Type != 0 {
		b.AppendValue("verbosity", verbosity)
	}
	return b.Build()
}

// mergedExplain is mongos's explain of a find, count or distinct over shards: queryPlanner and
// executionStats name the merge stage and hold each shard's part.
func (c *conn) mergedExplain(stage string, inner bsoncore.Document, calls []*shardCall) bsoncore.Document {
	planner := bsoncore.NewDocumentBuilder().AppendInt32("mongosPlannerVersion", 1)
	pidx, shardsPlan := bsoncore.AppendArrayStart(nil)
	var stats bsoncore.Document
	var nReturned, keys, docs, millis int64
	eidx, shardsExec := bsoncore.AppendArrayStart(nil)
	for i, call := range calls {
		reply := call.reply.Body
		sh := c.s.cluster.Shard(call.shard)
		qp, _ := docField(reply, "queryPlanner")
		entry := bsoncore.NewDocumentBuilder().AppendString("shardName", call.name).
			AppendString("connectionString", connString(sh))
		if info, ok := docField(reply, "serverInfo"); ok {
			entry.AppendDocument("serverInfo", info)
		}
		bsonview.Each(qp, func(el bsoncore.Element) bool {
			entry.AppendValue(el.Key(), el.Value())
			return true
		})
		shardsPlan = bsoncore.AppendDocumentElement(shardsPlan, strconv.Itoa(i), entry.Build())
		if es, ok := docField(reply, "executionStats"); ok {
			stats = es
			n, _ := es.Lookup("nReturned").AsInt64OK()
			k, _ := es.Lookup("totalKeysExamined").AsInt64OK()
			d, _ := es.Lookup("totalDocsExamined").AsInt64OK()
			ms, _ := es.Lookup("executionTimeMillis").AsInt64OK()
			nReturned, keys, docs, millis = nReturned+n, keys+k, docs+d, max(millis, ms)
			shardEntry := bsoncore.NewDocumentBuilder().AppendString("shardName", call.name).
				AppendBoolean("executionSuccess", true)
			bsonview.Each(es, func(el bsoncore.Element) bool {
				shardEntry.AppendValue(el.Key(), el.Value())
				return true
			})
			shardsExec = bsoncore.AppendDocumentElement(shardsExec, strconv.Itoa(i), shardEntry.Build())
		}
	}
	shardsPlan, _ = bsoncore.AppendArrayEnd(shardsPlan, pidx)
	shardsExec, _ = bsoncore.AppendArrayEnd(shardsExec, eidx)
	planner.AppendDocument("winningPlan", bsoncore.NewDocumentBuilder().AppendString("stage", stage).
		AppendArray("shards", shardsPlan).Build())
	out := bsoncore.NewDocumentBuilder().AppendDocument("queryPlanner", planner.Build())
	if stats != nil {
		out.AppendDocument("executionStats", bsoncore.NewDocumentBuilder().
			AppendInt64("nReturned", nReturned).AppendInt64("executionTimeMillis", millis).
			AppendInt64("totalKeysExamined", keys).AppendInt64("totalDocsExamined", docs).
			AppendDocument("executionStages", bsoncore.NewDocumentBuilder().AppendString("stage", stage).
				AppendInt64("nReturned", nReturned).AppendInt64("executionTimeMillis", millis).
				AppendInt64("totalKeysExamined", keys).AppendInt64("totalDocsExamined", docs).
				AppendArray("shards", shardsExec).Build()).Build())
	}
	return out.AppendDocument("serverInfo", c.s.serverInfo()).
		AppendDocument("command", inner).
		AppendDouble("ok", 1).Build()
}

// explainAggregate is mongos's explain of an aggregate over shards: how the pipeline splits
// (splitPipeline's shardsPart and mergerPart), and each shard's explain of its part.
func (c *conn) explainAggregate(ctx context.Context, r *request, inner bsoncore.Document, stages []bsoncore.Document,
	targets []int, verbosity bsoncore.Value) (bsoncore.Document, error) {
	shardStages := stages
	out := bsoncore.NewDocumentBuilder()
	if len(targets) > 1 {
		coll, _ := bsonview.Lookup(inner, "aggregate")
		plan, err := splitPipeline(stages, string(r.DB)+"."+coll.StringValue())
		if err != nil {
			return nil, err
		}
		shardStages = plan.shard
		out.AppendString("mergeType", "mongos").
			AppendDocument("splitPipeline", bsoncore.NewDocumentBuilder().
				AppendArray("shardsPart", docArray(shardStages)).
				AppendArray("mergerPart", mergerPart(plan)).Build())
	} else {
		out.AppendNull("splitPipeline")
	}
	body := shardAggregate(inner, shardStages)
	calls, err := c.callTargets(ctx, r, targets, explainCommand(withoutField(body, "explain"), verbosity))
	if err != nil {
		return nil, err
	}
	sb := bsoncore.NewDocumentBuilder()
	for _, call := range calls {
		part := bsoncore.NewDocumentBuilder().AppendString("host", call.host)
		bsonview.Each(call.reply.Body, func(el bsoncore.Element) bool {
			if k := el.Key(); k != "ok" && k != "$clusterTime" && k != "operationTime" {
				part.AppendValue(k, el.Value())
			}
			return true
		})
		sb.AppendDocument(call.name, part.Build())
	}
	return out.AppendDocument("shards", sb.Build()).
		AppendDocument("serverInfo", c.s.serverInfo()).
		AppendDocument("command", inner).
		AppendDouble("ok", 1).Build(), nil
}

// mergerPart is what the router runs: the merge of the shards' cursors (with its sort, skip and
// limit) and the stages after it.
func mergerPart(plan aggPlan) []byte {
	merge := bsoncore.NewDocumentBuilder().AppendBoolean("allowPartialResults", false)
	if len(plan.sort) > 0 {
		merge.AppendDocument("sort", plan.sort)
	}
	if plan.skip > 0 {
		merge.AppendInt64("skip", plan.skip)
	}
	if plan.limit >= 0 {
		merge.AppendInt64("limit", plan.limit)
	}
	stages := []bson.Raw{bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("$mergeCursors", merge.Build()).Build())}
	return docArray(append(stages, plan.rest...))
}

// serverInfo is the router's, as explain reports it.
func (s *Server) serverInfo() bsoncore.Document {
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(s.Addr())
	p, _ := strconv.Atoi(port)
	return bsoncore.NewDocumentBuilder().AppendString("host", host).AppendInt32("port", int32(p)).
		AppendString("version", Version).AppendString("gitVersion", "mongos-lite").Build()
}
