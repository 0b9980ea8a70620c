package mongoerr

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// TypeName is a BSON type's name as the server spells it in messages ($type aliases).
func TypeName(t bsoncore.Type) string {
	switch t {
	case bsoncore.TypeDouble:
		return "double"
	case bsoncore.TypeString:
		return "string"
	case bsoncore.TypeEmbeddedDocument:
		return "object"
	case bsoncore.TypeArray:
		return "array"
	case bsoncore.TypeBinary:
		return "binData"
	case bsoncore.TypeUndefined:
		return "undefined"
	case bsoncore.TypeObjectID:
		return "objectId"
	case bsoncore.TypeBoolean:
		return "bool"
	case bsoncore.TypeDateTime:
		return "date"
	case bsoncore.TypeNull:
		return "null"
	case bsoncore.TypeRegex:
		return "regex"
	case bsoncore.TypeDBPointer:
		return "dbPointer"
	case bsoncore.TypeJavaScript:
		return "javascript"
	case bsoncore.TypeSymbol:
		return "symbol"
	case bsoncore.TypeCodeWithScope:
		return "javascriptWithScope"
	case bsoncore.TypeInt32:
		return "int"
	case bsoncore.TypeTimestamp:
		return "timestamp"
	case bsoncore.TypeInt64:
		return "long"
	case bsoncore.TypeDecimal128:
		return "decimal"
	case bsoncore.TypeMinKey:
		return "minKey"
	case bsoncore.TypeMaxKey:
		return "maxKey"
	case 0:
		return "missing"
	}
	return "invalid"
}

// WrongType is the IDL parser's TypeMismatch for a field of the wrong type.
func WrongType(field string, got bsoncore.Type, expected string) *Error {
	return New(TypeMismatch, "BSON field '%s' is the wrong type '%s', expected type '%s'", field, TypeName(got), expected)
}

// BinDataTypeName is a binData subtype's name as the server spells it: typeName(BinDataType) (src/mongo/bson/bsontypes.cpp). These are the
// server's spellings, not the BSON specification's ("byte(deprecated)", not "binary (old)").
func BinDataTypeName(subtype byte) string {
	switch subtype {
	case bson.TypeBinaryGeneric:
		return "general"
	case bson.TypeBinaryFunction:
		return "function"
	case bson.TypeBinaryBinaryOld:
		return "byte(deprecated)"
	case bson.TypeBinaryUUIDOld:
		return "UUID(deprecated)"
	case bson.TypeBinaryUUID:
		return "UUID"
	case bson.TypeBinaryMD5:
		return "MD5"
	case bson.TypeBinaryEncrypted:
		return "encrypt"
	case bson.TypeBinaryColumn:
		return "column"
	case bson.TypeBinarySensitive:
		return "sensitive"
	case bson.TypeBinaryVector:
		return "vector"
	case bson.TypeBinaryUserDefined:
		return "Custom"
	default:
		return "invalid"
	}
}
