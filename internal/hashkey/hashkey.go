// Package hashkey computes mongod's hashed-index key of a BSON value: the number a {f: "hashed"}
// index stores for a field's value, that $toHashedIndexKey and convertShardKeyToHashed() return,
// and that places a document in a chunk of a collection sharded on a hashed key.
//
// It is BSONElementHasher::hash64 with seed 0 (src/mongo/db/hasher.cpp). The hasher feeds MD5
// with the seed as a little-endian int32, then the value: its canonical type
// (canonicalizeBSONType, src/mongo/bson/bsontypes.h) as a little-endian int32, followed by
//   - for a number (int, long, double, decimal): the int64 of safeNumberLongForHash
//     (src/mongo/bson/bsonelement.h), little-endian. Every numeric type shares canonical type 10,
//     so 42, NumberLong(42), 42.0 and NumberDecimal("42") hash alike. Doubles truncate toward
//     zero (42.9 hashes as 42, -0 as 0), NaN becomes 0, doubles at or above 2^63 and +Inf
//     clamp to the largest int64 except 2^63 itself, which becomes the smallest int64 (kept so
//     for on-disk compatibility, SERVER-37183), doubles below -2^63 and -Inf clamp to the
//     smallest int64.
//     Decimals round half to even (Decimal128::toLong), NaN becomes 0, and values beyond the
//     int64 range and infinities clamp to its ends;
//   - for an object, an array or the scope of a code-with-scope: each element as canonical type,
//     field name with its NUL and value, recursively, then an end-of-object marker (type 0, no
//     name); a code-with-scope starts with its code string's bytes and NUL;
//   - for every other type: the value's bytes as BSON stores them (strings and symbols with their
//     length prefix and NUL, so they hash alike; binData with length and subtype; regex as its
//     two C strings; DBPointer as string and ObjectId). MinKey, MaxKey, null and undefined have
//     no value bytes; undefined shares canonical type 0 with the end-of-object marker.
//
// The first 8 bytes of the digest, read as a little-endian int64, are the key.
//
// mongod hashes every valid BSON type. Arrays hash here as $toHashedIndexKey hashes them; a
// hashed index or a shard key refuses array values before hashing, and that check belongs to its
// caller, as does hashing a missing field as null.
//
// SplitPoints gives the hashed values at which mongos pre-splits a new collection sharded on a
// hashed key into its initial chunks.
package hashkey

import (
	"crypto/md5"
	"encoding/binary"
	"math"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// defaultSeed is BSONElementHasher::DEFAULT_HASH_SEED, the seed of every hashed index.
const defaultSeed int32 = 0

// maxDepth bounds nesting below the hashed value, as BSONDepth::kDefaultMaxAllowableDepth
// (src/mongo/bson/bson_depth.h) bounds it in documents mongod accepts.
const maxDepth = 200

// Hash returns mongod's hashed-index key of v. v must be one whole, well-formed BSON value; an
// error (InvalidBSON or Overflow, as mongod's BSON validation would answer) says what is wrong.
func Hash(v bsoncore.Value) (int64, error) {
	return hashWithSeed(defaultSeed, v)
}

func hashWithSeed(seed int32, v bsoncore.Value) (int64, error) {
	if isContainer(v.Type) {
		// Each element's type byte becomes 4 bytes and an int 8: twice the data is room enough
		// for most values.
		in := binary.LittleEndian.AppendUint32(make([]byte, 0, 2*len(v.Data)+16), uint32(seed))
		in, rest, err := appendValue(in, v.Type, nil, v.Data, 0)
		return digest(in, rest, v.Type, err)
	}
	// Apart from the recursive walk, the input of a scalar stays on the stack.
	var scratch [128]byte
	in, err := appendHeader(binary.LittleEndian.AppendUint32(scratch[:0], uint32(seed)), v.Type, nil)
	if err != nil {
		return 0, err
	}
	in, rest, err := appendScalar(in, v.Type, v.Data)
	return digest(in, rest, v.Type, err)
}

// digest finishes a hash whose input is in; rest is what followed the value of type t.
func digest(in, rest []byte, t bsoncore.Type, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	if len(rest) != 0 {
		return 0, invalid("%d bytes follow the %s value", len(rest), t)
	}
	sum := md5.Sum(in)
	return int64(binary.LittleEndian.Uint64(sum[:8])), nil
}

// Canonical types (canonicalizeBSONType): equal values of types that compare as one share one.
const (
	canonMinKey    = -1
	canonUndefined = 0 // also the end-of-object marker
	canonNull      = 5
	canonNumber    = 10
	canonString    = 15
	canonObject    = 20
	canonArray     = 25
	canonBinary    = 30
	canonObjectID  = 35
	canonBoolean   = 40
	canonDate      = 45
	canonTimestamp = 47
	canonRegex     = 50
	canonDBPointer = 55
	canonCode      = 60
	canonCodeScope = 65
	canonMaxKey    = 127
	canonEndOfObj  = canonUndefined
)

// objectMinLength is an empty document's size: its int32 length and terminating NUL.
const objectMinLength = 5

func canonicalType(t bsoncore.Type) (int32, bool) {
	switch t {
	case bsoncore.TypeMinKey:
		return canonMinKey, true
	case bsoncore.TypeUndefined:
		return canonUndefined, true
	case bsoncore.TypeNull:
		return canonNull, true
	case bsoncore.TypeDouble, bsoncore.TypeInt32, bsoncore.TypeInt64, bsoncore.TypeDecimal128:
		return canonNumber, true
	case bsoncore.TypeString, bsoncore.TypeSymbol:
		return canonString, true
	case bsoncore.TypeEmbeddedDocument:
		return canonObject, true
	case bsoncore.TypeArray:
		return canonArray, true
	case bsoncore.TypeBinary:
		return canonBinary, true
	case bsoncore.TypeObjectID:
		return canonObjectID, true
	case bsoncore.TypeBoolean:
		return canonBoolean, true
	case bsoncore.TypeDateTime:
		return canonDate, true
	case bsoncore.TypeTimestamp:
		return canonTimestamp, true
	case bsoncore.TypeRegex:
		return canonRegex, true
	case bsoncore.TypeDBPointer:
		return canonDBPointer, true
	case bsoncore.TypeJavaScript:
		return canonCode, true
	case bsoncore.TypeCodeWithScope:
		return canonCodeScope, true
	case bsoncore.TypeMaxKey:
		return canonMaxKey, true
	}
	return 0, false
}

// appendValue appends the hasher's input for the value of type t at the start of src, preceded
// by name (a field name with its NUL, nil at the top level), and returns the bytes after it.
func appendValue(dst []byte, t bsoncore.Type, name, src []byte, depth int) ([]byte, []byte, error) {
	dst, err := appendHeader(dst, t, name)
	if err != nil {
		return dst, nil, err
	}
	switch t {
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		return appendObject(dst, src, depth)
	case bsoncore.TypeCodeWithScope:
		return appendCodeWithScope(dst, src, depth)
	}
	return appendScalar(dst, t, src)
}

func isContainer(t bsoncore.Type) bool {
	return t == bsoncore.TypeEmbeddedDocument || t == bsoncore.TypeArray || t == bsoncore.TypeCodeWithScope
}

// appendHeader appends the canonical type of t and the field name, if any.
func appendHeader(dst []byte, t bsoncore.Type, name []byte) ([]byte, error) {
	canon, ok := canonicalType(t)
	if !ok {
		return dst, invalid("Unrecognized BSON type %d", byte(t))
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(canon))
	return append(dst, name...), nil
}

// appendScalar appends the value bytes of a value of type t that holds no elements: numbers as
// their int64, everything else as stored.
func appendScalar(dst []byte, t bsoncore.Type, src []byte) ([]byte, []byte, error) {
	switch t {
	case bsoncore.TypeMinKey, bsoncore.TypeMaxKey, bsoncore.TypeNull, bsoncore.TypeUndefined:
		return dst, src, nil
	case bsoncore.TypeDouble:
		b, rest, err := fixed(src, 8, t)
		if err != nil {
			return dst, nil, err
		}
		n := doubleToHashLong(math.Float64frombits(binary.LittleEndian.Uint64(b)))
		return binary.LittleEndian.AppendUint64(dst, uint64(n)), rest, nil
	case bsoncore.TypeInt32:
		b, rest, err := fixed(src, 4, t)
		if err != nil {
			return dst, nil, err
		}
		n := int64(int32(binary.LittleEndian.Uint32(b)))
		return binary.LittleEndian.AppendUint64(dst, uint64(n)), rest, nil
	case bsoncore.TypeDecimal128:
		b, rest, err := fixed(src, 16, t)
		if err != nil {
			return dst, nil, err
		}
		n := decimalToHashLong(binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[:8]))
		return binary.LittleEndian.AppendUint64(dst, uint64(n)), rest, nil
	case bsoncore.TypeInt64, bsoncore.TypeDateTime, bsoncore.TypeTimestamp:
		b, rest, err := fixed(src, 8, t)
		return append(dst, b...), rest, err
	case bsoncore.TypeObjectID:
		b, rest, err := fixed(src, 12, t)
		return append(dst, b...), rest, err
	case bsoncore.TypeBoolean:
		b, rest, err := fixed(src, 1, t)
		return append(dst, b...), rest, err
	case bsoncore.TypeString, bsoncore.TypeSymbol, bsoncore.TypeJavaScript:
		b, rest, err := lengthPrefixedString(src, t)
		return append(dst, b...), rest, err
	case bsoncore.TypeBinary:
		b, rest, err := binData(src)
		return append(dst, b...), rest, err
	case bsoncore.TypeRegex:
		b, rest, err := regex(src)
		return append(dst, b...), rest, err
	case bsoncore.TypeDBPointer:
		ns, rest, err := lengthPrefixedString(src, t)
		if err != nil {
			return dst, nil, err
		}
		oid, rest, err := fixed(rest, 12, t)
		return append(append(dst, ns...), oid...), rest, err
	}
	return dst, nil, invalid("Unrecognized BSON type %d", byte(t))
}

// appendObject hashes each element of the document at the start of src, then the
// end-of-object marker, as recursiveHash does for objects and arrays.
func appendObject(dst, src []byte, depth int) ([]byte, []byte, error) {
	if depth > maxDepth {
		return dst, nil, mongoerr.New(mongoerr.Overflow, "BSONObj exceeds maximum nested object depth")
	}
	body, rest, err := document(src)
	if err != nil {
		return dst, nil, err
	}
	for len(body) > 0 {
		t := bsoncore.Type(body[0])
		nameLen := cstringLen(body[1:])
		if nameLen < 0 {
			return dst, nil, invalid("field name is not NUL-terminated")
		}
		name := body[1 : 1+nameLen+1]
		dst, body, err = appendValue(dst, t, name, body[1+nameLen+1:], depth+1)
		if err != nil {
			return dst, nil, err
		}
	}
	return binary.LittleEndian.AppendUint32(dst, canonEndOfObj), rest, nil
}

// appendCodeWithScope hashes the code string (its bytes and NUL, without the length prefix),
// then the scope as an object.
func appendCodeWithScope(dst, src []byte, depth int) ([]byte, []byte, error) {
	if len(src) < 4 {
		return dst, nil, truncated(bsoncore.TypeCodeWithScope)
	}
	total := int(int32(binary.LittleEndian.Uint32(src)))
	if total < 4 || total > len(src) {
		return dst, nil, invalid("code with scope length %d does not fit its %d bytes", total, len(src))
	}
	whole, rest := src[4:total], src[total:]
	code, scope, err := lengthPrefixedString(whole, bsoncore.TypeCodeWithScope)
	if err != nil {
		return dst, nil, err
	}
	dst = append(dst, code[4:]...)
	dst, left, err := appendObject(dst, scope, depth)
	if err != nil {
		return dst, nil, err
	}
	if len(left) != 0 {
		return dst, nil, invalid("code with scope length %d disagrees with its parts", total)
	}
	return dst, rest, nil
}

// document returns the elements of the document at the start of src (without length and
// terminator) and the bytes after it.
func document(src []byte) (body, rest []byte, err error) {
	if len(src) < 4 {
		return nil, nil, invalid("document is shorter than its length prefix")
	}
	n := int(int32(binary.LittleEndian.Uint32(src)))
	if n < objectMinLength || n > len(src) {
		return nil, nil, invalid("document length %d does not fit its %d bytes", n, len(src))
	}
	if src[n-1] != 0 {
		return nil, nil, invalid("document does not end with NUL")
	}
	return src[4 : n-1], src[n:], nil
}

// lengthPrefixedString returns a BSON string (int32 length, bytes, NUL) whole, as mongod hashes
// it, and the bytes after it.
func lengthPrefixedString(src []byte, t bsoncore.Type) (whole, rest []byte, err error) {
	if len(src) < 4 {
		return nil, nil, truncated(t)
	}
	n := int(int32(binary.LittleEndian.Uint32(src)))
	if n < 1 || n > len(src)-4 {
		return nil, nil, invalid("%s length %d does not fit its %d bytes", t, n, len(src)-4)
	}
	if src[4+n-1] != 0 {
		return nil, nil, invalid("%s does not end with NUL", t)
	}
	return src[:4+n], src[4+n:], nil
}

// binData returns a binary value (int32 length, subtype, bytes) whole and the bytes after it.
func binData(src []byte) (whole, rest []byte, err error) {
	if len(src) < 5 {
		return nil, nil, truncated(bsoncore.TypeBinary)
	}
	n := int(int32(binary.LittleEndian.Uint32(src)))
	if n < 0 || n > len(src)-5 {
		return nil, nil, invalid("binData length %d does not fit its %d bytes", n, len(src)-5)
	}
	return src[:5+n], src[5+n:], nil
}

// regex returns a regular expression (pattern and options, each a C string) whole and the bytes
// after it.
func regex(src []byte) (whole, rest []byte, err error) {
	pattern := cstringLen(src)
	if pattern < 0 {
		return nil, nil, truncated(bsoncore.TypeRegex)
	}
	options := cstringLen(src[pattern+1:])
	if options < 0 {
		return nil, nil, truncated(bsoncore.TypeRegex)
	}
	n := pattern + 1 + options + 1
	return src[:n], src[n:], nil
}

func fixed(src []byte, n int, t bsoncore.Type) (value, rest []byte, err error) {
	if len(src) < n {
		return nil, nil, truncated(t)
	}
	return src[:n], src[n:], nil
}

// cstringLen is the length of the C string at the start of b without its NUL, or -1 if b holds
// no NUL.
func cstringLen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

func truncated(t bsoncore.Type) error {
	return invalid("%s value is truncated", t)
}

func invalid(format string, args ...any) error {
	return mongoerr.New(mongoerr.InvalidBSON, format, args...)
}
