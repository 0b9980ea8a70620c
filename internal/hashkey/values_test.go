package hashkey

import (
	"encoding/hex"
	"math"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Builders of the BSON values the tests hash.

func double(f float64) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeDouble, Data: bsoncore.AppendDouble(nil, f)}
}

func int32v(i int32) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeInt32, Data: bsoncore.AppendInt32(nil, i)}
}

func int64v(i int64) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeInt64, Data: bsoncore.AppendInt64(nil, i)}
}

func decimal(t testing.TB, s string) bsoncore.Value {
	t.Helper()
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatalf("ParseDecimal128(%q): %v", s, err)
	}
	high, low := d.GetBytes()
	return decimalBits(high, low)
}

func decimalBits(high, low uint64) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeDecimal128, Data: bsoncore.AppendDecimal128(nil, high, low)}
}

func str(s string) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, s)}
}

func symbol(s string) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeSymbol, Data: bsoncore.AppendSymbol(nil, s)}
}

func code(s string) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeJavaScript, Data: bsoncore.AppendJavaScript(nil, s)}
}

func codeWithScope(s string, scope bsoncore.Value) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeCodeWithScope, Data: bsoncore.AppendCodeWithScope(nil, s, scope.Data)}
}

func boolean(b bool) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeBoolean, Data: bsoncore.AppendBoolean(nil, b)}
}

func date(ms int64) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeDateTime, Data: bsoncore.AppendDateTime(nil, ms)}
}

func timestamp(seconds, increment uint32) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeTimestamp, Data: bsoncore.AppendTimestamp(nil, seconds, increment)}
}

func objectID(t testing.TB, hexID string) bsoncore.Value {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(hexID)
	if err != nil {
		t.Fatalf("ObjectIDFromHex(%q): %v", hexID, err)
	}
	return bsoncore.Value{Type: bsoncore.TypeObjectID, Data: bsoncore.AppendObjectID(nil, oid)}
}

func dbPointer(t testing.TB, ns, hexID string) bsoncore.Value {
	t.Helper()
	oid, err := bson.ObjectIDFromHex(hexID)
	if err != nil {
		t.Fatalf("ObjectIDFromHex(%q): %v", hexID, err)
	}
	return bsoncore.Value{Type: bsoncore.TypeDBPointer, Data: bsoncore.AppendDBPointer(nil, ns, oid)}
}

func binaryValue(subtype byte, b []byte) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeBinary, Data: bsoncore.AppendBinary(nil, subtype, b)}
}

func regexValue(pattern, options string) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeRegex, Data: bsoncore.AppendRegex(nil, pattern, options)}
}

func empty(t bsoncore.Type) bsoncore.Value { return bsoncore.Value{Type: t} }

// field is one element of a document built by doc.
type field struct {
	name  string
	value bsoncore.Value
}

func doc(fields ...field) bsoncore.Value {
	elems := make([][]byte, len(fields))
	for i, f := range fields {
		elems[i] = bsoncore.AppendValueElement(nil, f.name, f.value)
	}
	return bsoncore.BuildDocumentValue(elems...)
}

func array(values ...bsoncore.Value) bsoncore.Value {
	return bsoncore.Value{Type: bsoncore.TypeArray, Data: bsoncore.BuildArray(nil, values...)}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Doubles of the edges of the int64 range, as the tests of mongod name them.
var (
	twoTo63Double       = math.Pow(2, 63)
	belowTwoTo63        = math.Pow(2, 63) - math.Pow(2, 10) // the largest double below 2^63
	aboveTwoTo63        = math.Pow(2, 63) + math.Pow(2, 11) // the next double above 2^63
	signallingNaN       = math.Float64frombits(0x7ff4000000000000)
	quietNaN            = math.Float64frombits(0x7ff8000000000000)
	negativeQuietNaN    = math.Float64frombits(0xfff8000000000000)
	largestFiniteDouble = math.MaxFloat64
)
