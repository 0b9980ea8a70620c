package router

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// An aggregate that runs whole on one shard reads or writes its other namespaces ($lookup,
// $graphLookup, $unionWith, $out, $merge) on that shard alone. That answers for them only when
// each is unsharded and lives there: a sharded one has documents on every shard, and another
// database's collection may live elsewhere. Anything else is refused, never answered from one
// shard's part (docs/architecture.md, "Sharded reads").

// stageNamespace is a namespace a stage reads or writes besides the aggregate's own.
type stageNamespace struct {
	stage, db, coll string
}

// otherNamespaces are the namespaces stages read or write, in nested pipelines too ($lookup's
// and $unionWith's pipeline, $facet's); db is the aggregate's database.
func otherNamespaces(db string, stages []bsoncore.Document) []stageNamespace {
	var out []stageNamespace
	var walk func(stages []bsoncore.Document)
	nested := func(v bsoncore.Value) {
		if arr, ok := v.ArrayOK(); ok {
			walk(stagesOf(arr))
		}
	}
	walk = func(stages []bsoncore.Document) {
		for _, s := range stages {
			name := string(bsonview.FirstKey(s))
			if name == "" {
				continue // an empty stage: the shard refuses it
			}
			spec := s.Index(0).Value()
			switch name {
			case "$lookup", "$graphLookup":
				doc, _ := spec.DocumentOK()
				if from, ok := bsonview.Lookup(doc, "from"); ok {
					out = append(out, namespaceOf(name, db, from))
				}
				if p, ok := bsonview.Lookup(doc, "pipeline"); ok {
					nested(p)
				}
			case "$unionWith":
				if doc, ok := spec.DocumentOK(); ok {
					if coll, ok := bsonview.Lookup(doc, "coll"); ok {
						out = append(out, namespaceOf(name, db, coll))
					}
					if p, ok := bsonview.Lookup(doc, "pipeline"); ok {
						nested(p)
					}
				} else {
					out = append(out, namespaceOf(name, db, spec))
				}
			case "$facet":
				doc, _ := spec.DocumentOK()
				bsonview.Each(doc, func(el bsoncore.Element) bool {
					nested(el.Value())
					return true
				})
			case "$out":
				out = append(out, namespaceOf(name, db, spec))
			case "$merge":
				if doc, ok := spec.DocumentOK(); ok {
					if into, ok := bsonview.Lookup(doc, "into"); ok {
						out = append(out, namespaceOf(name, db, into))
					}
				} else {
					out = append(out, namespaceOf(name, db, spec))
				}
			}
		}
	}
	walk(stages)
	return out
}

// namespaceOf reads a stage's collection: a name in db, or {db, coll}.
func namespaceOf(stage, db string, v bsoncore.Value) stageNamespace {
	if doc, ok := v.DocumentOK(); ok {
		if d, ok := bsonview.Lookup(doc, "db"); ok {
			db, _ = d.StringValueOK()
		}
		c, _ := bsonview.Lookup(doc, "coll")
		coll, _ := c.StringValueOK()
		return stageNamespace{stage: stage, db: db, coll: coll}
	}
	coll, _ := v.StringValueOK()
	return stageNamespace{stage: stage, db: db, coll: coll}
}

// stagesOf are an array's stage documents.
func stagesOf(arr bsoncore.Array) []bsoncore.Document {
	var out []bsoncore.Document
	bsonview.Each(bsoncore.Document(arr), func(el bsoncore.Element) bool {
		if d, ok := el.Value().DocumentOK(); ok {
			out = append(out, d)
		}
		return true
	})
	return out
}

// viewNamespaces are what a view that create or collMod defines reads: its viewOn and its
// pipeline's other namespaces; ok is false for a command that defines no view.
func viewNamespaces(r *request) (nss []stageNamespace, ok bool) {
	on, ok := bsonview.Lookup(r.Body, "viewOn")
	if !ok {
		return nil, false
	}
	nss = append(nss, namespaceOf("a view", string(r.DB), on))
	if p, found := bsonview.Lookup(r.Body, "pipeline"); found {
		if arr, isArray := p.ArrayOK(); isArray {
			nss = append(nss, otherNamespaces(string(r.DB), stagesOf(arr))...)
		}
	}
	return nss, true
}

// checkView refuses a view whose reads a shard cannot answer alone: a view lives on its
// database's primary shard, which resolves it over its own collections only.
func (c *conn) checkView(ctx context.Context, r *request) error {
	nss, ok := viewNamespaces(r)
	if !ok {
		return nil
	}
	rt, err := c.s.cluster.Routing(ctx, string(r.DB), "")
	if err != nil {
		return mongoerr.As(err)
	}
	return c.checkNamespaces(ctx, r, nss, rt.Primary)
}

// checkOtherNamespaces refuses an aggregate that runs on shard runsOn when a namespace its
// stages read or write is sharded or lives on another shard.
func (c *conn) checkOtherNamespaces(ctx context.Context, r *request, stages []bsoncore.Document, runsOn int) error {
	return c.checkNamespaces(ctx, r, otherNamespaces(string(r.DB), stages), runsOn)
}

// checkNamespaces refuses a command that runs on shard runsOn and reads or writes nss, when one
// of them is sharded or lives on another shard.
func (c *conn) checkNamespaces(ctx context.Context, r *request, nss []stageNamespace, runsOn int) error {
	for _, ns := range nss {
		if ns.coll == "" {
			continue // malformed: the shard answers for it
		}
		if ns.db != string(r.DB) && (ns.stage == "$out" || ns.stage == "$merge") && !isInternalDB(ns.db) {
			// The shard creates the database it writes: it is placed there, unless it is placed.
			if _, err := c.s.cluster.PlaceDatabase(ctx, ns.db, runsOn); err != nil {
				return mongoerr.As(err)
			}
		}
		rt, err := c.s.cluster.Routing(ctx, ns.db, ns.coll)
		if err != nil {
			return mongoerr.As(err)
		}
		switch {
		case rt.Sharded:
			return mongoerr.New(mongoerr.CommandNotSupported,
				"mongos-lite does not support %s with the sharded collection %s: it would run on one shard, which "+
					"holds only its own part of %s", ns.stage, rt.NS, rt.NS)
		case rt.Primary != runsOn:
			return mongoerr.New(mongoerr.CommandNotSupported,
				"mongos-lite does not support %s with %s, which lives on shard %s, from shard %s, where this runs: "+
					"one shard cannot read or write another's collections", ns.stage, rt.NS,
				c.s.cluster.Shard(rt.Primary).Name(), c.s.cluster.Shard(runsOn).Name())
		}
	}
	return nil
}
