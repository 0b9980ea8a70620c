package topology

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The cluster metadata a mongos finds on its config servers and mongosh's sh.status() reads,
// kept on the config shard beside config.databases (docs/architecture.md, "Placement"). Every
// write is one that several routers may make at once and still agree on.

const duplicateKey = 11000

// EnsureMetadata writes what a new sharded cluster's config servers hold from the start:
//   - config.version {_id: 1, clusterId}: inserted with a fresh clusterId; _id uniqueness makes
//     the first router's insert the cluster's, and the others' fail harmlessly;
//   - config.settings's balancer {mode: "off", stopped: true} and autosplit {enabled: false}, as
//     sh.stopBalancer() and sh.disableAutoSplit() leave them: chunks never move or split here.
//     They are upserted, so a hand-edited setting is put back when a router starts.
func (c *Cluster[S]) EnsureMetadata(ctx context.Context) error {
	version := bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).AppendObjectID("clusterId", bson.NewObjectID()).Build()
	err := c.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("insert", "version").
		AppendArray("documents", bsoncore.BuildArray(nil, docValue(version))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), true)
	if err != nil {
		return err
	}
	balancer := bsoncore.NewDocumentBuilder().AppendString("mode", "off").AppendBoolean("stopped", true).Build()
	autosplit := bsoncore.NewDocumentBuilder().AppendBoolean("enabled", false).Build()
	return c.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", "settings").
		AppendArray("updates", bsoncore.BuildArray(nil, upsertSet("balancer", balancer, nil), upsertSet("autosplit", autosplit, nil))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), false)
}

// RouterEntry is a router's document in config.mongos, as mongos's uptime reporter writes it
// (sharding_uptime_reporter.cpp).
type RouterEntry struct {
	ID      string // host:port
	Created time.Time
	Ping    time.Time
	Up      time.Duration
	Version string
	FQDNs   []string // advisoryHostFQDNs
}

// ReportRouter upserts the router's config.mongos entry: its ping, uptime (whole seconds),
// waiting: true (the balancer never runs in a router, a field kept for old tools, as mongos
// sets it), version and host names; created is set only when the entry is inserted.
func (c *Cluster[S]) ReportRouter(ctx context.Context, e RouterEntry) error {
	onInsert := bsoncore.NewDocumentBuilder().AppendDateTime("created", e.Created.UnixMilli()).Build()
	return c.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", "mongos").
		AppendArray("updates", bsoncore.BuildArray(nil, upsertSet(e.ID, e.fields(), onInsert))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), false)
}

// fields are the entry's fields but _id and created.
func (e RouterEntry) fields() bsoncore.Document {
	fqdns := make([]bsoncore.Value, len(e.FQDNs))
	for i, h := range e.FQDNs {
		fqdns[i] = bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, h)}
	}
	return bsoncore.NewDocumentBuilder().
		AppendDateTime("ping", e.Ping.UnixMilli()).
		AppendInt64("up", int64(e.Up/time.Second)).
		AppendBoolean("waiting", true).
		AppendString("mongoVersion", e.Version).
		AppendArray("advisoryHostFQDNs", bsoncore.BuildArray(nil, fqdns...)).Build()
}

var majority = bsoncore.NewDocumentBuilder().AppendString("w", "majority").Build()

func docValue(d bsoncore.Document) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: d}
}

// upsertSet is the update statement {q: {_id: id}, u: {$set: set, $setOnInsert: onInsert}, upsert: true}.
func upsertSet(id string, set, onInsert bsoncore.Document) bsoncore.Value {
	u := bsoncore.NewDocumentBuilder().AppendDocument("$set", set)
	if onInsert != nil {
		u.AppendDocument("$setOnInsert", onInsert)
	}
	return docValue(bsoncore.NewDocumentBuilder().
		AppendDocument("q", bsoncore.NewDocumentBuilder().AppendString("_id", id).Build()).
		AppendDocument("u", u.Build()).
		AppendBoolean("upsert", true).Build())
}

// write runs a write on the config shard and fails on a command error, a write concern error or
// a write error (but a duplicate key when dupOK: another router got there first).
func (p *placement) write(ctx context.Context, body bsoncore.Document, dupOK bool) error {
	reply, err := p.command(ctx, body)
	if err != nil {
		return err
	}
	if wce, ok := reply.Lookup("writeConcernError").DocumentOK(); ok {
		msg, _ := wce.Lookup("errmsg").StringValueOK()
		return mongoerr.New(mongoerr.WriteConcernFailed, "%s on the config shard %s: %s", bsonFirstKey(body), p.config.Name(), msg)
	}
	errs, _ := reply.Lookup("writeErrors").ArrayOK()
	vals, _ := errs.Values()
	for _, v := range vals {
		we, _ := v.DocumentOK()
		code, _ := we.Lookup("code").AsInt64OK()
		if code == duplicateKey && dupOK {
			continue
		}
		msg, _ := we.Lookup("errmsg").StringValueOK()
		return mongoerr.New(mongoerr.Code(code), "%s on the config shard %s: %s", bsonFirstKey(body), p.config.Name(), msg)
	}
	return nil
}

func bsonFirstKey(d bsoncore.Document) string {
	e, _ := d.IndexErr(0)
	return e.Key()
}
