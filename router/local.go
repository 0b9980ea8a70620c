package router

import (
	"context"
	"os"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Version is the MongoDB release whose behaviour the router reproduces (buildInfo).
const Version = "8.0.4"

var startTime = time.Now()

func (c *conn) ping(context.Context, *request) (bsoncore.Document, error) { return nil, nil }

func (c *conn) buildInfo(context.Context, *request) (bsoncore.Document, error) {
	return bsoncore.NewDocumentBuilder().
		AppendString("version", Version).
		AppendArray("versionArray", bsoncore.BuildArray(nil,
			bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 8)},
			bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 0)},
			bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 4)},
			bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, 0)})).
		AppendString("gitVersion", "mongos-lite").
		AppendArray("modules", bsoncore.BuildArray(nil)).
		AppendString("sysInfo", "deprecated").
		AppendInt32("bits", 64).
		AppendBoolean("debug", false).
		AppendInt32("maxBsonObjectSize", 16*1024*1024).
		AppendArray("storageEngines", bsoncore.BuildArray(nil)).
		AppendDouble("ok", 1).Build(), nil
}

func (c *conn) isdbgrid(context.Context, *request) (bsoncore.Document, error) {
	host, _ := os.Hostname()
	return bsoncore.NewDocumentBuilder().AppendInt32("isdbgrid", 1).AppendString("hostname", host).
		AppendDouble("ok", 1).Build(), nil
}

func (c *conn) whatsmyuri(context.Context, *request) (bsoncore.Document, error) {
	return bsoncore.NewDocumentBuilder().AppendString("you", c.nc.RemoteAddr().String()).
		AppendDouble("ok", 1).Build(), nil
}

// parameters answers getParameter; values mirror the router's configuration.
func (c *conn) parameters() map[string]bsoncore.Value {
	i32 := func(v int32) bsoncore.Value {
		return bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, v)}
	}
	return map[string]bsoncore.Value{
		"cursorTimeoutMillis": {Type: bsoncore.TypeInt64,
			Data: bsoncore.AppendInt64(nil, c.s.cfg.CursorTimeout.Milliseconds())}, // a long, as mongos's
		"featureCompatibilityVersion": {Type: bsoncore.TypeEmbeddedDocument,
			Data: bsoncore.NewDocumentBuilder().AppendString("version", "8.0").Build()},
		"localLogicalSessionTimeoutMinutes": i32(int32(c.s.cfg.LogicalSessionTimeoutMinutes)),
		"maxAcceptableLogicalClockDriftSecs": {Type: bsoncore.TypeInt64,
			Data: bsoncore.AppendInt64(nil, c.s.cfg.MaxClockDriftSecs)}, // a long, as mongod's
		"requireApiVersion":               {Type: bsoncore.TypeBoolean, Data: []byte{0}},
		"transactionLifetimeLimitSeconds": i32(60),
	}
}

// getParameter: '*' (or {allParameters: true}) lists all; otherwise the named ones, and naming
// none that exists is an error, as on mongod.
func (c *conn) getParameter(_ context.Context, r *request) (bsoncore.Document, error) {
	params := c.parameters()
	v, _ := bsonview.Lookup(r.Body, "getParameter")
	all := false
	if s, ok := v.StringValueOK(); ok && s == "*" {
		all = true
	} else if d, ok := v.DocumentOK(); ok {
		all, _ = d.Lookup("allParameters").BooleanOK()
	}
	b := bsoncore.NewDocumentBuilder()
	found := 0
	for name, val := range params {
		if _, asked := bsonview.Lookup(r.Body, name); all || asked {
			b.AppendValue(name, val)
			found++
		}
	}
	if found == 0 {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "no option found to get")
	}
	return b.AppendDouble("ok", 1).Build(), nil
}

// appendCursorMetrics is serverStatus's metrics.cursor, as mongos reports it.
func appendCursorMetrics(dst []byte, st clustercursor.Stats) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendInt64Element(dst, "timedOut", st.TimedOut)
	oidx, dst := bsoncore.AppendDocumentElementStart(dst, "open")
	dst = bsoncore.AppendInt64Element(dst, "multiTarget", int64(st.MultiTarget))
	dst = bsoncore.AppendInt64Element(dst, "singleTarget", int64(st.SingleTarget))
	dst = bsoncore.AppendInt64Element(dst, "queuedData", int64(st.QueuedData))
	dst = bsoncore.AppendInt64Element(dst, "pinned", int64(st.Pinned))
	dst = bsoncore.AppendInt64Element(dst, "total", int64(st.Open()))
	dst, _ = bsoncore.AppendDocumentEnd(dst, oidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// connPoolStats reports the router's connections to the shard members, in mongos's shape:
// totals and one entry per member (the router keeps no client-side scoped connections).
func (c *conn) connPoolStats(context.Context, *request) (bsoncore.Document, error) {
	var inUse, available, created int64
	hosts := bsoncore.NewDocumentBuilder()
	for _, p := range c.s.ShardPools() {
		idle := int64(p.Open - p.InUse)
		inUse, available, created = inUse+int64(p.InUse), available+idle, created+int64(p.Created)
		hosts.AppendDocument(p.Addr, bsoncore.NewDocumentBuilder().
			AppendInt64("inUse", int64(p.InUse)).
			AppendInt64("available", idle).
			AppendInt64("created", int64(p.Created)).
			AppendInt64("refreshing", 0).Build())
	}
	return bsoncore.NewDocumentBuilder().
		AppendInt64("numClientConnections", 0).
		AppendInt64("numAScopedConnections", 0).
		AppendInt64("totalInUse", inUse).
		AppendInt64("totalAvailable", available).
		AppendInt64("totalCreated", created).
		AppendInt64("totalRefreshing", 0).
		AppendDocument("hosts", hosts.Build()).
		AppendDouble("ok", 1).Build(), nil
}

// shardDocs are the config.shards entries: {_id, host: "rs/h1,h2", state: 1}.
func (s *Server) shardDocs() []bson.Raw {
	docs := make([]bson.Raw, len(s.cluster.Shards()))
	for i, sh := range s.cluster.Shards() {
		docs[i] = bson.Raw(bsoncore.NewDocumentBuilder().
			AppendString("_id", sh.Name()).
			AppendString("host", connString(sh)).
			AppendInt32("state", 1).Build())
	}
	return docs
}

func (c *conn) listShards(context.Context, *request) (bsoncore.Document, error) {
	return bsoncore.NewDocumentBuilder().
		AppendArray("shards", docArray(c.s.shardDocs())).
		AppendDouble("ok", 1).Build(), nil
}
