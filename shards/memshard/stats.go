package memshard

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The sizes memshard reports for its collections and databases (collStats, dbStats and
// $collStats's storageStats). mongod reports what WiredTiger's files hold; memshard holds its
// documents as BSON in memory, so its figures are computed from that BSON and are the same on
// every run:
//   - a collection's size is the bytes of its documents, and its storage size the same: memshard
//     stores each document as it is, without compression or free space;
//   - an index holds one entry per document: the document's key, sized as the BSON document of
//     the key's values under empty names ({"": <value>, ...}); a missing field is null, an
//     array counts once as a whole, a hashed field is its 64-bit hash.

// collSizes are one collection's figures, unscaled.
type collSizes struct {
	count    int64
	dataSize int64
	indexes  []indexSize // _id_ first, then the others in creation order
}

type indexSize struct {
	name string
	size int64
}

func (s collSizes) storageSize() int64 { return s.dataSize }

func (s collSizes) indexSize() int64 {
	var n int64
	for _, ix := range s.indexes {
		n += ix.size
	}
	return n
}

func (s collSizes) totalSize() int64 { return s.storageSize() + s.indexSize() }

// sizes measures the collection as transaction t sees it (nil: its committed documents); callers
// hold store.mu.
func (c *collection) sizes(t *txn) collSizes {
	keys := make([][]keyField, len(c.indexes))
	s := collSizes{indexes: make([]indexSize, len(c.indexes))}
	for i, ix := range c.indexes {
		s.indexes[i].name = ix.name
		keys[i] = indexKeyFields(ix.spec)
	}
	for _, d := range c.docs {
		v := visible(d, t)
		if v == nil {
			continue
		}
		s.count++
		s.dataSize += int64(len(v))
		for i, k := range keys {
			s.indexes[i].size += keyEntrySize(v, k)
		}
	}
	return s
}

// keyField is one field of an index key pattern.
type keyField struct {
	path   []string
	hashed bool
}

func indexKeyFields(spec bsoncore.Document) []keyField {
	pattern, _ := spec.Lookup("key").DocumentOK()
	elems, _ := pattern.Elements()
	fields := make([]keyField, len(elems))
	for i, e := range elems {
		kind, _ := e.Value().StringValueOK()
		fields[i] = keyField{path: strings.Split(e.Key(), "."), hashed: kind == "hashed"}
	}
	return fields
}

// keyEntrySize is the size of doc's entry in an index with the key fields.
func keyEntrySize(doc bson.Raw, key []keyField) int64 {
	size := int64(5) // the key document's length and terminator
	for _, f := range key {
		size += 2 // type byte and the empty name's terminator
		v, err := doc.LookupErr(f.path...)
		switch {
		case f.hashed:
			size += 8
		case err == nil:
			size += int64(len(v.Value))
		}
	}
	return size
}

// dbSizes sums a database's collections; callers hold store.mu.
func (s *store) dbSizes(db string) (collections int64, sum collSizes) {
	for _, name := range s.collNames(db, nil) {
		cs := s.coll(db, name, nil).sizes(nil)
		collections++
		sum.count += cs.count
		sum.dataSize += cs.dataSize
		sum.indexes = append(sum.indexes, cs.indexes...)
	}
	return collections, sum
}

// bytesHeld is what the whole set stores, data and indexes; callers hold store.mu.
func (s *store) bytesHeld() int64 {
	var n int64
	for db := range s.dbs {
		_, sum := s.dbSizes(db)
		n += sum.totalSize()
	}
	return n
}

// appendStorageStats appends a collection's storage statistics as appendCollectionStorageStats
// does (src/mongo/db/stats/storage_stats.cpp): what collStats answers after ns, and what
// $collStats reports as storageStats. Sizes are divided by the integer scale; a collection that
// does not exist (exists false) has zeros.
func appendStorageStats(out []byte, cs collSizes, exists bool, scale int64) []byte {
	if !exists {
		for _, k := range []string{"size", "count", "numOrphanDocs", "storageSize", "totalSize", "nindexes", "totalIndexSize"} {
			out = bsoncore.AppendInt32Element(out, k, 0)
		}
		out = bsoncore.AppendDocumentElement(out, "indexDetails", emptyDoc)
		out = bsoncore.AppendDocumentElement(out, "indexSizes", emptyDoc)
		return bsoncore.AppendInt32Element(out, "scaleFactor", int32(scale))
	}
	out = appendNumber(out, "size", cs.dataSize/scale)
	out = appendNumber(out, "count", cs.count)
	if cs.count > 0 {
		out = bsoncore.AppendInt32Element(out, "avgObjSize", int32(cs.dataSize/cs.count))
	}
	out = bsoncore.AppendInt32Element(out, "numOrphanDocs", 0)
	out = appendNumber(out, "storageSize", cs.storageSize()/scale)
	out = bsoncore.AppendInt32Element(out, "freeStorageSize", 0)
	out = bsoncore.AppendBooleanElement(out, "capped", false)
	out = bsoncore.AppendInt32Element(out, "nindexes", int32(len(cs.indexes)))
	out = bsoncore.AppendDocumentElement(out, "indexDetails", emptyDoc)
	out = appendStrings(out, "indexBuilds", nil)
	out = appendNumber(out, "totalIndexSize", cs.indexSize()/scale)
	idx, out := bsoncore.AppendDocumentElementStart(out, "indexSizes")
	for _, ix := range cs.indexes {
		out = appendNumber(out, ix.name, ix.size/scale)
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	out = appendNumber(out, "totalSize", cs.totalSize()/scale)
	return bsoncore.AppendInt32Element(out, "scaleFactor", int32(scale))
}
