package hashkey

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func benchmarkHash(b *testing.B, x any) {
	v := val(b, x)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Hash(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashSmallInt(b *testing.B) { benchmarkHash(b, int32(42)) }

func BenchmarkHashObjectID(b *testing.B) {
	benchmarkHash(b, oid(b, "5b2be413c06d924ab26ff9ca"))
}

func BenchmarkHashString100(b *testing.B) { benchmarkHash(b, strings.Repeat("k", 100)) }

func BenchmarkHashDecimal(b *testing.B) {
	d, err := bson.ParseDecimal128("12345.678")
	if err != nil {
		b.Fatal(err)
	}
	benchmarkHash(b, d)
}

func BenchmarkHashObject(b *testing.B) {
	benchmarkHash(b, bson.D{{Key: "tenant", Value: int32(7)}, {Key: "user", Value: "alice"}})
}
