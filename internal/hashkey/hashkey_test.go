package hashkey

import (
	"errors"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// vector is a (value, seed) → key pair that MongoDB publishes.
type vector struct {
	name  string
	value bsoncore.Value
	seed  int32
	want  int64
}

// publishedVectors are every concrete value → hash pair found in MongoDB's own tests and docs.
// They are the authority; none of them was produced by this package.
//
//   - hasher_test.cpp is src/mongo/db/hasher_test.cpp of mongodb/mongo ("hard-coded checks to
//     ensure the hash function is consistent across platforms and server versions"); hasher.cpp
//     repeats {check: 42} as a startup self-test. The Timestamp and non-zero-seed cases are in
//     the file's later versions, where Timestamp has its own canonical type (47): read from
//     copies of that file in forks of mongodb/mongo (SunguckLee/Real-MongoDB, axelfast/mongo).
//   - hash.js is jstests/core/hash.js of mongodb/mongo, run through _hashBSONElement with seed 1;
//     the mongo shell's numbers are doubles.
//   - toHashedIndexKey.txt is the example of the $toHashedIndexKey reference page in
//     mongodb/docs (source/reference/operator/aggregation/toHashedIndexKey.txt).
func publishedVectors(t testing.TB) []vector {
	const (
		hashOf42     = -944302157085130861
		hashOf0      = 4854801880128277513
		hashOf1      = 5902408780260971510
		hashOfMinus1 = 1140205862565771219
		hashOfMinInt = 6165898260261354870
		hashOfMaxInt = 1143184177162245883
		hashOfMaxLL  = 921523596458303250
		hashOfMinLL  = 4532067210535695462
		hashOfABC    = 8478485326885698097
		hashOfEmpty  = 2049396243249673340

		// hash.js, seed 1.
		seed1MaxNumberLong    = 1136124329541638701
		seed1LowestNumberLong = 5744114172487291558
		seed1ZeroNumberLong   = 5574369198691456941
	)
	v := func(x any) bsoncore.Value { return val(t, x) }
	bytes6 := []byte{0, 1, 2, 3, 4, 6}
	uuid16 := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	id := oid(t, "010203040506070809101112")
	const fn = "func f() { return 1; }"
	return []vector{
		// hasher.cpp startup test and hasher_test.cpp HashIntOrLongOrDouble.
		{"hasher.cpp: int 42", v(int32(42)), 0, hashOf42},
		{"hasher_test.cpp: double 42.123", v(42.123), 0, hashOf42},
		{"hasher_test.cpp: long 42", v(int64(42)), 0, hashOf42},
		{"hasher_test.cpp: int 0", v(int32(0)), 0, hashOf0},
		{"hasher_test.cpp: double 0.456", v(0.456), 0, hashOf0},
		{"hasher_test.cpp: long 0", v(int64(0)), 0, hashOf0},
		{"hasher_test.cpp: signalling NaN", v(signallingNaN), 0, hashOf0},
		{"hasher_test.cpp: quiet NaN", v(quietNaN), 0, hashOf0},
		{"hasher_test.cpp: int 1", v(int32(1)), 0, hashOf1},
		{"hasher_test.cpp: double 1.987", v(1.987), 0, hashOf1},
		{"hasher_test.cpp: long 1", v(int64(1)), 0, hashOf1},
		{"hasher_test.cpp: int -1", v(int32(-1)), 0, hashOfMinus1},
		{"hasher_test.cpp: double -1.789", v(-1.789), 0, hashOfMinus1},
		{"hasher_test.cpp: long -1", v(int64(-1)), 0, hashOfMinus1},
		{"hasher_test.cpp: int min", v(int32(math.MinInt32)), 0, hashOfMinInt},
		{"hasher_test.cpp: double int min", v(float64(math.MinInt32)), 0, hashOfMinInt},
		{"hasher_test.cpp: long int min", v(int64(math.MinInt32)), 0, hashOfMinInt},
		{"hasher_test.cpp: int max", v(int32(math.MaxInt32)), 0, hashOfMaxInt},
		{"hasher_test.cpp: double int max", v(float64(math.MaxInt32)), 0, hashOfMaxInt},
		{"hasher_test.cpp: long int max", v(int64(math.MaxInt32)), 0, hashOfMaxInt},
		{"hasher_test.cpp: double max", v(math.MaxFloat64), 0, hashOfMaxLL},
		{"hasher_test.cpp: long max", v(int64(math.MaxInt64)), 0, hashOfMaxLL},
		{"hasher_test.cpp: -double max", v(-math.MaxFloat64), 0, hashOfMinLL},
		{"hasher_test.cpp: long min", v(int64(math.MinInt64)), 0, hashOfMinLL},

		// hasher_test.cpp, one test per type.
		{"hasher_test.cpp: MinKey", v(bson.MinKey{}), 0, 7961148599568647290},
		{"hasher_test.cpp: MaxKey", v(bson.MaxKey{}), 0, 5504842513779440750},
		{"hasher_test.cpp: undefined", v(bson.Undefined{}), 0, 40158834000849533},
		{"hasher_test.cpp: null", v(bson.Null{}), 0, 2338878944348059895},
		{"hasher_test.cpp: string abc", v("abc"), 0, hashOfABC},
		{"hasher_test.cpp: symbol abc", v(bson.Symbol("abc")), 0, hashOfABC},
		{"hasher_test.cpp: empty string", v(""), 0, hashOfEmpty},
		{"hasher_test.cpp: empty symbol", v(bson.Symbol("")), 0, hashOfEmpty},
		{"hasher_test.cpp: object", v(bson.D{{Key: "a", Value: "abc"}, {Key: "b", Value: int64(123)}}), 0, 4771603801758380216},
		{"hasher_test.cpp: empty object", v(bson.D{}), 0, 7980500913326740417},
		{"hasher_test.cpp: array", v(bson.A{"bar", "baz", "qux"}), 0, -2938911267422831539},
		{"hasher_test.cpp: empty array", v(bson.A{}), 0, 8849948234993459283},
		{"hasher_test.cpp: binData general", v(bson.Binary{Subtype: 0, Data: bytes6}), 0, 7252465090394235301},
		{"hasher_test.cpp: binData custom", v(bson.Binary{Subtype: 128, Data: bytes6}), 0, 5736670452907618262},
		{"hasher_test.cpp: binData UUID", v(bson.Binary{Subtype: 4, Data: uuid16}), 0, 6084661258071355978},
		{"hasher_test.cpp: ObjectId", v(id), 0, -5588663249627035708},
		{"hasher_test.cpp: zero ObjectId", v(bson.ObjectID{}), 0, -4293118519463489418},
		{"hasher_test.cpp: true", v(true), 0, 6405873908747105701},
		{"hasher_test.cpp: false", v(false), 0, 6289544573401934092},
		{"hasher_test.cpp: date", v(bson.DateTime(0x5566778811223344)), 0, 4476222765095560467},
		{"hasher_test.cpp: timestamp", v(bson.Timestamp{T: 0x55667788, I: 0x11223344}), 0, 4873046866288452390},
		{"hasher_test.cpp: date 0", v(bson.DateTime(0)), 0, -1178696894582842035},
		{"hasher_test.cpp: timestamp 0", v(bson.Timestamp{}), 0, -7867208682377458672},
		{"hasher_test.cpp: regex", v(bson.Regex{Pattern: "mongodb"}), 0, -7275792090268217043},
		{"hasher_test.cpp: regex with options", v(bson.Regex{Pattern: ".*", Options: "i"}), 0, 7095855029187981886},
		{"hasher_test.cpp: DBRef", v(bson.DBPointer{DB: "c", Pointer: id}), 0, 940175826736461384},
		{"hasher_test.cpp: DBRef db.c", v(bson.DBPointer{DB: "db.c", Pointer: id}), 0, 2426768198104018194},
		{"hasher_test.cpp: code", v(bson.JavaScript(fn)), 0, 6861638109178014270},
		{"hasher_test.cpp: code with scope", v(bson.CodeWithScope{Code: fn, Scope: bson.D{{Key: "c", Value: true}}}), 0, 501342939894575968},
		{"hasher_test.cpp: seed 40513, int 42", v(int32(42)), 40513, 4302929669663179197},
		{"hasher_test.cpp: seed 40513, array", v(bson.A{"sunflower", "sesame", "mustard"}), 40513, -9222615859251096151},

		// hash.js, seed 1.
		{"hash.js: string", v("hashthis"), 1, 6271151123721111923},
		{"hash.js: 2^63", v(twoTo63Double), 1, seed1LowestNumberLong},
		{"hash.js: 2^63 + 2^11", v(aboveTwoTo63), 1, seed1MaxNumberLong},
		{"hash.js: 2^500", v(math.Pow(2, 500)), 1, seed1MaxNumberLong},
		{"hash.js: Infinity", v(math.Inf(1)), 1, seed1MaxNumberLong},
		{"hash.js: 2^63 - 2^10", v(belowTwoTo63), 1, -3954856262017896439},
		{"hash.js: -2^63", v(-twoTo63Double), 1, seed1LowestNumberLong},
		{"hash.js: -(2^63 - 2^10)", v(-belowTwoTo63), 1, -1762411739488908479},
		{"hash.js: -(2^63 + 2^11)", v(-aboveTwoTo63), 1, seed1LowestNumberLong},
		{"hash.js: -Infinity", v(math.Inf(-1)), 1, seed1LowestNumberLong},
		{"hash.js: 0", v(0.0), 1, seed1ZeroNumberLong},
		{"hash.js: NumberLong 0", v(int64(0)), 1, seed1ZeroNumberLong},
		{"hash.js: NaN", v(quietNaN), 1, seed1ZeroNumberLong},
		{"hash.js: -NaN", v(negativeQuietNaN), 1, seed1ZeroNumberLong},
		{"hash.js: object", v(bson.D{{Key: "a", Value: 1.0}, {Key: "b", Value: 2.0}}), 1, -7076810813311352857},
		{"hash.js: object of corner cases", v(bson.D{{Key: "a", Value: twoTo63Double}, {Key: "b", Value: quietNaN}}), 1, 1223292051903137684},
		// The file names its constants for the int64 values that large doubles clamp to.
		{"hash.js: hashOfMaxNumberLong", v(int64(math.MaxInt64)), 1, seed1MaxNumberLong},
		{"hash.js: hashOfLowestNumberLong", v(int64(math.MinInt64)), 1, seed1LowestNumberLong},
		{"hash.js: hashOfZeroNumberLong", v(int64(0)), 1, seed1ZeroNumberLong},

		{"toHashedIndexKey.txt: string to hash", v("string to hash"), 0, 763543691661428748},
	}
}

func TestPublishedVectors(t *testing.T) {
	for _, v := range publishedVectors(t) {
		got, err := hashWithSeed(v.seed, v.value)
		if err != nil {
			t.Errorf("%s: %v", v.name, err)
			continue
		}
		if got != v.want {
			t.Errorf("%s: hash %d, want %d", v.name, got, v.want)
		}
	}
}

func TestHashUsesSeedZero(t *testing.T) {
	for _, v := range publishedVectors(t) {
		if v.seed != 0 {
			continue
		}
		got, err := Hash(v.value)
		if err != nil || got != v.want {
			t.Errorf("%s: Hash = %d, %v; want %d", v.name, got, err, v.want)
		}
	}
}

// TestPublishedRelations checks the pairs MongoDB's tests assert equal or different without
// stating the hash: hasher_test.cpp's first tests and jstests/hashtest1.js of mongodb/mongo.
func TestPublishedRelations(t *testing.T) {
	const stupid = "print('this is some stupid code')"
	maxLL, minLL := float64(math.MaxInt64), -float64(math.MaxInt64)
	tests := []struct {
		name  string
		a, b  any
		equal bool
	}{
		{"int, long and double 3", int32(3), int64(3), true},
		{"double 3.1 truncates to 3", 3.1, int64(3), true},
		{"3 and 4 differ", int32(3), int32(4), false},
		{"3 and \"3\" differ", int32(3), "3", false},
		{"\"3\" and /3/ differ", "3", bson.Regex{Pattern: "3"}, false},
		{"array and object with index names differ", bson.D{{Key: "0", Value: int32(0)}, {Key: "1", Value: int32(1)}}, bson.A{int32(0), int32(1)}, false},
		{"sub-document grouping matters", bson.D{{Key: "a", Value: bson.D{}}, {Key: "b", Value: int32(1)}}, bson.D{{Key: "a", Value: bson.D{{Key: "b", Value: int32(1)}}}}, false},
		{"code with scope squashes numbers in its scope",
			bson.CodeWithScope{Code: stupid, Scope: bson.D{{Key: "a", Value: int32(3)}}},
			bson.CodeWithScope{Code: stupid, Scope: bson.D{{Key: "a", Value: 3.1}}}, true},
		{"code with scope hashes its code",
			bson.CodeWithScope{Code: stupid, Scope: bson.D{{Key: "a", Value: int32(3)}}},
			bson.CodeWithScope{Code: "print('this is \nsome stupider code')", Scope: bson.D{{Key: "a", Value: int32(3)}}}, false},
		{"numbers squash recursively",
			bson.D{{Key: "x", Value: bson.D{{Key: "a", Value: int32(3)}, {Key: "b", Value: bson.A{3.1, bson.D{{Key: "c", Value: int32(3)}}}}}}},
			bson.D{{Key: "x", Value: bson.D{{Key: "a", Value: 3.1}, {Key: "b", Value: bson.A{int32(3), bson.D{{Key: "c", Value: 3.0}}}}}}}, true},
		{"numbers squash in arrays", bson.A{0.0, 1.0, int64(2)}, bson.A{0.0, int32(1), 2.0}, true},
		{"MinKey and MaxKey differ", bson.MinKey{}, bson.MaxKey{}, false},
		{"true and false differ", true, false, false},
		{"false and null differ", false, bson.Null{}, false},
		{"NaN hashes as 0", quietNaN, 0.0, true},
		{"long max and a larger double", int64(math.MaxInt64), maxLL * maxLL, true},
		{"long max and half of it differ", int64(math.MaxInt64), float64(math.MaxInt64 / 2), false},
		{"long min and a smaller double", int64(math.MinInt64), minLL * -minLL, true},
	}
	for _, tt := range tests {
		a, errA := Hash(val(t, tt.a))
		b, errB := Hash(val(t, tt.b))
		if errA != nil || errB != nil {
			t.Errorf("%s: %v, %v", tt.name, errA, errB)
			continue
		}
		if (a == b) != tt.equal {
			t.Errorf("%s: hashes %d and %d, equal %v", tt.name, a, b, tt.equal)
		}
	}
}

// TestDecimalNormalization derives from safeNumberLong (src/mongo/bson/bsonelement.h) and
// Decimal128::toLong's default rounding, ties to even (src/mongo/platform/decimal128.h): a
// decimal hashes as the int64 it becomes. MongoDB publishes no decimal vector, so each case is
// compared with the hash of that int64, itself checked by TestPublishedVectors.
func TestDecimalNormalization(t *testing.T) {
	tests := []struct {
		decimal string
		asLong  int64
	}{
		{"42", 42},
		{"42.0", 42},
		{"4.2E1", 42},
		{"0", 0},
		{"-0", 0},
		{"0E-6176", 0},
		{"0E+6111", 0},
		{"1", 1},
		{"-1", -1},
		{"0.5", 0},
		{"1.5", 2},
		{"2.5", 2},
		{"-2.5", -2},
		{"3.5", 4},
		{"2.4999999999999999999999999999", 2},
		{"2.5000000000000000000000000001", 3},
		{"-1.789", -2},
		{"0.456", 0},
		{"1E-6176", 0},
		{"9223372036854775807", math.MaxInt64},
		{"9223372036854775806.5", math.MaxInt64 - 1},
		{"9223372036854775807.4", math.MaxInt64},
		{"9223372036854775808", math.MaxInt64},
		{"1E+19", math.MaxInt64},
		{"1E+20", math.MaxInt64},
		{"9.999999999999999999999999999999999E+6144", math.MaxInt64},
		{"-9223372036854775808", math.MinInt64},
		{"-9223372036854775808.4", math.MinInt64},
		{"-9223372036854775807.5", math.MinInt64},
		{"-9223372036854775809", math.MinInt64},
		{"-1E+6000", math.MinInt64},
		{"Infinity", math.MaxInt64},
		{"-Infinity", math.MinInt64},
		{"NaN", 0},
		{"-NaN", 0},
		{"1E+18", 1_000_000_000_000_000_000},
		{"123456789012345678.9", 123456789012345679},
	}
	for _, tt := range tests {
		got, err := Hash(decimal(t, tt.decimal))
		if err != nil {
			t.Errorf("%s: %v", tt.decimal, err)
			continue
		}
		want, _ := Hash(val(t, tt.asLong))
		if got != want {
			t.Errorf("NumberDecimal(%q) hashes %d, want the hash of NumberLong(%d), %d", tt.decimal, got, tt.asLong, want)
		}
	}
}

// TestDecimalEncodings covers the decimal128 bit patterns no decimal string produces: signalling
// NaN, and the form whose coefficient exceeds 34 digits, which IEEE 754 reads as zero.
func TestDecimalEncodings(t *testing.T) {
	zero, _ := Hash(val(t, int64(0)))
	tests := []struct {
		name      string
		high, low uint64
	}{
		{"signalling NaN", 0x7e00000000000000, 0},
		{"negative signalling NaN", 0xfe00000000000000, 0},
		{"NaN with payload", 0x7c00000000000000, 12345},
		{"coefficient above 10^34-1", 0x3041ed09bead87c0, 0x378d8e6400000000}, // 10^34 at exponent 0
		{"coefficient starting with 100", 0x6c10000000000000, 1},
	}
	for _, tt := range tests {
		got, err := Hash(val(t, bson.NewDecimal128(tt.high, tt.low)))
		if err != nil || got != zero {
			t.Errorf("%s: %d, %v; want the hash of 0, %d", tt.name, got, err, zero)
		}
	}
}

// TestDoubleNormalization checks safeNumberLongForHash on doubles: truncation toward zero and
// -0, which no published vector covers.
func TestDoubleNormalization(t *testing.T) {
	tests := []struct {
		d      float64
		asLong int64
	}{
		{math.Copysign(0, -1), 0},
		{-0.999, 0},
		{2.999, 2},
		{-2.999, -2},
		{1 << 53, 1 << 53},
		{belowTwoTo63, math.MaxInt64 - 1023},
		{-twoTo63Double, math.MinInt64},
	}
	for _, tt := range tests {
		got, err := Hash(val(t, tt.d))
		want, _ := Hash(val(t, tt.asLong))
		if err != nil || got != want {
			t.Errorf("double %v: %d, %v; want the hash of %d, %d", tt.d, got, err, tt.asLong, want)
		}
	}
}

func TestMalformedValues(t *testing.T) {
	tests := []struct {
		name string
		v    bsoncore.Value
		code mongoerr.Code
	}{
		{"unknown type", bsoncore.Value{Type: 0x20, Data: nil}, mongoerr.InvalidBSON},
		{"end of object as a value", bsoncore.Value{Type: 0}, mongoerr.InvalidBSON},
		{"short double", bsoncore.Value{Type: bsoncore.TypeDouble, Data: []byte{1, 2, 3}}, mongoerr.InvalidBSON},
		{"trailing bytes", bsoncore.Value{Type: bsoncore.TypeInt32, Data: []byte{1, 0, 0, 0, 9}}, mongoerr.InvalidBSON},
		{"string without NUL", bsoncore.Value{Type: bsoncore.TypeString, Data: []byte{2, 0, 0, 0, 'a', 'b'}}, mongoerr.InvalidBSON},
		{"string of length 0", bsoncore.Value{Type: bsoncore.TypeString, Data: []byte{0, 0, 0, 0}}, mongoerr.InvalidBSON},
		{"string longer than its bytes", bsoncore.Value{Type: bsoncore.TypeString, Data: []byte{9, 0, 0, 0, 'a', 0}}, mongoerr.InvalidBSON},
		{"negative binData length", bsoncore.Value{Type: bsoncore.TypeBinary, Data: []byte{0xff, 0xff, 0xff, 0xff, 0}}, mongoerr.InvalidBSON},
		{"regex without options", bsoncore.Value{Type: bsoncore.TypeRegex, Data: []byte{'a', 0}}, mongoerr.InvalidBSON},
		{"document length too large", bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: []byte{9, 0, 0, 0, 0}}, mongoerr.InvalidBSON},
		{"document without NUL", bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: []byte{5, 0, 0, 0, 1}}, mongoerr.InvalidBSON},
		{"element name without NUL", bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: []byte{7, 0, 0, 0, 0x0a, 'a', 0}}, mongoerr.InvalidBSON},
		{"element of unknown type", bsoncore.Value{Type: bsoncore.TypeArray, Data: []byte{8, 0, 0, 0, 0x42, '0', 0, 0}}, mongoerr.InvalidBSON},
		{"code with scope parts too long", codeWithScopeLengths(t, 1), mongoerr.InvalidBSON},
		{"code with scope parts too short", codeWithScopeLengths(t, -1), mongoerr.InvalidBSON},
		{"nesting beyond mongod's depth", nested(t, maxDepth+1), mongoerr.Overflow},
	}
	for _, tt := range tests {
		_, err := Hash(tt.v)
		var me *mongoerr.Error
		if !errors.As(err, &me) || me.Code != tt.code || me.Msg == "" {
			t.Errorf("%s: error %v, want code %d", tt.name, err, tt.code)
		}
	}
	if _, err := Hash(nested(t, maxDepth)); err != nil {
		t.Errorf("nesting at mongod's depth: %v", err)
	}
}

// codeWithScopeLengths returns a code with scope whose total length is off by delta, with its
// data trimmed or padded to match so that only the parts disagree.
func codeWithScopeLengths(t *testing.T, delta int) bsoncore.Value {
	t.Helper()
	v := val(t, bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "a", Value: int32(1)}}})
	total := int(int32(v.Data[0]) | int32(v.Data[1])<<8)
	total += delta
	v.Data[0], v.Data[1] = byte(total), byte(total>>8)
	if delta > 0 {
		v.Data = append(v.Data, make([]byte, delta)...)
	} else {
		v.Data = v.Data[:len(v.Data)+delta]
	}
	return v
}
