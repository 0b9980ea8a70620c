package hashkey

import (
	"errors"
	"math"
	"math/big"
	"strconv"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// FuzzHash: any type byte and any bytes either hash or fail with a MongoDB-shaped error, never
// a panic; and a value that hashes alone hashes as an element of an object too.
func FuzzHash(f *testing.F) {
	for _, v := range publishedVectors(f) {
		f.Add(byte(v.value.Type), v.value.Data)
	}
	f.Add(byte(bsoncore.TypeDecimal128), decimal(f, "2.5").Data)
	f.Add(byte(bsoncore.TypeArray), nested(f, 3).Data)
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		v := bsoncore.Value{Type: bsoncore.Type(typ), Data: data}
		if _, err := Hash(v); err != nil {
			var me *mongoerr.Error
			if !errors.As(err, &me) || me.Code == 0 || me.Msg == "" {
				t.Fatalf("not a MongoDB error: %T %v", err, err)
			}
			return
		}
		inObject := bsoncore.BuildDocumentValue(bsoncore.AppendValueElement(nil, "f", v))
		if _, err := Hash(inObject); err != nil && !isOverflow(err) {
			t.Fatalf("%s %x hashes alone but not in an object: %v", v.Type, data, err)
		}
	})
}

// isOverflow reports an error for nesting deeper than mongod allows.
func isOverflow(err error) bool {
	var me *mongoerr.Error
	return errors.As(err, &me) && me.Code == mongoerr.Overflow
}

// FuzzWholeNumbersHashAlike: int, long, double and decimal holding the same whole number hash
// alike, and a double's fraction is truncated away.
func FuzzWholeNumbersHashAlike(f *testing.F) {
	for _, x := range []int64{0, 1, -1, 42, math.MaxInt32, math.MinInt32, 1 << 53, math.MaxInt64, math.MinInt64} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x int64) {
		want, err := Hash(val(t, x))
		if err != nil {
			t.Fatal(err)
		}
		same := func(kind string, v bsoncore.Value) {
			t.Helper()
			got, err := Hash(v)
			if err != nil || got != want {
				t.Fatalf("%d as %s hashes %d, %v; as long %d", x, kind, got, err, want)
			}
		}
		if x >= math.MinInt32 && x <= math.MaxInt32 {
			same("int", val(t, int32(x)))
		}
		if d := float64(x); d < twoTo63 && int64(d) == x {
			same("double", val(t, d))
		}
		if x > -1<<50 && x < 1<<50 {
			same("double with a fraction", val(t, float64(x)+math.Copysign(0.25, float64(x))))
		}
		same("decimal", decimal(t, strconv.FormatInt(x, 10)))
		same("decimal with a zero fraction", decimal(t, strconv.FormatInt(x, 10)+".000"))
	})
}

// FuzzDecimal compares the decimal normalization with an oracle built on another path: the
// driver prints the decimal, big.Rat reads it, and safeNumberLong's rules apply to the exact
// rational.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"2.5", "-3.5", "9223372036854775807.5", "-9223372036854775808.5", "1E+30", "NaN", "-Infinity", "0.1234"} {
		d, err := bson.ParseDecimal128(s)
		if err != nil {
			f.Fatal(err)
		}
		high, low := d.GetBytes()
		f.Add(high, low)
	}
	f.Fuzz(func(t *testing.T, high, low uint64) {
		got := decimalToHashLong(high, low)
		s := bson.NewDecimal128(high, low).String()
		want, ok := decimalOracle(high, low, s)
		if ok && got != want {
			t.Fatalf("decimal %s (%#x %#x) becomes %d, want %d", s, high, low, got, want)
		}
	})
}

// decimalOracle returns what safeNumberLong makes of the decimal printed as s. It declines the
// encodings the driver prints differently from IEEE 754's reading: coefficients beyond 34
// digits, which IEEE 754 reads as zero.
func decimalOracle(high, low uint64, s string) (int64, bool) {
	switch s {
	case "NaN":
		return 0, true
	case "Infinity":
		return math.MaxInt64, true
	case "-Infinity":
		return math.MinInt64, true
	}
	if high>>61&3 != 3 {
		coefficient := new(big.Int).SetUint64(high & (1<<49 - 1))
		coefficient.Lsh(coefficient, 64).Or(coefficient, new(big.Int).SetUint64(low))
		if coefficient.Cmp(decimalMaxCoefficient) > 0 {
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	switch {
	case r.Cmp(new(big.Rat).SetInt64(math.MaxInt64)) > 0:
		return math.MaxInt64, true
	case r.Cmp(new(big.Rat).SetInt64(math.MinInt64)) < 0:
		return math.MinInt64, true
	}
	// Round half to even: floor(r + 1/2), less one when r + 1/2 is an odd integer.
	half := new(big.Rat).Add(r, big.NewRat(1, 2))
	floor := new(big.Int).Div(half.Num(), half.Denom()) // Euclidean: floor for a positive divisor
	if half.IsInt() && floor.Bit(0) == 1 {
		floor.Sub(floor, big.NewInt(1))
	}
	return floor.Int64(), true
}
