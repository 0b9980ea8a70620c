package router

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
)

// checkMetadataConsistency compares the routing metadata with what the shards hold, as mongos's
// does (cluster_check_metadata_consistency_cmd.cpp), and returns a cursor of the
// inconsistencies: none when the two agree. The metadata here is the placement of databases
// (docs/architecture.md, "Placement"), so the one inconsistency there can be is mongod's
// MisplacedCollection: a collection on a shard other than its database's primary. Run on admin
// it checks every database; on another database, that database; with a collection name, that
// collection.
func (c *conn) checkMetadataConsistency(ctx context.Context, r *request) (bsoncore.Document, error) {
	db := string(r.DB)
	v, _ := bsonview.Lookup(r.Body, "checkMetadataConsistency")
	coll, named := v.StringValueOK()
	if !named {
		if n, ok := v.AsInt64OK(); !ok || n != 1 {
			return nil, mongoerr.New(mongoerr.InvalidNamespace,
				"checkMetadataConsistency takes 1 (the database, or the cluster on admin) or a collection name")
		}
	}
	if named && db == "admin" {
		return nil, mongoerr.New(mongoerr.InvalidNamespace, "checkMetadataConsistency on admin checks the whole cluster: run it with 1")
	}
	var found []bsoncore.Document
	for i, sh := range c.s.cluster.Shards() {
		dbs := []string{db}
		if db == "admin" {
			names, err := shardDatabases(ctx, sh)
			if err != nil {
				return nil, err
			}
			dbs = names
		}
		for _, name := range dbs {
			primary, err := c.s.cluster.PrimaryShard(ctx, []byte(name), false)
			if err != nil {
				return nil, mongoerr.As(err)
			}
			if primary == i {
				continue
			}
			colls, reply, err := drainCursor(ctx, sh, "", listCollectionsCommand(name))
			if err == nil {
				err = reply.Err()
			}
			if err != nil {
				return nil, err
			}
			for _, info := range colls {
				if n, _ := info.Lookup("name").StringValueOK(); !named || n == coll {
					found = append(found, misplaced(name, sh.Name(), info))
				}
			}
		}
	}
	return c.queuedCursor(r, db+".$cmd.aggregate", found)
}

// shardDatabases are the databases a shard holds, but those that live with the cluster metadata.
func shardDatabases(ctx context.Context, sh *shards.Shard) ([]string, error) {
	reply, err := sh.Command(ctx, bsoncore.NewDocumentBuilder().AppendInt32("listDatabases", 1).
		AppendBoolean("nameOnly", true).AppendString("$db", "admin").Build())
	if err == nil {
		err = reply.Err()
	}
	if err != nil {
		return nil, mongoerr.As(err)
	}
	var names []string
	arr, _ := reply.Body.Lookup("databases").ArrayOK()
	bsonview.Each(bsoncore.Document(arr), func(el bsoncore.Element) bool {
		doc, _ := el.Value().DocumentOK()
		if name, ok := doc.Lookup("name").StringValueOK(); ok && !slices.Contains([]string{"admin", "config", "local"}, name) {
			names = append(names, name)
		}
		return true
	})
	return names, nil
}

func listCollectionsCommand(db string) bsoncore.Document {
	return bsoncore.NewDocumentBuilder().AppendInt32("listCollections", 1).AppendString("$db", db).Build()
}

// misplaced is mongod's MisplacedCollection inconsistency for a collection, from its
// listCollections entry.
func misplaced(db, shard string, info bsoncore.Document) bsoncore.Document {
	name, _ := info.Lookup("name").StringValueOK()
	details := bsoncore.NewDocumentBuilder().
		AppendString("namespace", db+"."+name).
		AppendString("shard", shard)
	if uuid, ok := bsonview.Lookup(info, "info"); ok {
		if d, ok := uuid.DocumentOK(); ok {
			if u := d.Lookup("uuid"); u.Type == bsoncore.TypeBinary {
				details.AppendValue("localUUID", u)
			}
		}
	}
	return bsoncore.NewDocumentBuilder().
		AppendString("type", "MisplacedCollection").
		AppendString("description", "Unsharded collection found on shard different from database primary shard").
		AppendDocument("details", details.Build()).Build()
}
