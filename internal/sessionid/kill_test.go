package sessionid

import (
	"encoding/binary"
	"fmt"
	"maps"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func uids(us ...UID) map[UID]struct{} {
	m := map[UID]struct{}{}
	for _, u := range us {
		m[u] = struct{}{}
	}
	return m
}

func ids(is ...ID) map[ID]struct{} {
	m := map[ID]struct{}{}
	for _, i := range is {
		m[i] = struct{}{}
	}
	return m
}

func samePatterns(a, b Patterns) bool {
	return a.All == b.All && a.Impersonation == b.Impersonation &&
		maps.Equal(a.UIDs, b.UIDs) && maps.Equal(a.IDs, b.IDs) &&
		(len(a.UIDs) == 0) == (len(b.UIDs) == 0) && (len(a.IDs) == 0) == (len(b.IDs) == 0)
}

func TestParseKill(t *testing.T) {
	full := func(id [16]byte, uid UID) bson.D { return bson.D{e("id", uuidBin(id)), e("uid", uidBin(uid))} }
	pat := func(fields ...bson.E) bson.D { return append(bson.D{}, fields...) }
	const by = "KillAllSessionsByPatternCmd.killAllSessionsByPattern"
	const all = "KillAllSessionsCmd.killAllSessions"
	tests := []struct {
		name        string
		body        bson.D
		authEnabled bool
		mayKillAny  bool
		want        Patterns
		code        mongoerr.Code
		msg         string
	}{
		// killSessions (kill_sessions_command.cpp).
		{name: "killSessions ids take the caller's uid", authEnabled: true,
			body: bson.D{e("killSessions", bson.A{bson.D{e("id", uuidBin(testUUID))}, bson.D{e("id", uuidBin(testUUID2))}})},
			want: Patterns{IDs: ids(ID{testUUID, alice}, ID{testUUID2, alice})}},
		{name: "killSessions [] with auth kills own", authEnabled: true, body: bson.D{e("killSessions", bson.A{})},
			want: Patterns{UIDs: uids(alice)}},
		{name: "killSessions [] without auth kills all", body: bson.D{e("killSessions", bson.A{})}, want: Patterns{All: true}},
		{name: "killSessions [null] is []", authEnabled: true, body: bson.D{e("killSessions", bson.A{nil})}, want: Patterns{UIDs: uids(alice)}},
		{name: "killSessions other uid with auth", authEnabled: true,
			body: bson.D{e("killSessions", bson.A{full(testUUID, bob)})},
			code: mongoerr.Unauthorized, msg: "Unauthorized to set user digest in LogicalSessionId"},
		{name: "killSessions other uid with killAnySession", authEnabled: true, mayKillAny: true,
			body: bson.D{e("killSessions", bson.A{full(testUUID, bob)})}, want: Patterns{IDs: ids(ID{testUUID, bob})}},
		{name: "killSessions other uid without auth",
			body: bson.D{e("killSessions", bson.A{full(testUUID, bob)})}, want: Patterns{IDs: ids(ID{testUUID, bob})}},
		{name: "killSessions generic fields allowed", authEnabled: true,
			body: bson.D{e("killSessions", bson.A{}), e("lsid", bson.D{e("id", "ignored")}), e("$db", "admin")}, want: Patterns{UIDs: uids(alice)}},
		{name: "killSessions not array", body: bson.D{e("killSessions", "x")}, code: mongoerr.TypeMismatch,
			msg: "BSON field 'KillSessionsCmdFromClient.killSessions' is the wrong type 'string', expected type 'array'"},
		{name: "killSessions empty UUID", body: bson.D{e("killSessions", bson.A{bson.D{e("id", bin(4, nil))}})},
			code: mongoerr.InvalidUUID, msg: "uuid must be a 16-byte binary field with UUID (4) subtype"},

		// killAllSessions (kill_all_sessions_command.cpp).
		{name: "killAllSessions [] kills all", authEnabled: true, body: bson.D{e("killAllSessions", bson.A{})}, want: Patterns{All: true}},
		{name: "killAllSessions one user", authEnabled: true,
			body: bson.D{e("killAllSessions", bson.A{bson.D{e("user", "alice"), e("db", "admin")}})}, want: Patterns{UIDs: uids(alice)}},
		{name: "killAllSessions two users, field order free", authEnabled: true,
			body: bson.D{e("killAllSessions", bson.A{bson.D{e("user", "alice"), e("db", "admin")}, bson.D{e("db", "test"), e("user", "bob")}})},
			want: Patterns{UIDs: uids(alice, bob)}},
		{name: "killAllSessions empty user and db is the no-auth uid",
			body: bson.D{e("killAllSessions", bson.A{bson.D{e("user", ""), e("db", "")}})}, want: Patterns{UIDs: uids(NoAuthUID)}},
		{name: "killAllSessions not array", body: bson.D{e("killAllSessions", "invalid")}, code: mongoerr.TypeMismatch,
			msg: "BSON field '" + all + "' is the wrong type 'string', expected type 'array'"},
		{name: "killAllSessions element not object", body: bson.D{e("killAllSessions", bson.A{"invalid"})}, code: mongoerr.TypeMismatch,
			msg: "BSON field '" + all + ".0' is the wrong type 'string', expected type 'object'"},
		{name: "killAllSessions missing db", body: bson.D{e("killAllSessions", bson.A{bson.D{e("user", "foo")}})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + all + ".db' is missing but a required field"},
		{name: "killAllSessions bool db", body: bson.D{e("killAllSessions", bson.A{bson.D{e("db", true), e("user", "foo")}})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + all + ".db' is the wrong type 'bool', expected type 'string'"},
		{name: "killAllSessions missing user", body: bson.D{e("killAllSessions", bson.A{bson.D{e("db", "bar")}})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + all + ".user' is missing but a required field"},
		{name: "killAllSessions missing both: user first", body: bson.D{e("killAllSessions", bson.A{bson.D{}})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + all + ".user' is missing but a required field"},
		{name: "killAllSessions bool user", body: bson.D{e("killAllSessions", bson.A{bson.D{e("db", "bar"), e("user", false)}})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + all + ".user' is the wrong type 'bool', expected type 'string'"},
		{name: "killAllSessions unknown field", body: bson.D{e("killAllSessions", bson.A{bson.D{e("user", "u"), e("db", "d"), e("role", "r")}})},
			code: mongoerr.IDLUnknownField, msg: "BSON field '" + all + ".role' is an unknown field."},
		{name: "killAllSessions duplicate user", body: bson.D{e("killAllSessions", bson.A{bson.D{e("user", "u"), e("user", "v")}})},
			code: mongoerr.IDLDuplicateField, msg: "BSON field '" + all + ".user' is a duplicate field"},

		// killAllSessionsByPattern semantics (kill_all_sessions_by_pattern_command.cpp).
		{name: "byPattern [] kills all", body: bson.D{e("killAllSessionsByPattern", bson.A{})}, want: Patterns{All: true}},
		{name: "byPattern lsid", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", full(testUUID, bob)))})},
			want: Patterns{IDs: ids(ID{testUUID, bob})}},
		{name: "byPattern uid", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", uidBin(bob)))})},
			want: Patterns{UIDs: uids(bob)}},
		{name: "byPattern lsid and uid patterns", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("lsid", full(testUUID, alice))), pat(e("uid", uidBin(bob)))})},
			want: Patterns{UIDs: uids(bob), IDs: ids(ID{testUUID, alice})}},
		{name: "byPattern uid wins over lsid in one pattern", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("lsid", full(testUUID, alice)), e("uid", uidBin(bob)))})}, want: Patterns{UIDs: uids(bob)}},
		{name: "byPattern users only kills all", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("users", bson.A{bson.D{e("user", "nonexistent"), e("db", "foo")}}))})},
			want: Patterns{All: true, Impersonation: true}},
		{name: "byPattern empty users kills all", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", bson.A{}))})},
			want: Patterns{All: true, Impersonation: true}},
		{name: "byPattern empty pattern kills all", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", uidBin(bob))), pat()})},
			want: Patterns{All: true}},
		{name: "byPattern roles with uid", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("uid", uidBin(bob)), e("roles", bson.A{bson.D{e("role", "root"), e("db", "admin")}}))})},
			want: Patterns{UIDs: uids(bob), Impersonation: true}},
		{name: "byPattern null lsid is absent: kills all", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", nil))})},
			want: Patterns{All: true}},
		{name: "byPattern lsid with txnNumber selects nothing", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("lsid", append(full(testUUID, bob), e("txnNumber", int64(1)))))})}, want: Patterns{}},
		{name: "byPattern child lsid", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("lsid", append(full(testUUID, bob), e("txnUUID", uuidBin(testUUID2)))))})},
			code: mongoerr.InvalidOptions, msg: "Cannot kill a child session"},
		{name: "byPattern two users", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", uidBin(bob)), e("users", bson.A{
			bson.D{e("user", "a"), e("db", "b")}, bson.D{e("user", "c"), e("db", "d")}}))})},
			code: mongoerr.BadValue, msg: "Too many users in impersonation data"},
		{name: "byPattern type error wins over too many users", body: bson.D{e("killAllSessionsByPattern", bson.A{
			pat(e("users", bson.A{bson.D{e("user", "a"), e("db", "b")}, bson.D{e("user", "c"), e("db", "d")}})), pat(e("uid", 1))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".uid' is the wrong type 'int', expected type 'binData'"},

		// killAllSessionsByPattern errors seen on MongoDB (FerretDB's tests).
		{name: "NonArrayPatterns", body: bson.D{e("killAllSessionsByPattern", "invalid")}, code: mongoerr.TypeMismatch,
			msg: "BSON field '" + by + "' is the wrong type 'string', expected type 'array'"},
		{name: "StringPattern", body: bson.D{e("killAllSessionsByPattern", bson.A{"invalid"})}, code: mongoerr.TypeMismatch,
			msg: "BSON field '" + by + ".0' is the wrong type 'string', expected type 'object'"},
		{name: "UnknownPattern", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("invalid", "foo"))})},
			code: mongoerr.IDLUnknownField, msg: "BSON field '" + by + ".invalid' is an unknown field."},
		{name: "LsidString", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", "invalid"))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".lsid' is the wrong type 'string', expected type 'object'"},
		{name: "LsidMissingID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{}))})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + by + ".lsid.id' is missing but a required field"},
		{name: "LsidStringID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", "invalid")}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".lsid.id' is the wrong type 'string', expected type 'binData'"},
		{name: "LsidFunctionBinarySubtype", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", bin(1, nil))}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".lsid.id' is the wrong binData type 'function', expected type 'UUID'"},
		{name: "LsidEmptyBinaryUUID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", bin(4, nil))}))})},
			code: mongoerr.InvalidUUID, msg: "uuid must be a 16-byte binary field with UUID (4) subtype"},
		{name: "LsidMissingUID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", uuidBin(testUUID))}))})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + by + ".lsid.uid' is missing but a required field"},
		{name: "LsidStringUID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", uuidBin(testUUID)), e("uid", "invalid")}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".lsid.uid' is the wrong type 'string', expected type 'binData'"},
		{name: "LsidEmptyUID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", uuidBin(testUUID)), e("uid", bin(0, nil))}))})},
			code: mongoerr.UnsupportedFormat, msg: "Unsupported SHA256Block hash length: 0"},
		{name: "LsidFunctionUID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", bson.D{e("id", uuidBin(testUUID)), e("uid", bin(1, nil))}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".lsid.uid' is the wrong binData type 'function', expected type 'general'"},
		{name: "LsidUnknownField", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("lsid", append(full(testUUID, bob), e("x", 1))))})},
			code: mongoerr.IDLUnknownField, msg: "BSON field '" + by + ".lsid.x' is an unknown field."},
		{name: "UIDString", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", "invalid"))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".uid' is the wrong type 'string', expected type 'binData'"},
		{name: "UIDEmpty", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", bin(0, nil)))})},
			code: mongoerr.UnsupportedFormat, msg: "Unsupported SHA256Block hash length: 0"},
		{name: "UIDFunctionType", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", bin(1, nil)))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".uid' is the wrong binData type 'function', expected type 'general'"},
		{name: "NotArrayUsers", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", "invalid"))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".users' is the wrong type 'string', expected type 'array'"},
		{name: "NotDocumentUser", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", bson.A{"invalid"}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".users.0' is the wrong type 'string', expected type 'object'"},
		{name: "MissingDB", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", bson.A{bson.D{e("user", "foo")}}))})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + by + ".users.db' is missing but a required field"},
		{name: "BoolDB", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", bson.A{bson.D{e("db", true), e("user", "foo")}}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".users.db' is the wrong type 'bool', expected type 'string'"},
		{name: "MissingUser", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", bson.A{bson.D{e("db", "bar")}}))})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + by + ".users.user' is missing but a required field"},
		{name: "BoolUser", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("users", bson.A{bson.D{e("db", "bar"), e("user", false)}}))})},
			code: mongoerr.TypeMismatch, msg: "BSON field '" + by + ".users.user' is the wrong type 'bool', expected type 'string'"},
		{name: "RoleMissingRole", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("roles", bson.A{bson.D{e("db", "admin")}}))})},
			code: mongoerr.IDLFailedToParse, msg: "BSON field '" + by + ".roles.role' is missing but a required field"},
		{name: "DuplicateUID", body: bson.D{e("killAllSessionsByPattern", bson.A{pat(e("uid", uidBin(bob)), e("uid", uidBin(bob)))})},
			code: mongoerr.IDLDuplicateField, msg: "BSON field '" + by + ".uid' is a duplicate field"},

		{name: "not a kill command", body: bson.D{e("endSessions", bson.A{})}, code: mongoerr.InternalError,
			msg: `"endSessions" is not a kill command`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKillAs(doc(t, tt.body), alice, tt.authEnabled, tt.mayKillAny || !tt.authEnabled)
			wantErr(t, err, tt.code, tt.msg)
			if !samePatterns(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if !tt.mayKillAny { // ParseKill grants killAnySession exactly when auth is off.
				got2, err2 := ParseKill(doc(t, tt.body), alice, tt.authEnabled)
				if fmt.Sprint(err2) != fmt.Sprint(err) || !samePatterns(got, got2) {
					t.Fatalf("ParseKill differs: %+v %v vs %+v %v", got2, err2, got, err)
				}
			}
		})
	}
}

func TestPatternsMatches(t *testing.T) {
	a1, a2, b1 := ID{testUUID, alice}, ID{testUUID2, alice}, ID{testUUID, bob}
	tests := []struct {
		name string
		p    Patterns
		in   []ID
		out  []ID
		none bool
	}{
		{name: "all", p: Patterns{All: true}, in: []ID{a1, a2, b1}},
		{name: "uid", p: Patterns{UIDs: uids(alice)}, in: []ID{a1, a2}, out: []ID{b1}},
		{name: "id", p: Patterns{IDs: ids(a1)}, in: []ID{a1}, out: []ID{a2, b1}},
		{name: "same uuid other user", p: Patterns{IDs: ids(b1)}, in: []ID{b1}, out: []ID{a1}},
		{name: "none", p: Patterns{}, out: []ID{a1, a2, b1}, none: true},
		{name: "empty maps", p: Patterns{UIDs: uids(), IDs: ids()}, out: []ID{a1}, none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, id := range tt.in {
				if !tt.p.Matches(id) {
					t.Errorf("%v not matched", id)
				}
			}
			for _, id := range tt.out {
				if tt.p.Matches(id) {
					t.Errorf("%v matched", id)
				}
			}
			if tt.p.None() != tt.none {
				t.Errorf("None() = %v", tt.p.None())
			}
		})
	}
}

func TestKillCommands(t *testing.T) {
	a1, b1 := ID{testUUID, alice}, ID{testUUID, bob}
	lsidPat := func(id ID) bson.D {
		return bson.D{e("lsid", bson.D{e("id", uuidBin(id.ID)), e("uid", uidBin(id.UID))})}
	}
	tests := []struct {
		name string
		p    Patterns
		want bson.A
	}{
		{name: "all", p: Patterns{All: true, UIDs: uids(alice)}, want: bson.A{}},
		{name: "uid", p: Patterns{UIDs: uids(bob)}, want: bson.A{bson.D{e("uid", uidBin(bob))}}},
		{name: "uids sorted, ids after", p: Patterns{UIDs: uids(bob, alice), IDs: ids(b1)},
			want: bson.A{bson.D{e("uid", uidBin(min2(alice, bob)))}, bson.D{e("uid", uidBin(max2(alice, bob)))}}},
		{name: "id not covered by uid", p: Patterns{UIDs: uids(bob), IDs: ids(a1, b1)},
			want: bson.A{bson.D{e("uid", uidBin(bob))}, lsidPat(a1)}},
		{name: "none kills nothing", p: Patterns{}, want: bson.A{lsidPat(ID{})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds := tt.p.KillCommands(MaxKillBatch)
			if len(cmds) != 1 {
				t.Fatalf("%d commands, want 1", len(cmds))
			}
			got := cmds[0]
			want := doc(t, bson.D{e("killAllSessionsByPattern", tt.want), e("$db", "admin")})
			if string(got) != string(want) {
				t.Fatalf("got  %v\nwant %v", got, bsoncore.Document(want))
			}
			// What a mongod would select from it is what p selects (among real sessions: the
			// all-zero lsid is nobody's).
			back, err := ParseKill(got, alice, true)
			if err != nil {
				t.Fatalf("reparse: %v", err)
			}
			for _, id := range []ID{a1, b1, {ID: testUUID2, UID: alice}} {
				if back.Matches(id) != tt.p.Matches(id) {
					t.Fatalf("%v: mongod would match %v, p matches %v", id, back.Matches(id), tt.p.Matches(id))
				}
			}
		})
	}
}

// TestKillCommandsSplit: many sessions are split over several bodies, each within the bound,
// which together select exactly the sessions named, each once.
func TestKillCommandsSplit(t *testing.T) {
	var p Patterns
	for i := range 5000 {
		var id ID
		binary.BigEndian.PutUint32(id.ID[:], uint32(i))
		id.UID = alice
		if i%2 == 1 {
			id.UID = bob
		}
		p.addID(id)
	}
	p.addUID(digest("carol", "admin"))
	const bound = 20_000
	cmds := p.KillCommands(bound)
	if len(cmds) < 10 {
		t.Fatalf("%d commands for %d patterns of ~80 bytes under %d bytes each", len(cmds), len(p.IDs), bound)
	}
	seen := map[ID]bool{}
	uids := 0
	for _, c := range cmds {
		if len(c) > bound+200 {
			t.Fatalf("a body of %d bytes, bound %d", len(c), bound)
		}
		back, err := ParseKill(c, alice, true)
		if err != nil {
			t.Fatal(err)
		}
		uids += len(back.UIDs)
		for id := range back.IDs {
			if seen[id] {
				t.Fatalf("%v sent twice", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != len(p.IDs) || uids != 1 {
		t.Fatalf("%d ids and %d uids sent, want %d and 1", len(seen), uids, len(p.IDs))
	}
}

func min2(a, b UID) UID {
	if compareIDs(ID{UID: a}, ID{UID: b}) < 0 {
		return a
	}
	return b
}

func max2(a, b UID) UID {
	if min2(a, b) == a {
		return b
	}
	return a
}
