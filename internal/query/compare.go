package query

import (
	"bytes"
	"encoding/binary"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Ranks of the canonical BSON types, in MongoDB's cross-type sort order.
const (
	rankMinKey = iota + 1
	rankUndefined
	rankNull
	rankNumber
	rankString
	rankObject
	rankArray
	rankBinary
	rankObjectID
	rankBool
	rankDate
	rankTimestamp
	rankRegex
	rankDBPointer
	rankJavaScript
	rankCodeWithScope
	rankMaxKey
	rankUnknown
)

// typeRank is the canonical order of t; a missing value ranks with undefined.
func typeRank(t bson.Type) int {
	switch t {
	case bson.TypeMinKey:
		return rankMinKey
	case 0, bson.TypeUndefined:
		return rankUndefined
	case bson.TypeNull:
		return rankNull
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return rankNumber
	case bson.TypeString, bson.TypeSymbol:
		return rankString
	case bson.TypeEmbeddedDocument:
		return rankObject
	case bson.TypeArray:
		return rankArray
	case bson.TypeBinary:
		return rankBinary
	case bson.TypeObjectID:
		return rankObjectID
	case bson.TypeBoolean:
		return rankBool
	case bson.TypeDateTime:
		return rankDate
	case bson.TypeTimestamp:
		return rankTimestamp
	case bson.TypeRegex:
		return rankRegex
	case bson.TypeDBPointer:
		return rankDBPointer
	case bson.TypeJavaScript:
		return rankJavaScript
	case bson.TypeCodeWithScope:
		return rankCodeWithScope
	case bson.TypeMaxKey:
		return rankMaxKey
	}
	return rankUnknown
}

// Compare orders two values as MongoDB does: first by canonical type (MinKey < null < numbers <
// strings < objects < arrays < binData < ObjectId < bool < date < timestamp < regex < MaxKey),
// then by value. Numbers compare numerically across int32, int64, double and decimal128
// (decimals through a double approximation); strings compare bytewise; documents field by
// field (type, name, value); arrays element by element. It returns -1, 0 or 1 and does not
// allocate for scalars.
func Compare(a, b bson.RawValue) int { return compare(a, b, nil) }

// Compare orders two values as the package's Compare does, but strings (also inside documents
// and arrays) by the collation.
func (c *Collation) Compare(a, b bson.RawValue) int { return compare(a, b, c) }

func compare(a, b bson.RawValue, coll *Collation) int {
	ra, rb := typeRank(a.Type), typeRank(b.Type)
	if ra != rb {
		return cmp3(ra < rb, ra > rb)
	}
	switch ra {
	case rankUndefined, rankNull, rankMinKey, rankMaxKey:
		return 0
	case rankNumber:
		na, okA := numberOf(a)
		nb, okB := numberOf(b)
		if okA && okB {
			return compareNumbers(na, nb)
		}
	case rankString:
		sa, okA := strBytes(a)
		sb, okB := strBytes(b)
		if okA && okB {
			return coll.compareStrings(sa, sb)
		}
	case rankJavaScript:
		sa, okA := strBytes(a)
		sb, okB := strBytes(b)
		if okA && okB {
			return bytes.Compare(sa, sb)
		}
	case rankObject, rankArray:
		da, okA := subDoc(a)
		db, okB := subDoc(b)
		if okA && okB {
			return compareDocs(da, db, coll)
		}
	case rankBinary:
		if len(a.Value) >= 5 && len(b.Value) >= 5 {
			la, lb := binary.LittleEndian.Uint32(a.Value), binary.LittleEndian.Uint32(b.Value)
			if la != lb {
				return cmp3(la < lb, la > lb)
			}
			if a.Value[4] != b.Value[4] {
				return cmp3(a.Value[4] < b.Value[4], a.Value[4] > b.Value[4])
			}
			return bytes.Compare(a.Value[5:], b.Value[5:])
		}
	case rankBool:
		return bytes.Compare(a.Value, b.Value)
	case rankDate:
		ia, okA := i64(a)
		ib, okB := i64(b)
		if okA && okB {
			return cmp3(ia < ib, ia > ib)
		}
	case rankTimestamp:
		ia, okA := i64(a)
		ib, okB := i64(b)
		if okA && okB {
			return cmp3(uint64(ia) < uint64(ib), uint64(ia) > uint64(ib))
		}
	case rankRegex:
		pa, oa, okA := regexParts(a)
		pb, ob, okB := regexParts(b)
		if okA && okB {
			if c := bytes.Compare(pa, pb); c != 0 {
				return c
			}
			return bytes.Compare(oa, ob)
		}
	case rankDBPointer:
		if len(a.Value) != len(b.Value) {
			return cmp3(len(a.Value) < len(b.Value), len(a.Value) > len(b.Value))
		}
	}
	// ObjectId, code with scope and anything malformed: bytewise.
	return bytes.Compare(a.Value, b.Value)
}

func compareDocs(a, b []byte, coll *Collation) int {
	ia, ib := newIter(a), newIter(b)
	for {
		ka, va, okA := ia.next()
		kb, vb, okB := ib.next()
		if !okA || !okB {
			return cmp3(!okA && okB, okA && !okB)
		}
		if ra, rb := typeRank(va.Type), typeRank(vb.Type); ra != rb {
			return cmp3(ra < rb, ra > rb)
		}
		if c := bytes.Compare(ka, kb); c != 0 {
			return c
		}
		if c := compare(va, vb, coll); c != 0 {
			return c
		}
	}
}
