package sessionid

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// lsidDoc is {id: testUUID} plus extra fields.
func lsidDoc(extra ...bson.E) bson.D {
	return append(bson.D{{Key: "id", Value: uuidBin(testUUID)}}, extra...)
}

func cmd(fields ...bson.E) bson.D {
	return append(bson.D{{Key: "find", Value: "c"}}, fields...)
}

func e(k string, v any) bson.E { return bson.E{Key: k, Value: v} }

func TestParseOpInfo(t *testing.T) {
	own := ID{ID: testUUID, UID: alice}
	tests := []struct {
		name        string
		body        bson.D
		impersonate bool
		want        OpInfo
		code        mongoerr.Code
		msg         string
	}{
		// No session fields.
		{name: "none", body: cmd()},
		{name: "lsid only", body: cmd(e("lsid", lsidDoc())), want: OpInfo{HasLSID: true, LSID: own}},
		{name: "null lsid is absent", body: cmd(e("lsid", nil))},
		{name: "undefined lsid is absent", body: cmd(e("lsid", bson.Undefined{}))},
		{name: "other fields ignored", body: cmd(e("filter", bson.D{}), e("lsid", lsidDoc()), e("$db", "x")),
			want: OpInfo{HasLSID: true, LSID: own}},

		// Reference §1.3.
		{name: "lsid string", body: cmd(e("lsid", "x")), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.lsid' is the wrong type 'string', expected type 'object'"},
		{name: "lsid empty", body: cmd(e("lsid", bson.D{})), code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field"},
		{name: "lsid id null is missing", body: cmd(e("lsid", bson.D{e("id", nil)})), code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field"},
		{name: "lsid id string", body: cmd(e("lsid", bson.D{e("id", "x")})), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.lsid.id' is the wrong type 'string', expected type 'binData'"},
		{name: "lsid id function subtype", body: cmd(e("lsid", bson.D{e("id", bin(1, testUUID[:]))})), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.lsid.id' is the wrong binData type 'function', expected type 'UUID'"},
		{name: "lsid id empty UUID", body: cmd(e("lsid", bson.D{e("id", bin(4, nil))})), code: mongoerr.InvalidUUID,
			msg: "uuid must be a 16-byte binary field with UUID (4) subtype"},
		{name: "lsid id 17 bytes", body: cmd(e("lsid", bson.D{e("id", bin(4, make([]byte, 17)))})), code: mongoerr.InvalidUUID,
			msg: "uuid must be a 16-byte binary field with UUID (4) subtype"},
		{name: "lsid uid function subtype", body: cmd(e("lsid", lsidDoc(e("uid", bin(1, alice[:]))))), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.lsid.uid' is the wrong binData type 'function', expected type 'general'"},
		{name: "lsid uid 31 bytes", body: cmd(e("lsid", lsidDoc(e("uid", bin(0, alice[:31]))))), code: mongoerr.UnsupportedFormat,
			msg: "Unsupported SHA256Block hash length: 31"},
		{name: "lsid uid empty", body: cmd(e("lsid", lsidDoc(e("uid", bin(0, nil))))), code: mongoerr.UnsupportedFormat,
			msg: "Unsupported SHA256Block hash length: 0"},
		{name: "lsid uid string", body: cmd(e("lsid", lsidDoc(e("uid", "x")))), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.lsid.uid' is the wrong type 'string', expected type 'binData'"},
		{name: "lsid unknown field", body: cmd(e("lsid", lsidDoc(e("x", 1)))), code: mongoerr.IDLUnknownField,
			msg: "BSON field 'OperationSessionInfo.lsid.x' is an unknown field."},
		{name: "lsid unknown before bad id: document order", body: cmd(e("lsid", bson.D{e("x", 1), e("id", "x")})),
			code: mongoerr.IDLUnknownField, msg: "BSON field 'OperationSessionInfo.lsid.x' is an unknown field."},
		{name: "lsid bad uid before missing id", body: cmd(e("lsid", bson.D{e("uid", bin(0, nil))})),
			code: mongoerr.UnsupportedFormat, msg: "Unsupported SHA256Block hash length: 0"},
		{name: "lsid duplicate id", body: cmd(e("lsid", lsidDoc(e("id", uuidBin(testUUID2))))), code: mongoerr.IDLDuplicateField,
			msg: "BSON field 'OperationSessionInfo.lsid.id' is a duplicate field"},
		{name: "own uid", body: cmd(e("lsid", lsidDoc(e("uid", uidBin(alice))))), want: OpInfo{HasLSID: true, LSID: own}},
		{name: "other uid refused", body: cmd(e("lsid", lsidDoc(e("uid", uidBin(bob))))), code: mongoerr.Unauthorized,
			msg: "Unauthorized to set user digest in LogicalSessionId"},
		{name: "other uid with impersonate", body: cmd(e("lsid", lsidDoc(e("uid", uidBin(bob))))), impersonate: true,
			want: OpInfo{HasLSID: true, LSID: ID{ID: testUUID, UID: bob}}},
		{name: "lsid txnNumber without txnUUID", body: cmd(e("lsid", lsidDoc(e("txnNumber", int64(1))))),
			code: mongoerr.InvalidOptions, msg: "Cannot specify txnNumber in lsid without specifying txnUUID"},
		{name: "lsid txnNumber int", body: cmd(e("lsid", lsidDoc(e("txnNumber", int32(1))))), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.lsid.txnNumber' is the wrong type 'int', expected type 'long'"},
		{name: "child session", body: cmd(e("lsid", lsidDoc(e("txnUUID", uuidBin(testUUID2))))),
			code: mongoerr.InvalidOptions, msg: "Internal sessions are only allowed for internal clients"},
		{name: "child session uid checked first", body: cmd(e("lsid", lsidDoc(e("uid", uidBin(bob)), e("txnUUID", uuidBin(testUUID2))))),
			code: mongoerr.Unauthorized, msg: "Unauthorized to set user digest in LogicalSessionId"},
		{name: "duplicate lsid", body: cmd(e("lsid", lsidDoc()), e("lsid", lsidDoc())), code: mongoerr.IDLDuplicateField,
			msg: "BSON field 'OperationSessionInfo.lsid' is a duplicate field"},

		// Reference §6.2.
		{name: "retryable write", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(7))),
			want: OpInfo{HasLSID: true, LSID: own, HasTxnNumber: true, TxnNumber: 7}},
		{name: "start transaction", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(0)), e("autocommit", false), e("startTransaction", true)),
			want: OpInfo{HasLSID: true, LSID: own, HasTxnNumber: true, Autocommit: true, StartTransaction: true}},
		{name: "continue transaction", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(3)), e("autocommit", false)),
			want: OpInfo{HasLSID: true, LSID: own, HasTxnNumber: true, TxnNumber: 3, Autocommit: true}},
		{name: "txnNumber without lsid", body: cmd(e("txnNumber", int64(1))), code: mongoerr.InvalidOptions,
			msg: "Transaction number requires a session ID to also be specified"},
		{name: "txnNumber negative", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(-1))), code: mongoerr.InvalidOptions,
			msg: "Transaction number cannot be negative"},
		{name: "txnNumber int", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int32(1))), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.txnNumber' is the wrong type 'int', expected type 'long'"},
		{name: "txnNumber double", body: cmd(e("lsid", lsidDoc()), e("txnNumber", 1.0)), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.txnNumber' is the wrong type 'double', expected type 'long'"},
		{name: "txnNumber null is absent", body: cmd(e("lsid", lsidDoc()), e("txnNumber", nil)),
			want: OpInfo{HasLSID: true, LSID: own}},
		{name: "txnNumber type checked before lsid rules", body: cmd(e("txnNumber", "1")), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.txnNumber' is the wrong type 'string', expected type 'long'"},
		{name: "duplicate txnNumber", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(1)), e("txnNumber", int64(2))),
			code: mongoerr.IDLDuplicateField, msg: "BSON field 'OperationSessionInfo.txnNumber' is a duplicate field"},
		{name: "txnRetryCounter", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(1)), e("autocommit", false), e("txnRetryCounter", int32(0))),
			code: mongoerr.InvalidOptions, msg: "txnRetryCounter is only allowed for internal clients"},
		{name: "txnRetryCounter long", body: cmd(e("txnRetryCounter", int64(0))), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.txnRetryCounter' is the wrong type 'long', expected type 'int'"},
		{name: "autocommit without txnNumber", body: cmd(e("lsid", lsidDoc()), e("autocommit", false)), code: mongoerr.InvalidOptions,
			msg: "'autocommit' field requires a transaction number to also be specified"},
		{name: "autocommit true", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(1)), e("autocommit", true)), code: mongoerr.InvalidOptions,
			msg: "Specifying autocommit=true is not allowed."},
		{name: "autocommit string", body: cmd(e("autocommit", "false")), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.autocommit' is the wrong type 'string', expected type 'bool'"},
		{name: "startTransaction without autocommit", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(1)), e("startTransaction", true)),
			code: mongoerr.InvalidOptions, msg: "'startTransaction' field requires 'autocommit' field to also be specified"},
		{name: "startTransaction false", body: cmd(e("lsid", lsidDoc()), e("txnNumber", int64(1)), e("autocommit", false), e("startTransaction", false)),
			code: mongoerr.InvalidOptions, msg: "Specifying startTransaction=false is not allowed."},
		{name: "startTransaction int", body: cmd(e("startTransaction", int32(1))), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.startTransaction' is the wrong type 'int', expected type 'bool'"},
		{name: "coordinator type", body: cmd(e("coordinator", 1.0)), code: mongoerr.TypeMismatch,
			msg: "BSON field 'OperationSessionInfo.coordinator' is the wrong type 'double', expected type 'bool'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOpInfo(doc(t, tt.body), alice, tt.impersonate)
			wantErr(t, err, tt.code, tt.msg)
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestTypeNames covers every BSON type name as MongoDB prints it.
func TestTypeNames(t *testing.T) {
	oid := bson.ObjectID{1}
	tests := []struct {
		v    any
		name string
	}{
		{1.5, "double"}, {"s", "string"}, {bson.A{}, "array"}, {bin(0, nil), "binData"},
		{oid, "objectId"}, {true, "bool"}, {bson.DateTime(0), "date"}, {bson.Regex{Pattern: "a"}, "regex"},
		{bson.DBPointer{DB: "d", Pointer: oid}, "dbPointer"}, {bson.JavaScript("f"), "javascript"},
		{bson.Symbol("s"), "symbol"}, {bson.CodeWithScope{Code: "f", Scope: bson.D{}}, "javascriptWithScope"},
		{int32(1), "int"}, {bson.Timestamp{T: 1}, "timestamp"}, {int64(1), "long"},
		{bson.NewDecimal128(0, 1), "decimal"}, {bson.MinKey{}, "minKey"}, {bson.MaxKey{}, "maxKey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOpInfo(doc(t, cmd(e("lsid", tt.v))), alice, false)
			wantErr(t, err, mongoerr.TypeMismatch,
				"BSON field 'OperationSessionInfo.lsid' is the wrong type '"+tt.name+"', expected type 'object'")
		})
	}
	if got := mongoerr.TypeName(0x42); got != "invalid" {
		t.Fatalf("TypeName(0x42) = %q", got)
	}
}

// TestBinDataTypeNames covers every binData subtype name as the server spells it
// (src/mongo/bson/bsontypes.cpp typeName(BinDataType)).
func TestBinDataTypeNames(t *testing.T) {
	tests := []struct {
		subtype byte
		name    string
	}{
		{0, "general"}, {1, "function"}, {2, "byte(deprecated)"}, {3, "UUID(deprecated)"}, {5, "MD5"},
		{6, "encrypt"}, {7, "column"}, {8, "sensitive"}, {9, "vector"}, {0x80, "Custom"},
		{0x0a, "invalid"}, {0x81, "invalid"}, {0xff, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOpInfo(doc(t, cmd(e("lsid", bson.D{e("id", bin(tt.subtype, testUUID[:]))}))), alice, false)
			wantErr(t, err, mongoerr.TypeMismatch,
				"BSON field 'OperationSessionInfo.lsid.id' is the wrong binData type '"+tt.name+"', expected type 'UUID'")
		})
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		v    any
		path string
		want ID
		code mongoerr.Code
		msg  string
	}{
		{name: "ok", v: lsidDoc(), path: "x.lsid", want: ID{ID: testUUID, UID: alice}},
		{name: "own path in messages", v: bson.D{}, path: "getMore.lsid", code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'getMore.lsid.id' is missing but a required field"},
		{name: "null is the wrong type", v: nil, path: "x.lsid", code: mongoerr.TypeMismatch,
			msg: "BSON field 'x.lsid' is the wrong type 'null', expected type 'object'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(value(t, tt.v), tt.path, alice, false)
			wantErr(t, err, tt.code, tt.msg)
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCodeNames(t *testing.T) {
	_, err := ParseOpInfo(doc(t, cmd(e("lsid", bson.D{}))), alice, false)
	if got := mongoerr.As(err).Code.Name(); got != "Location40414" {
		t.Fatalf("codeName = %q, want Location40414", got)
	}
}

func TestMalformedBSON(t *testing.T) {
	good := doc(t, cmd(e("lsid", lsidDoc())))
	tests := []struct {
		name string
		body []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-3]},
		{"bad length", append([]byte{0xff, 0xff, 0xff, 0x7f}, good[4:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOpInfo(tt.body, alice, false)
			if me := mongoerr.As(err); me == nil || me.Code != invalidBSON {
				t.Fatalf("want InvalidBSON, got %v", err)
			}
		})
	}
}
