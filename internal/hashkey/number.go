package hashkey

import (
	"math"
	"math/big"
)

// The int64 every number becomes before it is hashed: BSONElement::safeNumberLongForHash and
// safeNumberLong (src/mongo/bson/bsonelement.h). int and long convert exactly.

// twoTo63 is BSONElement::kLongLongMaxPlusOneAsDouble, the least double beyond the int64 range.
const twoTo63 = 0x1p63

// doubleToHashLong truncates toward zero, with NaN as 0 and clamping outside the int64 range;
// exactly 2^63 becomes math.MinInt64, as a C cast of it did before mongod made the case explicit.
func doubleToHashLong(d float64) int64 {
	switch {
	case math.IsNaN(d):
		return 0
	case d == twoTo63:
		return math.MinInt64
	case !(d < twoTo63):
		return math.MaxInt64
	case d < -twoTo63:
		return math.MinInt64
	}
	return int64(d)
}

// IEEE 754-2008 decimal128 in binary integer decimal encoding, as BSON stores it
// (src/mongo/platform/decimal128.h uses the Intel library over the same bits).
const (
	decimalExponentBias  = 6176
	decimalMaxDigits     = 34
	decimalCoeffHighBits = 49 // coefficient bits in the high word of the usual form
)

var (
	decimalMaxCoefficient = new(big.Int).Sub(pow10(decimalMaxDigits), big.NewInt(1)) // 10^34 - 1
	bigMaxInt64           = big.NewInt(math.MaxInt64)
	bigTwoTo63            = new(big.Int).Lsh(big.NewInt(1), 63) // |math.MinInt64|
)

// decimalToHashLong is safeNumberLong on a decimal: NaN is 0, values above the int64 range
// (and +Inf) clamp to math.MaxInt64, values below it (and -Inf) to math.MinInt64, and the rest
// round half to even (Decimal128::toLong's default rounding).
func decimalToHashLong(high, low uint64) int64 {
	negative := high>>63 == 1
	switch combination := high >> 58 & 0x1f; {
	case combination == 0x1f: // NaN, quiet or signalling
		return 0
	case combination == 0x1e: // infinity
		return clamp(negative)
	case high>>61&3 == 3:
		// The form whose coefficient starts with 100: always more than 34 digits, which makes it
		// a non-canonical encoding of zero.
		return 0
	}
	exponent := int(high>>decimalCoeffHighBits&0x3fff) - decimalExponentBias
	coefficient := new(big.Int).SetUint64(high & (1<<decimalCoeffHighBits - 1))
	coefficient.Lsh(coefficient, 64).Or(coefficient, new(big.Int).SetUint64(low))
	if coefficient.Sign() == 0 || coefficient.Cmp(decimalMaxCoefficient) > 0 {
		return 0 // zero of any exponent and sign, or a non-canonical coefficient read as zero
	}

	limit := bigMaxInt64 // the largest magnitude that stays in range
	if negative {
		limit = bigTwoTo63
	}
	switch {
	case exponent > 19: // at least 10^20: beyond the int64 range
		return clamp(negative)
	case exponent < -decimalMaxDigits: // below 0.1 in magnitude: rounds to zero
		return 0
	case exponent >= 0:
		magnitude := coefficient.Mul(coefficient, pow10(exponent))
		if magnitude.Cmp(limit) > 0 {
			return clamp(negative)
		}
		return signed(magnitude, negative)
	}

	scale := pow10(-exponent)
	quotient, remainder := new(big.Int).QuoRem(coefficient, scale, new(big.Int))
	if c := quotient.Cmp(limit); c > 0 || c == 0 && remainder.Sign() > 0 {
		return clamp(negative)
	}
	// Ties to even: up when the remainder is more than half, or exactly half with an odd quotient.
	switch remainder.Lsh(remainder, 1).Cmp(scale) {
	case 1:
		quotient.Add(quotient, big.NewInt(1))
	case 0:
		if quotient.Bit(0) == 1 {
			quotient.Add(quotient, big.NewInt(1))
		}
	}
	return signed(quotient, negative)
}

func clamp(negative bool) int64 {
	if negative {
		return math.MinInt64
	}
	return math.MaxInt64
}

// signed returns ±magnitude; magnitude is at most 2^63 when negative and 2^63-1 otherwise.
func signed(magnitude *big.Int, negative bool) int64 {
	if negative {
		return int64(-magnitude.Uint64()) // 2^63 wraps to math.MinInt64, as intended
	}
	return magnitude.Int64()
}

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}
