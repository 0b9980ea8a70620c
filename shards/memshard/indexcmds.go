package memshard

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The index commands: createIndexes, listIndexes and dropIndexes (create_indexes_cmd.cpp,
// list_indexes_cmd.cpp, drop_indexes_cmd.cpp).

func cmdCreateIndexes(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	specs, err := r.docsArg("indexes")
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return mongoerr.New(mongoerr.BadValue, "Must specify at least one index to create")
	}
	wanted := make([]*index, len(specs))
	for i, spec := range specs {
		if wanted[i], err = newIndex(spec); err != nil {
			return err
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
			if c, err = s.ensureColl(r.db, coll, r.txn); err != nil {
				return err
			}
		}
		before := len(c.indexes)
		var built []*index
		for _, ix := range wanted {
			switch err := c.conflict(ix); {
			case err == errAlreadyExists:
				continue
			case err != nil:
				return err
			}
			if slices.ContainsFunc(built, func(b *index) bool { return b.name == ix.name }) {
				continue
			}
			if err := c.build(ix); err != nil {
				return err
			}
			built = append(built, ix)
		}
		c.indexes = append(c.indexes, built...)
		s.logIndexes(opCreateIndexes, c, specsOf(built))
		r.out = bsoncore.AppendInt32Element(r.out, "numIndexesBefore", int32(before))
		r.out = bsoncore.AppendInt32Element(r.out, "numIndexesAfter", int32(len(c.indexes)))
		r.out = bsoncore.AppendBooleanElement(r.out, "createdCollectionAutomatically", created)
		if len(built) == 0 {
			r.out = bsoncore.AppendStringElement(r.out, "note", "all indexes already exist")
		}
		return nil
	})
}

// cmdListIndexes lists the specs; includeIndexBuildInfo wraps each as {spec} (memshard builds
// indexes at once, so none is in progress).
func cmdListIndexes(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	batchSize := defaultFirstBatch
	if cur, ok := r.body.Lookup("cursor").DocumentOK(); ok {
		if batchSize, err = intField(cur, "listIndexes.cursor", "batchSize", defaultFirstBatch); err != nil {
			return err
		}
	}
	buildInfo := r.boolArg("includeIndexBuildInfo", false)
	if buildInfo && r.boolArg("includeBuildUUIDs", false) {
		return mongoerr.New(mongoerr.InvalidOptions, "The includeIndexBuildInfo option is not allowed with the includeBuildUUIDs option")
	}
	var docs []bson.Raw
	err = r.read(coll, func(c *collection, _ *txn) error {
		if c == nil {
			return mongoerr.New(mongoerr.NamespaceNotFound, "ns does not exist: %s", r.ns(coll))
		}
		for _, ix := range c.indexes {
			d := bson.Raw(ix.spec)
			if buildInfo {
				d = bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("spec", ix.spec).Build())
			}
			docs = append(docs, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r.replyCursor(r.db+".$cmd.listIndexes."+coll, docs, batchSize, false)
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
		was := int32(len(c.indexes))
		var names []string
		switch iv.Type {
		case bsoncore.TypeString:
			if iv.StringValue() == "*" {
				s.logIndexes(opDropIndexes, c, specsOf(c.indexes[1:]))
				c.indexes = c.indexes[:1]
				break
			}
			names = []string{iv.StringValue()}
		case bsoncore.TypeArray:
			elems, _ := iv.Array().Values()
			for _, e := range elems {
				names = append(names, e.StringValue())
			}
		case bsoncore.TypeEmbeddedDocument:
			ix := c.indexByKey(iv.Document())
			if ix == nil {
				return mongoerr.New(mongoerr.IndexNotFound, "can't find index with key: %s", shellDoc(iv.Document()))
			}
			names = []string{ix.name}
		default:
			return mongoerr.WrongType("dropIndexes.index", iv.Type, "string")
		}
		for _, name := range names { // all or nothing
			if name == "_id_" {
				return mongoerr.New(mongoerr.InvalidOptions, "cannot drop _id index")
			}
			if c.findIndex(name) == nil {
				return mongoerr.New(mongoerr.IndexNotFound, "index not found with name [%s]", name)
			}
		}
		for _, name := range names {
			s.logIndexes(opDropIndexes, c, specsOf([]*index{c.findIndex(name)}))
		}
		c.indexes = slices.DeleteFunc(c.indexes, func(ix *index) bool { return slices.Contains(names, ix.name) })
		r.out = bsoncore.AppendInt32Element(r.out, "nIndexesWas", was)
		return nil
	})
}

// specsOf is the indexes' specifications, as change events report them.
func specsOf(ixs []*index) []bsoncore.Document {
	specs := make([]bsoncore.Document, len(ixs))
	for i, ix := range ixs {
		specs[i] = ix.spec
	}
	return specs
}
