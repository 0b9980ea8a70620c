package sessionid

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestParseListSpec(t *testing.T) {
	const stage = "$listLocalSessions"
	user := func(u, d string) bson.D { return bson.D{e("user", u), e("db", d)} }
	tests := []struct {
		name string
		v    any
		want ListSpec
		code mongoerr.Code
		msg  string
	}{
		{name: "empty is the caller", v: bson.D{}, want: ListSpec{UIDs: []UID{alice}}},
		{name: "allUsers false is the caller", v: bson.D{e("allUsers", false)}, want: ListSpec{UIDs: []UID{alice}}},
		{name: "allUsers", v: bson.D{e("allUsers", true)}, want: ListSpec{AllUsers: true}},
		{name: "users", v: bson.D{e("users", bson.A{user("bob", "test"), user("alice", "admin"), user("bob", "test")})},
			want: ListSpec{UIDs: []UID{bob, alice}}},
		{name: "empty users is the caller", v: bson.D{e("users", bson.A{})}, want: ListSpec{UIDs: []UID{alice}}},
		{name: "allUsers with empty users", v: bson.D{e("allUsers", true), e("users", bson.A{})}, want: ListSpec{AllUsers: true}},
		{name: "no-auth user", v: bson.D{e("users", bson.A{user("", "")})}, want: ListSpec{UIDs: []UID{NoAuthUID}}},
		{name: "predicate accepted", v: bson.D{e("$_internalPredicate", bson.D{})}, want: ListSpec{UIDs: []UID{alice}}},
		{name: "allUsers and users", v: bson.D{e("allUsers", true), e("users", bson.A{user("bob", "test")})},
			code: mongoerr.UnsupportedFormat, msg: stage + " may not specify {allUsers:true} and {users:[...]} at the same time"},
		{name: "not an object", v: "x", code: mongoerr.TypeMismatch,
			msg: stage + " options must be specified in an object, but found: string"},
		{name: "null", v: nil, code: mongoerr.TypeMismatch,
			msg: stage + " options must be specified in an object, but found: null"},
		{name: "allUsers wrong type", v: bson.D{e("allUsers", 1.0)}, code: mongoerr.TypeMismatch,
			msg: "BSON field '$listLocalSessions.allUsers' is the wrong type 'double', expected type 'bool'"},
		{name: "users wrong type", v: bson.D{e("users", bson.D{})}, code: mongoerr.TypeMismatch,
			msg: "BSON field '$listLocalSessions.users' is the wrong type 'object', expected type 'array'"},
		{name: "user not object", v: bson.D{e("users", bson.A{"x"})}, code: mongoerr.TypeMismatch,
			msg: "BSON field '$listLocalSessions.users.0' is the wrong type 'string', expected type 'object'"},
		{name: "user missing db", v: bson.D{e("users", bson.A{bson.D{e("user", "x")}})}, code: mongoerr.IDLFailedToParse,
			msg: "BSON field '$listLocalSessions.users.db' is missing but a required field"},
		{name: "unknown field", v: bson.D{e("x", 1)}, code: mongoerr.IDLUnknownField,
			msg: "BSON field '$listLocalSessions.x' is an unknown field."},
		{name: "duplicate allUsers", v: bson.D{e("allUsers", true), e("allUsers", true)}, code: mongoerr.IDLDuplicateField,
			msg: "BSON field '$listLocalSessions.allUsers' is a duplicate field"},
		{name: "predicate wrong type", v: bson.D{e("$_internalPredicate", 1)}, code: mongoerr.TypeMismatch,
			msg: "BSON field '$listLocalSessions.$_internalPredicate' is the wrong type 'int', expected type 'object'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseListSpec(stage, value(t, tt.v), alice)
			wantErr(t, err, tt.code, tt.msg)
			if got.AllUsers != tt.want.AllUsers || !slices.Equal(got.UIDs, tt.want.UIDs) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestListSpecMatches(t *testing.T) {
	tests := []struct {
		name string
		spec ListSpec
		in   []UID
		out  []UID
	}{
		{name: "all", spec: ListSpec{AllUsers: true}, in: []UID{alice, bob, NoAuthUID}},
		{name: "one", spec: ListSpec{UIDs: []UID{bob}}, in: []UID{bob}, out: []UID{alice, NoAuthUID}},
		{name: "none", spec: ListSpec{}, out: []UID{alice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, u := range tt.in {
				if !tt.spec.Matches(u) {
					t.Errorf("%x not matched", u)
				}
			}
			for _, u := range tt.out {
				if tt.spec.Matches(u) {
					t.Errorf("%x matched", u)
				}
			}
		})
	}
}
