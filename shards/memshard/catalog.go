package memshard

import (
	"bytes"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Catalog commands: collections and databases (indexes: indexcmds.go).

func cmdCreate(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	meta, err := r.parseCreate()
	if err != nil {
		return err
	}
	if meta.view != nil && r.txn != nil {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "Cannot create a view in a multi-document transaction.")
	}
	return r.write(func(s *store) error {
		// mongod 7+ answers ok for an existing collection with the same options, but not inside
		// a transaction.
		if c := s.coll(r.db, coll, r.txn); c != nil {
			if r.txn != nil || !sameDoc(c.meta.options, meta.options) {
				return mongoerr.New(mongoerr.NamespaceExists, "Collection already exists. NS: %s", r.ns(coll))
			}
			return nil
		}
		c, err := s.ensureColl(r.db, coll, r.txn)
		if err != nil {
			return err
		}
		c.meta = meta
		if meta.view != nil {
			c.indexes = nil
		}
		return nil
	})
}

func sameDoc(a, b bsoncore.Document) bool {
	if len(a) <= 5 || len(b) <= 5 {
		return len(a) <= 5 && len(b) <= 5
	}
	return bytes.Equal(a, b)
}

func cmdDrop(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	return r.write(func(s *store) error {
		c := s.coll(r.db, coll, nil)
		if c == nil {
			return nil // mongod 7+ no longer fails on a missing collection
		}
		s.dropColl(c)
		r.out = bsoncore.AppendInt32Element(r.out, "nIndexesWas", int32(len(c.indexes)))
		r.out = bsoncore.AppendStringElement(r.out, "ns", c.ns())
		s.stamp()
		s.logDrop(c)
		r.wrote(s)
		return nil
	})
}

func cmdDropDatabase(r *request) error {
	return r.write(func(s *store) error {
		s.logDropDatabase(r.db)
		delete(s.dbs, r.db)
		r.out = bsoncore.AppendStringElement(r.out, "dropped", r.db)
		s.stamp()
		r.wrote(s)
		return nil
	})
}

var idIndexSpec = bsoncore.NewDocumentBuilder().AppendInt32("v", 2).
	AppendDocument("key", bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).Build()).
	AppendString("name", "_id_").Build()

// cmdListCollections lists collections and views, filtered on the documents it returns;
// nameOnly keeps name and type. authorizedCollections changes nothing here: without access
// control every collection is listed.
func cmdListCollections(r *request) error {
	f, _, err := r.filterArg("filter")
	if err != nil {
		return err
	}
	nameOnly := r.boolArg("nameOnly", false)
	batchSize := defaultFirstBatch
	if cur, ok := r.body.Lookup("cursor").DocumentOK(); ok {
		if batchSize, err = intField(cur, "listCollections.cursor", "batchSize", defaultFirstBatch); err != nil {
			return err
		}
	}
	s := r.m.rs.store
	var docs []bson.Raw
	s.mu.RLock()
	for _, n := range s.collNames(r.db, nil) {
		if d := bson.Raw(s.dbs[r.db][n].listing(nameOnly)); f.Match(d) {
			docs = append(docs, d)
		}
	}
	s.mu.RUnlock()
	if err := f.Err(); err != nil {
		return err
	}
	r.replyCursor(r.db+".$cmd.listCollections", docs, batchSize, false)
	return nil
}

// listing is the collection's listCollections document.
func (c *collection) listing(nameOnly bool) bsoncore.Document {
	kind := "collection"
	if c.meta.view != nil {
		kind = "view"
	}
	b := bsoncore.NewDocumentBuilder().AppendString("name", c.name).AppendString("type", kind)
	if nameOnly {
		return b.Build()
	}
	options := c.meta.options
	if len(options) == 0 {
		options = bsoncore.NewDocumentBuilder().Build()
	}
	info := bsoncore.NewDocumentBuilder().AppendBoolean("readOnly", c.meta.view != nil)
	if c.meta.view == nil {
		info.AppendBinary("uuid", bson.TypeBinaryUUID, c.cs.uuid) // as mongod lists a collection's UUID
	}
	b.AppendDocument("options", options).AppendDocument("info", info.Build())
	if c.meta.view == nil {
		b.AppendDocument("idIndex", idIndexSpec)
	}
	return b.Build()
}

func cmdListDatabases(r *request) error {
	f, _, err := r.filterArg("filter")
	if err != nil {
		return err
	}
	nameOnly := r.boolArg("nameOnly", false)
	s := r.m.rs.store
	s.mu.RLock()
	var dbs []bson.Raw
	var total int64
	for _, name := range slices.Sorted(maps.Keys(s.dbs)) {
		colls := s.collNames(name, nil)
		if len(colls) == 0 {
			continue // only collections of open transactions so far
		}
		var size int64
		for _, coll := range colls {
			for _, d := range s.dbs[name][coll].docs {
				size += int64(len(d.raw))
			}
		}
		total += size
		b := bsoncore.NewDocumentBuilder().AppendString("name", name)
		if !nameOnly {
			b.AppendInt64("sizeOnDisk", size).AppendBoolean("empty", size == 0)
		}
		if d := bson.Raw(b.Build()); f.Match(d) {
			dbs = append(dbs, d)
		}
	}
	s.mu.RUnlock()
	idx, out := bsoncore.AppendArrayElementStart(r.out, "databases")
	for i, d := range dbs {
		out = bsoncore.AppendDocumentElement(out, arrayKey(i), d)
	}
	out, _ = bsoncore.AppendArrayEnd(out, idx)
	if !nameOnly {
		out = bsoncore.AppendInt64Element(out, "totalSize", total)
		out = bsoncore.AppendInt64Element(out, "totalSizeMb", total>>20)
	}
	r.out = out
	return nil
}
