package sessionid

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestParseList(t *testing.T) {
	one := bson.D{e("id", uuidBin(testUUID))}
	two := bson.D{e("id", uuidBin(testUUID2))}
	own1, own2 := ID{ID: testUUID, UID: alice}, ID{ID: testUUID2, UID: alice}
	child := bson.D{e("id", uuidBin(testUUID)), e("txnNumber", int64(5)), e("txnUUID", uuidBin(testUUID2))}
	tests := []struct {
		name        string
		body        bson.D
		impersonate bool
		want        []ID
		code        mongoerr.Code
		msg         string
	}{
		{name: "end one", body: bson.D{e("endSessions", bson.A{one})}, want: []ID{own1}},
		{name: "refresh two in order", body: bson.D{e("refreshSessions", bson.A{two, one}), e("$db", "admin")}, want: []ID{own2, own1}},
		{name: "duplicates folded", body: bson.D{e("killSessions", bson.A{one, two, one})}, want: []ID{own1, own2}},
		{name: "empty", body: bson.D{e("endSessions", bson.A{})}, want: []ID{}},
		{name: "null elements skipped", body: bson.D{e("endSessions", bson.A{nil, one, bson.Undefined{}})}, want: []ID{own1}},
		{name: "own uid", body: bson.D{e("endSessions", bson.A{bson.D{e("id", uuidBin(testUUID)), e("uid", uidBin(alice))}})}, want: []ID{own1}},
		{name: "other uid refused", body: bson.D{e("endSessions", bson.A{bson.D{e("id", uuidBin(testUUID)), e("uid", uidBin(bob))}})},
			code: mongoerr.Unauthorized, msg: "Unauthorized to set user digest in LogicalSessionId"},
		{name: "other uid impersonated", impersonate: true,
			body: bson.D{e("endSessions", bson.A{bson.D{e("id", uuidBin(testUUID)), e("uid", uidBin(bob))}})},
			want: []ID{{ID: testUUID, UID: bob}}},

		// Reference §3.1.
		{name: "end not array", body: bson.D{e("endSessions", "invalid")}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'endSessions.endSessions' is the wrong type 'string', expected type 'array'"},
		{name: "end null argument", body: bson.D{e("endSessions", nil)}, code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'endSessions.endSessions' is missing but a required field"},
		// Not in the reference; named like refreshSessions, whose paths were seen on real servers.
		{name: "end element not object", body: bson.D{e("endSessions", bson.A{1})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'endSessions.endSessionsFromClient.0' is the wrong type 'int', expected type 'object'"},
		{name: "end child session", body: bson.D{e("endSessions", bson.A{child})}, code: mongoerr.InvalidOptions,
			msg: "Cannot specify a child session id " + formatLSID(testUUID, alice, "5", "0b010203-0405-4607-8809-0a0b0c0d0e0f")},

		// Reference §3.2 (FerretDB's tests against MongoDB).
		{name: "refresh not array", body: bson.D{e("refreshSessions", "invalid")}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'refreshSessions.refreshSessions' is the wrong type 'string', expected type 'array'"},
		{name: "refresh element not object", body: bson.D{e("refreshSessions", bson.A{"invalid"})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'refreshSessions.refreshSessionsFromClient.0' is the wrong type 'string', expected type 'object'"},
		{name: "refresh second element not object", body: bson.D{e("refreshSessions", bson.A{one, 2.5})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'refreshSessions.refreshSessionsFromClient.1' is the wrong type 'double', expected type 'object'"},
		{name: "refresh missing id", body: bson.D{e("refreshSessions", bson.A{bson.D{}})}, code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'refreshSessions.refreshSessionsFromClient.id' is missing but a required field"},
		{name: "refresh id string", body: bson.D{e("refreshSessions", bson.A{bson.D{e("id", "invalid")}})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'refreshSessions.refreshSessionsFromClient.id' is the wrong type 'string', expected type 'binData'"},
		{name: "refresh id function", body: bson.D{e("refreshSessions", bson.A{bson.D{e("id", bin(1, nil))}})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'refreshSessions.refreshSessionsFromClient.id' is the wrong binData type 'function', expected type 'UUID'"},
		{name: "refresh id empty UUID", body: bson.D{e("refreshSessions", bson.A{bson.D{e("id", bin(4, nil))}})}, code: mongoerr.InvalidUUID,
			msg: "uuid must be a 16-byte binary field with UUID (4) subtype"},
		{name: "refresh unknown field", body: bson.D{e("refreshSessions", bson.A{bson.D{e("id", uuidBin(testUUID)), e("x", 1)}})},
			code: mongoerr.IDLUnknownField, msg: "BSON field 'refreshSessions.refreshSessionsFromClient.x' is an unknown field."},
		{name: "refresh child folded into parent", body: bson.D{e("refreshSessions", bson.A{child})}, want: []ID{own1}},
		{name: "refresh txnNumber without txnUUID", body: bson.D{e("refreshSessions", bson.A{bson.D{e("id", uuidBin(testUUID)), e("txnNumber", int64(1))}})},
			code: mongoerr.InvalidOptions, msg: "Cannot specify txnNumber in lsid without specifying txnUUID"},

		// Reference §3.3: the struct KillSessionsCmdFromClient names the paths.
		{name: "kill not array", body: bson.D{e("killSessions", bson.D{})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'KillSessionsCmdFromClient.killSessions' is the wrong type 'object', expected type 'array'"},
		{name: "kill element not object", body: bson.D{e("killSessions", bson.A{true})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'KillSessionsCmdFromClient.killSessions.0' is the wrong type 'bool', expected type 'object'"},
		{name: "kill empty UUID", body: bson.D{e("killSessions", bson.A{bson.D{e("id", bin(4, nil))}})}, code: mongoerr.InvalidUUID,
			msg: "uuid must be a 16-byte binary field with UUID (4) subtype"},
		{name: "kill missing id", body: bson.D{e("killSessions", bson.A{bson.D{e("uid", uidBin(alice))}})}, code: mongoerr.IDLFailedToParse,
			msg: "BSON field 'KillSessionsCmdFromClient.killSessions.id' is missing but a required field"},
		{name: "kill child", body: bson.D{e("killSessions", bson.A{child})}, code: mongoerr.InvalidOptions, msg: "Cannot kill a child session"},

		{name: "end argument object", body: bson.D{e("endSessions", bson.D{})}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'endSessions.endSessions' is the wrong type 'object', expected type 'array'"},

		{name: "not a list command", body: bson.D{e("killAllSessions", bson.A{})}, code: mongoerr.InternalError,
			msg: `"killAllSessions" does not take a list of session ids`},
		{name: "not a session command", body: bson.D{e("find", "c")}, code: mongoerr.InternalError,
			msg: `"find" is not a session command`},
		{name: "empty body", body: bson.D{}, code: mongoerr.InternalError, msg: "empty command document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList(doc(t, tt.body), alice, tt.impersonate)
			wantErr(t, err, tt.code, tt.msg)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestArrayFieldNames builds arrays with bad field names by hand: drivers never send them.
func TestArrayFieldNames(t *testing.T) {
	one := bson.D{e("id", uuidBin(testUUID))}
	tests := []struct {
		name string
		arr  bson.D // an array's elements with explicit keys
		code mongoerr.Code
		msg  string
	}{
		{name: "skips a number", arr: bson.D{e("0", one), e("2", one)}, code: mongoerr.Code(40423),
			msg: "BSON array field 'refreshSessions.refreshSessionsFromClient' has a non-sequential value '2' for an array field name, expected value '1'."},
		{name: "not a number", arr: bson.D{e("a", one)}, code: mongoerr.Code(40422),
			msg: "BSON array field 'refreshSessions.refreshSessionsFromClient' has an invalid value 'a' for an array field name."},
		{name: "sequential", arr: bson.D{e("0", one), e("1", one)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, body := bsoncore.AppendDocumentStart(nil)
			body = bsoncore.AppendArrayElement(body, "refreshSessions", doc(t, tt.arr))
			body, _ = bsoncore.AppendDocumentEnd(body, idx)
			_, err := ParseList(body, alice, false)
			wantErr(t, err, tt.code, tt.msg)
		})
	}
}
