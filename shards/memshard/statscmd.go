package memshard

import (
	"math"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// dbStats and collStats of a replica-set member, with the sizes of stats.go.

// volumeSize is the volume memshard reports its data on (dbStats' fsTotalSize): it keeps
// everything in memory, so it names a fixed 1 TiB, and fsUsedSize is what the whole set holds.
const volumeSize = 1 << 40

// numberTypes are the types an IDL safeInt / safeInt64 field accepts, as its errors list them.
const numberTypes = "[long, int, decimal, double]"

// cmdDBStats: {dbStats: 1, scale, freeStorage} (CmdDbStats in src/mongo/db/commands/
// dbcommands.cpp, DatabaseImpl::getStats): counts as longs, sizes divided by the scale as
// doubles; a database that does not exist has zeros.
func cmdDBStats(r *request) error {
	scale := int64(1)
	if v, err := r.body.LookupErr("scale"); err == nil {
		n, ok := safeNumber(v, math.MinInt64, math.MaxInt64)
		if !ok {
			return wrongTypes("dbStats.scale", v.Type, numberTypes)
		}
		scale = n
	}
	if scale <= 0 {
		return mongoerr.New(mongoerr.BadValue, "Scale factor must be greater than zero")
	}
	freeStorage := false
	if v, err := r.body.LookupErr("freeStorage"); err == nil {
		if _, isNum := numberDouble(v); !isNum && v.Type != bsoncore.TypeBoolean {
			return wrongTypes("dbStats.freeStorage", v.Type, "[bool, long, int, decimal, double]")
		}
		freeStorage = failpoint.Truthy(v, false)
	}
	s := r.m.rs.store
	s.mu.RLock()
	collections, sum := s.dbSizes(r.db)
	held := s.bytesHeld()
	s.mu.RUnlock()
	sc := float64(scale)
	out := bsoncore.AppendStringElement(r.out, "db", r.db)
	out = bsoncore.AppendInt64Element(out, "collections", collections)
	out = bsoncore.AppendInt64Element(out, "views", 0)
	out = bsoncore.AppendInt64Element(out, "objects", sum.count)
	avg := 0.0
	if sum.count > 0 {
		avg = float64(sum.dataSize) / float64(sum.count)
	}
	out = bsoncore.AppendDoubleElement(out, "avgObjSize", avg)
	out = bsoncore.AppendDoubleElement(out, "dataSize", float64(sum.dataSize)/sc)
	out = bsoncore.AppendDoubleElement(out, "storageSize", float64(sum.storageSize())/sc)
	if freeStorage {
		out = bsoncore.AppendDoubleElement(out, "freeStorageSize", 0)
	}
	out = bsoncore.AppendInt64Element(out, "indexes", int64(len(sum.indexes)))
	out = bsoncore.AppendDoubleElement(out, "indexSize", float64(sum.indexSize())/sc)
	if freeStorage {
		out = bsoncore.AppendDoubleElement(out, "indexFreeStorageSize", 0)
	}
	out = bsoncore.AppendDoubleElement(out, "totalSize", float64(sum.totalSize())/sc)
	if freeStorage {
		out = bsoncore.AppendDoubleElement(out, "totalFreeStorageSize", 0)
	}
	out = bsoncore.AppendInt64Element(out, "scaleFactor", scale)
	used, total := float64(held)/sc, volumeSize/sc
	if collections == 0 { // a database that does not exist reports no volume either
		used, total = 0, 0
	}
	out = bsoncore.AppendDoubleElement(out, "fsUsedSize", used)
	r.out = bsoncore.AppendDoubleElement(out, "fsTotalSize", total)
	return nil
}

// cmdCollStats: {collStats: <coll>, scale} (CmdCollStats in src/mongo/db/commands/dbcommands.cpp,
// appendCollectionStorageStats in src/mongo/db/stats/storage_stats.cpp): sizes divided by the
// integer scale. A collection that does not exist answers zeros, not NamespaceNotFound: 8.0's
// collStats swallows that error.
func cmdCollStats(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	scale := int64(1)
	if v, err := r.body.LookupErr("scale"); err == nil {
		n, ok := safeNumber(v, math.MinInt32, math.MaxInt32)
		if !ok {
			return wrongTypes("collStats.scale", v.Type, numberTypes)
		}
		if n < 1 { // the IDL validator of StorageStatsSpec.scale
			return mongoerr.New(51024, "BSON field 'scale' value must be >= 1, actual value '%d'", n)
		}
		scale = n
	}
	for _, k := range []string{"verbose", "waitForLock", "numericOnly"} {
		if v, err := r.body.LookupErr(k); err == nil && v.Type != bsoncore.TypeBoolean {
			return mongoerr.New(mongoerr.TypeMismatch, "Field '%s' should be a boolean value, but found: %s", k, mongoerr.TypeName(v.Type))
		}
	}
	s := r.m.rs.store
	s.mu.RLock()
	c := s.coll(r.db, coll, nil)
	var cs collSizes
	if c != nil && c.meta.view == nil {
		cs = c.sizes(nil)
	}
	s.mu.RUnlock()
	if c != nil && c.meta.view != nil {
		return viewError(c.ns())
	}
	out := bsoncore.AppendStringElement(r.out, "ns", r.ns(coll))
	r.out = appendStorageStats(out, cs, c != nil, scale)
	return nil
}

// safeNumber is BSONElement::safeNumberLong / safeNumberInt: a number truncated toward zero and
// clamped to [lo, hi], NaN as 0; false when v is not a number.
func safeNumber(v bsoncore.Value, lo, hi int64) (int64, bool) {
	if v.Type == bsoncore.TypeInt32 || v.Type == bsoncore.TypeInt64 {
		n, _ := v.AsInt64OK()
		return min(max(n, lo), hi), true
	}
	f, ok := numberDouble(v)
	switch {
	case !ok:
		return 0, false
	case math.IsNaN(f):
		return 0, true
	case f <= float64(lo):
		return lo, true
	case f >= float64(hi):
		return hi, true
	}
	return int64(f), true
}

// numberDouble is BSONElement::numberDouble: a number as a double; false when v is not one.
func numberDouble(v bsoncore.Value) (float64, bool) {
	if v.Type == bsoncore.TypeDecimal128 {
		h, l, _ := v.Decimal128OK()
		f, err := strconv.ParseFloat(bson.NewDecimal128(h, l).String(), 64)
		return f, err == nil
	}
	return v.AsFloat64OK()
}

// wrongTypes is the IDL parser's TypeMismatch for a field that accepts several types.
func wrongTypes(field string, got bsoncore.Type, expected string) *mongoerr.Error {
	return mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s' is the wrong type '%s', expected types '%s'",
		field, mongoerr.TypeName(got), expected)
}
