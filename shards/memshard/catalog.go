package memshard

import (
	"bytes"
	"maps"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Catalog commands: collections, databases and index metadata. Indexes are metadata only;
// the _id index is the one memshard enforces.

func cmdCreate(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	return r.write(func(s *store) error {
		// mongod 7+ answers ok for an existing collection with the same options (memshard keeps
		// none), but not inside a transaction.
		if r.txn != nil && s.coll(r.db, coll, r.txn) != nil {
			return mongoerr.New(mongoerr.NamespaceExists, "Collection already exists. NS: %s", r.ns(coll))
		}
		_, err := s.ensureColl(r.db, coll, r.txn)
		return err
	})
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
		r.out = bsoncore.AppendInt32Element(r.out, "nIndexesWas", int32(1+len(c.indexes)))
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
	s.mu.RLock()
	names := s.collNames(r.db, nil)
	s.mu.RUnlock()
	var docs []bson.Raw
	for _, n := range names {
		b := bsoncore.NewDocumentBuilder().AppendString("name", n).AppendString("type", "collection")
		if !nameOnly {
			b.AppendDocument("options", bsoncore.NewDocumentBuilder().Build()).
				AppendDocument("info", bsoncore.NewDocumentBuilder().AppendBoolean("readOnly", false).Build()).
				AppendDocument("idIndex", idIndexSpec)
		}
		if d := bson.Raw(b.Build()); f.Match(d) {
			docs = append(docs, d)
		}
	}
	r.replyCursor(r.db+".$cmd.listCollections", docs, batchSize, false)
	return nil
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

func cmdCreateIndexes(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	specs, err := r.docsArg("indexes")
	if err != nil {
		return err
	}
	for _, spec := range specs {
		if _, ok := spec.Lookup("key").DocumentOK(); !ok {
			return mongoerr.New(mongoerr.FailedToParse, "Error in specification %s :: caused by :: The 'key' field is a required property of an index specification", spec)
		}
		if _, ok := spec.Lookup("name").StringValueOK(); !ok {
			return mongoerr.New(mongoerr.FailedToParse, "Error in specification %s :: caused by :: The 'name' field is a required property of an index specification", spec)
		}
	}
	return r.write(func(s *store) error {
		c := s.coll(r.db, coll, r.txn)
		created := c == nil
		if r.txn != nil && c != nil && c.pending != r.txn {
			return mongoerr.New(mongoerr.OperationNotSupportedInTransaction,
				"Cannot create new indexes on existing collection %s in a multi-document transaction.", r.ns(coll))
		}
		if c == nil {
			var err error
			if c, err = s.ensureColl(r.db, coll, r.txn); err != nil {
				return err
			}
		}
		before := 1 + len(c.indexes)
		for _, spec := range specs {
			if name := spec.Lookup("name").StringValue(); name != "_id_" && c.index(name) < 0 {
				c.indexes = append(c.indexes, bytes.Clone(spec))
			}
		}
		after := 1 + len(c.indexes)
		s.logIndexes(opCreateIndexes, c, c.indexes[before-1:])
		r.out = bsoncore.AppendInt32Element(r.out, "numIndexesBefore", int32(before))
		r.out = bsoncore.AppendInt32Element(r.out, "numIndexesAfter", int32(after))
		r.out = bsoncore.AppendBooleanElement(r.out, "createdCollectionAutomatically", created)
		if before == after {
			r.out = bsoncore.AppendStringElement(r.out, "note", "all indexes already exist")
		}
		return nil
	})
}

func (c *collection) index(name string) int {
	for i, spec := range c.indexes {
		if spec.Lookup("name").StringValue() == name {
			return i
		}
	}
	return -1
}

func cmdListIndexes(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	var docs []bson.Raw
	err = r.read(coll, func(c *collection, _ *txn) error {
		if c == nil {
			return mongoerr.New(mongoerr.NamespaceNotFound, "ns does not exist: %s", r.ns(coll))
		}
		docs = append(docs, bson.Raw(idIndexSpec))
		for _, spec := range c.indexes {
			docs = append(docs, bson.Raw(spec))
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.replyCursor(r.db+".$cmd.listIndexes."+coll, docs, defaultFirstBatch, false)
	return nil
}

func cmdDropIndexes(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	iv, err := r.body.LookupErr("index")
	if err != nil {
		return missingField("dropIndexes.index")
	}
	return r.write(func(s *store) error {
		c := s.coll(r.db, coll, r.txn)
		if c == nil {
			return mongoerr.New(mongoerr.NamespaceNotFound, "ns not found %s", r.ns(coll))
		}
		was := int32(1 + len(c.indexes))
		var names []string
		switch iv.Type {
		case bsoncore.TypeString:
			if iv.StringValue() == "*" {
				s.logIndexes(opDropIndexes, c, c.indexes)
				c.indexes = nil
				break
			}
			names = []string{iv.StringValue()}
		case bsoncore.TypeArray:
			elems, _ := iv.Array().Values()
			for _, e := range elems {
				names = append(names, e.StringValue())
			}
		case bsoncore.TypeEmbeddedDocument:
			for _, spec := range c.indexes {
				if bytes.Equal(spec.Lookup("key").Document(), iv.Document()) {
					names = append(names, spec.Lookup("name").StringValue())
				}
			}
			if names == nil {
				return mongoerr.New(mongoerr.IndexNotFound, "can't find index with key: %s", iv)
			}
		default:
			return mongoerr.WrongType("dropIndexes.index", iv.Type, "string")
		}
		for _, name := range names { // all or nothing
			if name == "_id_" {
				return mongoerr.New(mongoerr.InvalidOptions, "cannot drop _id index")
			}
			if c.index(name) < 0 {
				return mongoerr.New(mongoerr.IndexNotFound, "index not found with name [%s]", name)
			}
		}
		for _, name := range names {
			i := c.index(name)
			s.logIndexes(opDropIndexes, c, c.indexes[i:i+1])
			c.indexes = append(c.indexes[:i], c.indexes[i+1:]...)
		}
		r.out = bsoncore.AppendInt32Element(r.out, "nIndexesWas", was)
		return nil
	})
}
