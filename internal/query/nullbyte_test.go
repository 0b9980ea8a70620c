package query

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// String values that would become field names must not carry a NUL byte: BSON keys cannot, and
// the encoder panics on one (found by FuzzSpecs).
func TestNullBytesInFieldNamesAreRefused(t *testing.T) {
	doc, _ := bson.Marshal(bson.D{{Key: "a", Value: 1}})
	tests := []struct {
		name string
		run  func() error
		code mongoerr.Code
	}{
		{"$rename target", func() error {
			u, err := NewUpdate(mustValue(t, bson.D{{Key: "$rename", Value: bson.D{{Key: "a", Value: "b\x00c"}}}}))
			if err == nil {
				_, _, err = u.Apply(doc)
			}
			return err
		}, mongoerr.BadValue},
		{"$count name", func() error {
			_, err := NewPipeline([]bson.Raw{mustDoc(t, bson.D{{Key: "$count", Value: "n\x00"}})})
			return err
		}, 40159},
		{"$unwind includeArrayIndex", func() error {
			_, err := NewPipeline([]bson.Raw{mustDoc(t, bson.D{{Key: "$unwind", Value: bson.D{{Key: "path", Value: "$a"}, {Key: "includeArrayIndex", Value: "i\x00"}}}})})
			return err
		}, 16411},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if me := mongoerr.As(err); me == nil || me.Code != tt.code {
				t.Fatalf("err %v, want code %d", err, tt.code)
			}
		})
	}
}

func mustDoc(t *testing.T, d bson.D) bson.Raw {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustValue(t *testing.T, d bson.D) bson.RawValue {
	t.Helper()
	return bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: mustDoc(t, d)}
}
