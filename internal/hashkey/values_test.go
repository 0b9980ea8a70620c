package hashkey

import (
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// val is the BSON value the driver encodes for x: int32 and int64 for ints and longs, float64
// for doubles, bson.D and bson.A for objects and arrays, the bson types for the rest.
func val(t testing.TB, x any) bsoncore.Value {
	t.Helper()
	typ, data, err := bson.MarshalValue(x)
	if err != nil {
		t.Fatalf("MarshalValue(%#v): %v", x, err)
	}
	return bsoncore.Value{Type: bsoncore.Type(typ), Data: data}
}

func decimal(t testing.TB, s string) bsoncore.Value {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatalf("ParseDecimal128(%q): %v", s, err)
	}
	return val(t, d)
}

func oid(t testing.TB, hexID string) bson.ObjectID {
	t.Helper()
	id, err := bson.ObjectIDFromHex(hexID)
	if err != nil {
		t.Fatalf("ObjectIDFromHex(%q): %v", hexID, err)
	}
	return id
}

// nested returns an array with depth levels of arrays below it.
func nested(t testing.TB, depth int) bsoncore.Value {
	var v any = bson.A{}
	for range depth {
		v = bson.A{v}
	}
	return val(t, v)
}

// Doubles of the edges of the int64 range, as the tests of mongod name them.
var (
	twoTo63Double    = math.Pow(2, 63)
	belowTwoTo63     = math.Pow(2, 63) - math.Pow(2, 10) // the largest double below 2^63
	aboveTwoTo63     = math.Pow(2, 63) + math.Pow(2, 11) // the next double above 2^63
	signallingNaN    = math.Float64frombits(0x7ff4000000000000)
	quietNaN         = math.Float64frombits(0x7ff8000000000000)
	negativeQuietNaN = math.Float64frombits(0xfff8000000000000)
)
