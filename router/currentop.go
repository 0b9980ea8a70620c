package router

import (
	"context"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/currentop"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/shards"
)

// $currentOp and currentOp answer for the whole cluster, as mongos does: every shard's primary
// (every member with targetAllNodes) reports its operations, each tagged with its shard, its
// opid as "shard:opid" and its client as client_s (src/mongo/db/exec/agg/current_op_stage.cpp);
// with localOps the router reports its own (routerops.go). The shards see every request as the
// router's, so the router asks them for every user's operations and keeps the caller's own
// unless the caller asked for all (allUsers, which auth.Authorize has checked).

// currentOpAggregate is aggregate with a first stage $currentOp; the stages after it run on the
// router over the merged operations.
func (c *conn) currentOpAggregate(ctx context.Context, r *request, stage bsoncore.Document, stages []bsoncore.Value) (bsoncore.Document, error) {
	agg, _ := bsonview.Lookup(r.Body, "aggregate")
	spec, err := currentop.Parse(stage.Lookup(currentop.Stage), agg, string(r.DB))
	if err != nil {
		return nil, err
	}
	docs, failed, err := c.clusterOps(ctx, r, spec)
	if err != nil || failed != nil {
		return failed, err
	}
	if docs, err = runStages(docs, stages[1:]); err != nil {
		return nil, err
	}
	return c.queuedCursor(r, "admin.$cmd.aggregate", rawDocs(docs))
}

// currentOpCommand is {currentOp: 1, $all, $ownOps, <filter>}: the same operations, matched
// against the filter, as {inprog: [...]}.
func (c *conn) currentOpCommand(ctx context.Context, r *request) (bsoncore.Document, error) {
	if string(r.DB) != "admin" {
		return nil, mongoerr.New(mongoerr.Unauthorized, "currentOp may only be run against the admin database.")
	}
	spec, filter := currentop.FromCommand(r.Body, c.s.cfg.EnableTestCommands)
	f, err := query.NewFilter(bson.Raw(filter))
	if err != nil {
		return nil, err
	}
	docs, failed, err := c.clusterOps(ctx, r, spec)
	if err != nil || failed != nil {
		return failed, err
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	aidx, dst := bsoncore.AppendArrayElementStart(dst, "inprog")
	n := 0
	for _, d := range docs {
		if f.Match(d) {
			dst = bsoncore.AppendDocumentElement(dst, strconv.Itoa(n), d)
			n++
		}
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst = bsoncore.AppendDoubleElement(dst, "ok", 1)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, nil
}

// clusterOps are the operations spec asks for: the router's own with localOps, else every
// shard's, tagged. failed is the folded reply of shards that failed.
func (c *conn) clusterOps(ctx context.Context, r *request, spec currentop.Spec) (docs []bson.Raw, failed bsoncore.Document, err error) {
	if spec.LocalOps {
		return c.s.routerOps(r.who, spec), nil, nil
	}
	asked := spec
	asked.AllUsers = true
	asked.TargetAllNodes = false // the router picks the members itself
	targets := c.s.primaryTargets()
	if spec.TargetAllNodes {
		targets = c.s.memberTargets()
	}
	perTarget, failed := c.s.gather(ctx, c.fanoutBody(currentOpRequest(r, asked)), targets)
	if failed != nil {
		return nil, failed, nil
	}
	for i, targetDocs := range perTarget {
		name := targets[i].shard.Name()
		for _, d := range targetDocs {
			if spec.AllUsers || r.who.ownsOp(d) {
				docs = append(docs, tagShardOp(d, name))
			}
		}
	}
	return docs, nil, nil
}

// currentOpRequest is what the shards are asked, for the $currentOp stage or the currentOp
// command r: {aggregate: 1, pipeline: [{$currentOp: spec}], cursor: {}} with r's generic
// arguments.
func currentOpRequest(r *request, spec currentop.Spec) *request {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = bsoncore.AppendInt32Element(dst, "aggregate", 1)
	aidx, dst := bsoncore.AppendArrayElementStart(dst, "pipeline")
	dst = spec.AppendStage(dst, "0")
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst = bsoncore.AppendDocumentElement(dst, "cursor", emptyDoc)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return withOwnFields(r, dst)
}

// tagShardOp is a shard's operation as mongos shows it: {shard, ...} with opid "shard:opid" and
// client renamed client_s.
func tagShardOp(op bsoncore.Document, shard string) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(op)+len(shard)+32))
	dst = bsoncore.AppendStringElement(dst, "shard", shard)
	bsonview.Each(op, func(el bsoncore.Element) bool {
		switch string(el.KeyBytes()) {
		case "opid":
			if n, ok := el.Value().AsInt64OK(); ok {
				dst = bsoncore.AppendStringElement(dst, "opid", shard+":"+strconv.FormatInt(n, 10))
				return true
			}
		case "client":
			if s, ok := el.Value().StringValueOK(); ok {
				dst = bsoncore.AppendStringElement(dst, "client_s", s)
				return true
			}
		}
		dst = append(dst, el...)
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// ownsOp: whether a shard's operation runs as the caller. The shards report the caller of a
// router's request as its effective user ($audit); without --auth everyone's is everyone's.
func (id identity) ownsOp(op bsoncore.Document) bool {
	if !id.auth {
		return true
	}
	if id.user == nil {
		return false
	}
	users, _ := op.Lookup("effectiveUsers").ArrayOK()
	vals, _ := users.Values()
	for _, v := range vals {
		u, _ := v.DocumentOK()
		name, _ := u.Lookup("user").StringValueOK()
		db, _ := u.Lookup("db").StringValueOK()
		if name == id.user.Name && db == id.user.DB {
			return true
		}
	}
	return false
}

// killOp kills an operation: "shard:opid" on that shard's primary, as mongos does
// (cluster_killop_cmd.cpp); a number, one of the router's own.
func (c *conn) killOp(ctx context.Context, r *request) (bsoncore.Document, error) {
	v, ok := bsonview.Lookup(r.Body, "op")
	if !ok {
		return nil, mongoerr.New(50759, `Did not provide "op" field`)
	}
	if _, isNumber := v.AsInt64OK(); isNumber {
		id, err := parseLocalOpID(v)
		if err != nil {
			return nil, err
		}
		c.s.killRouterOp(id)
		return bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build(), nil // success once authorized
	}
	text, isString := v.StringValueOK()
	if !isString {
		return nil, mongoerr.New(50760, `"op" field was of unsupported type %s`, mongoerr.TypeName(v.Type))
	}
	shardName, opText, _ := strings.Cut(text, ":")
	if len(text) < 3 || !strings.Contains(text, ":") || shardName == "" || opText == "" {
		return nil, mongoerr.New(28625, `The op argument to killOp must be of the format shardid:opid but found "%s"`, text)
	}
	idx := c.s.cluster.Index(shardName)
	if idx < 0 {
		return nil, mongoerr.New(mongoerr.ShardNotFound, "Shard %s not found", shardName)
	}
	opid, err := strconv.ParseInt(opText, 10, 32)
	if err != nil {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Did not consume whole string.")
	}
	sub := *r
	sub.Body = bsoncore.NewDocumentBuilder().AppendInt32("killOp", 1).AppendInt32("op", int32(opid)).
		AppendString("$db", "admin").Build()
	// The shard's answer is ignored, as mongos ignores it: killOp succeeds once authorized.
	_, _, _ = c.exchange(ctx, idx, shards.Primary(), "", &sub)
	return bsoncore.NewDocumentBuilder().AppendString("shard", shardName).AppendInt32("shardid", int32(opid)).
		AppendDouble("ok", 1).Build(), nil
}
