package mongoerr

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestTypeName(t *testing.T) {
	// The $type aliases of the server, one per BSON type.
	tests := []struct {
		typ  bsoncore.Type
		want string
	}{
		{bsoncore.TypeDouble, "double"},
		{bsoncore.TypeString, "string"},
		{bsoncore.TypeEmbeddedDocument, "object"},
		{bsoncore.TypeArray, "array"},
		{bsoncore.TypeBinary, "binData"},
		{bsoncore.TypeUndefined, "undefined"},
		{bsoncore.TypeObjectID, "objectId"},
		{bsoncore.TypeBoolean, "bool"},
		{bsoncore.TypeDateTime, "date"},
		{bsoncore.TypeNull, "null"},
		{bsoncore.TypeRegex, "regex"},
		{bsoncore.TypeDBPointer, "dbPointer"},
		{bsoncore.TypeJavaScript, "javascript"},
		{bsoncore.TypeSymbol, "symbol"},
		{bsoncore.TypeCodeWithScope, "javascriptWithScope"},
		{bsoncore.TypeInt32, "int"},
		{bsoncore.TypeTimestamp, "timestamp"},
		{bsoncore.TypeInt64, "long"},
		{bsoncore.TypeDecimal128, "decimal"},
		{bsoncore.TypeMinKey, "minKey"},
		{bsoncore.TypeMaxKey, "maxKey"},
		{0, "missing"},
		{0x42, "invalid"},
	}
	for _, tt := range tests {
		if got := TypeName(tt.typ); got != tt.want {
			t.Errorf("TypeName(%#x) = %q, want %q", byte(tt.typ), got, tt.want)
		}
	}
}

func TestWrongType(t *testing.T) {
	e := WrongType("OperationSessionInfo.lsid", bsoncore.TypeString, "object")
	want := "BSON field 'OperationSessionInfo.lsid' is the wrong type 'string', expected type 'object'"
	if e.Code != TypeMismatch || e.Msg != want {
		t.Errorf("WrongType = {%d %q}, want {14 %q}", e.Code, e.Msg, want)
	}
}
