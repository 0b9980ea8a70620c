package auth

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// The write commands' authorization, fuzzed: a command built from the fuzzer's choices arrives
// with its statements in the body or as a document sequence, with flags as booleans, numbers or
// other types, and is authorized exactly when the user's roles grant every action its
// statements need on the namespaces they name (the oracle below, which reads the roles through
// User.Can only), and the same way whichever form it arrives in.

var fuzzNamespaces = []string{"test.c", "test.d", "b.c", "config.databases", "admin.system.users"}

// fuzzUsers hold the roles the oracle is checked against.
func fuzzUsers(tb testing.TB) []*User {
	tb.Helper()
	custom := map[string]*RoleDef{"updateOnly@admin": {Role: "updateOnly", DB: "admin", Privileges: []PrivilegeSpec{
		{Resource: ResourceSpec{DB: ptr("test"), Collection: ptr("")}, Actions: []string{"find", "update"}}}}}
	var out []*User
	for i, roles := range [][]RoleRef{
		{{"readWrite", "test"}}, {{"read", "test"}}, {{"updateOnly", "admin"}}, {{"readWrite", "b"}},
		{{"readWriteAnyDatabase", "admin"}}, {{"root", "admin"}},
	} {
		privs, _, err := resolveRoles(roles, custom)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, &User{Name: fmt.Sprintf("u%d", i), DB: "admin", Roles: roles, privs: privs})
	}
	return out
}

// fuzzFlag is an upsert/remove value of the kind the fuzzer picks, and its truth as mongod's
// safeBool reads it (ok is false for a type it refuses).
func fuzzFlag(kind uint8) (v any, truth, ok bool) {
	switch kind % 8 {
	case 0:
		return nil, false, true // absent
	case 1:
		return true, true, true
	case 2:
		return false, false, true
	case 3:
		return int32(1), true, true
	case 4:
		return int64(0), false, true
	case 5:
		return 2.5, true, true
	case 6:
		return "yes", false, false
	}
	return bson.D{}, false, false
}

// fuzzWrite builds a write command from the fuzzer's choices: its body with the statements
// inside, the same command with them as a document sequence, and what each statement needs.
type fuzzNeed struct{ action, ns string }

func fuzzWrite(kind, stmts, nsPick, flagPick uint8) (name, db string, body, bodyOnly bson.D, seqField string, seqDocs []bson.D, needs []fuzzNeed, flagOK bool) {
	ns := func(i int) string { return fuzzNamespaces[(int(nsPick)+i*3)%len(fuzzNamespaces)] }
	split := func(full string) (string, string) {
		for i := 0; i < len(full); i++ {
			if full[i] == '.' {
				return full[:i], full[i+1:]
			}
		}
		return full, ""
	}
	flagOK = true
	n := int(stmts%4) + 1
	switch kind % 3 {
	case 0: // update on one namespace
		db, coll := split(ns(0))
		name, seqField = "update", "updates"
		needs = append(needs, fuzzNeed{"update", ns(0)})
		for i := range n {
			v, truth, ok := fuzzFlag(flagPick >> (2 * i))
			st := bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}}}
			if v != nil {
				st = append(st, bson.E{Key: "upsert", Value: v})
			}
			flagOK = flagOK && ok
			if truth {
				needs = append(needs, fuzzNeed{"insert", ns(0)})
			}
			seqDocs = append(seqDocs, st)
		}
		body = bson.D{{Key: "update", Value: coll}}
		return name, db, body, nil, seqField, seqDocs, needs, flagOK
	case 1: // findAndModify: no sequences, flags at the top
		db, coll := split(ns(0))
		remove, removeTruth, ok1 := fuzzFlag(flagPick)
		upsert, upsertTruth, ok2 := fuzzFlag(flagPick >> 3)
		body = bson.D{{Key: "findAndModify", Value: coll}, {Key: "query", Value: bson.D{}}}
		if remove != nil {
			body = append(body, bson.E{Key: "remove", Value: remove})
		}
		if upsert != nil {
			body = append(body, bson.E{Key: "upsert", Value: upsert})
		}
		needs = []fuzzNeed{{"find", ns(0)}}
		switch {
		case !ok1:
			flagOK = false
		case removeTruth:
			needs = append(needs, fuzzNeed{"remove", ns(0)})
		default:
			needs = append(needs, fuzzNeed{"update", ns(0)})
			flagOK = ok2
			if upsertTruth {
				needs = append(needs, fuzzNeed{"insert", ns(0)})
			}
		}
		return "findAndModify", db, body, body, "", nil, needs, flagOK
	}
	// bulkWrite on admin: ops and nsInfo, each possibly a sequence (ops here)
	name, db, seqField = "bulkWrite", "admin", "ops"
	var nsInfo bson.A
	for i := range 2 {
		nsInfo = append(nsInfo, bson.D{{Key: "ns", Value: ns(i)}})
	}
	for i := range n {
		idx := int32(i % 2)
		switch (int(kind) + i) % 3 {
		case 0:
			seqDocs = append(seqDocs, bson.D{{Key: "insert", Value: idx}, {Key: "document", Value: bson.D{}}})
			needs = append(needs, fuzzNeed{"insert", ns(int(idx))})
		case 1:
			v, truth, ok := fuzzFlag(flagPick >> (2 * i))
			op := bson.D{{Key: "update", Value: idx}, {Key: "filter", Value: bson.D{}}, {Key: "updateMods", Value: bson.D{}}}
			if v != nil {
				op = append(op, bson.E{Key: "upsert", Value: v})
			}
			flagOK = flagOK && ok
			needs = append(needs, fuzzNeed{"update", ns(int(idx))})
			if truth {
				needs = append(needs, fuzzNeed{"insert", ns(int(idx))})
			}
			seqDocs = append(seqDocs, op)
		default:
			seqDocs = append(seqDocs, bson.D{{Key: "delete", Value: idx}, {Key: "filter", Value: bson.D{}}})
			needs = append(needs, fuzzNeed{"remove", ns(int(idx))})
		}
	}
	body = bson.D{{Key: "bulkWrite", Value: 1}, {Key: "nsInfo", Value: nsInfo}}
	return name, db, body, nil, seqField, seqDocs, needs, flagOK
}

func FuzzAuthorizeWrites(f *testing.F) {
	for _, seed := range [][4]uint8{{0, 1, 0, 1}, {0, 3, 2, 0x55}, {1, 0, 0, 3}, {1, 0, 1, 0x19}, {2, 3, 1, 0x5a}, {2, 2, 3, 0xff}} {
		f.Add(seed[0], seed[1], seed[2], seed[3], uint8(0))
	}
	users := fuzzUsers(f)
	f.Fuzz(func(t *testing.T, kind, stmts, nsPick, flagPick, userPick uint8) {
		u := users[int(userPick)%len(users)]
		name, db, body, bodyOnly, seqField, seqDocs, needs, flagOK := fuzzWrite(kind, stmts, nsPick, flagPick)
		forms := map[string]*commandForms{}
		if bodyOnly != nil {
			forms["body"] = formsOf(t, db, append(bodyOnly, bson.E{Key: "$db", Value: db}), "", nil)
		} else {
			inBody := append(append(bson.D{}, body...), bson.E{Key: seqField, Value: toArray(seqDocs)}, bson.E{Key: "$db", Value: db})
			forms["body"] = formsOf(t, db, inBody, "", nil)
			forms["sequence"] = formsOf(t, db, append(append(bson.D{}, body...), bson.E{Key: "$db", Value: db}), seqField, seqDocs)
		}
		allowed := true
		for _, n := range needs {
			d, c := splitNS(n.ns)
			allowed = allowed && u.Can(n.action, NSResource(d, c))
		}
		for form, c := range forms {
			err := Authorize(u, c.cmd)
			switch {
			case !flagOK:
				if mongoerr.As(err).Code != mongoerr.TypeMismatch {
					t.Fatalf("%s %s (%s) with a flag mongod refuses: %v", name, c, form, err)
				}
			case allowed && err != nil:
				t.Fatalf("%s as %v: %s (%s) refused, though the roles grant %v: %v", name, u.Roles, c, form, needs, err)
			case !allowed && err == nil:
				t.Fatalf("%s as %v: %s (%s) authorized, though the roles do not grant all of %v", name, u.Roles, c, form, needs)
			}
		}
	})
}

type commandForms struct {
	cmd  *command.Command
	text string
}

func (c *commandForms) String() string { return c.text }

func toArray(docs []bson.D) bson.A {
	out := make(bson.A, len(docs))
	for i, d := range docs {
		out[i] = d
	}
	return out
}

// formsOf is a command as the router parses it: body and, if any, one document sequence.
func formsOf(t *testing.T, db string, body bson.D, seqField string, seqDocs []bson.D) *commandForms {
	raw, err := bson.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []wire.Sequence
	text := bson.Raw(raw).String()
	if seqField != "" {
		s := wire.Sequence{Identifier: seqField}
		for _, d := range seqDocs {
			b, err := bson.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			s.Raw = append(s.Raw, b...)
		}
		seqs = append(seqs, s)
		text += fmt.Sprintf(" + sequence %s %v", seqField, seqDocs)
	}
	return &commandForms{cmd: commandOf(db, bsoncore.Document(raw), seqs...), text: text}
}
