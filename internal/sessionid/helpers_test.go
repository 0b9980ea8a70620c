package sessionid

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Fixed ids and digests shared by the tests.
var (
	testUUID  = [16]byte{0x0a, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, 15}
	testUUID2 = [16]byte{0x0b, 1, 2, 3, 4, 5, 0x46, 7, 0x88, 9, 10, 11, 12, 13, 14, 15}
	alice     = digest("alice", "admin")
	bob       = digest("bob", "test")
)

// doc marshals a bson.D into a raw document.
func doc(t testing.TB, d bson.D) bsoncore.Document {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatalf("marshal %v: %v", d, err)
	}
	return b
}

// value marshals v as the value of a one-field document and returns it.
func value(t testing.TB, v any) bsoncore.Value {
	t.Helper()
	return doc(t, bson.D{{Key: "v", Value: v}}).Lookup("v")
}

func bin(subtype byte, data []byte) bson.Binary { return bson.Binary{Subtype: subtype, Data: data} }

func uuidBin(id [16]byte) bson.Binary { return bin(bson.TypeBinaryUUID, id[:]) }

func uidBin(uid UID) bson.Binary { return bin(bson.TypeBinaryGeneric, uid[:]) }

// wantErr checks err is a *mongoerr.Error with the code and message; code 0 means no error.
func wantErr(t *testing.T, err error, code mongoerr.Code, msg string) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var me *mongoerr.Error
	if !errors.As(err, &me) {
		t.Fatalf("want *mongoerr.Error %d %q, got %T %v", code, msg, err, err)
	}
	if me.Code != code || me.Msg != msg {
		t.Fatalf("want (%d) %q\n got (%d) %q", code, msg, me.Code, me.Msg)
	}
}
