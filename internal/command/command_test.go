package command

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

func marshal(t testing.TB, d bson.D) bsoncore.Document {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t testing.TB, body bsoncore.Document, seqs ...wire.Sequence) (Command, error) {
	t.Helper()
	m, err := wire.ParseMsg(wire.AppendMsg(nil, 1, 0, 0, body, seqs...))
	if err != nil {
		t.Fatal(err)
	}
	return Parse(m)
}

func codeOf(err error) mongoerr.Code {
	var e *mongoerr.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestParse(t *testing.T) {
	many := bson.D{{Key: "insert", Value: "c"}}
	for i := range 40 {
		many = append(many, bson.E{Key: fmt.Sprintf("f%d", i), Value: i})
	}
	for _, tc := range []struct {
		name string
		body bson.D
		code mongoerr.Code // of Parse, then of CheckDuplicates
		dup  mongoerr.Code
	}{
		{"find", bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}}, 0, 0},
		{"empty", bson.D{}, mongoerr.FailedToParse, 0},
		{"no $db", bson.D{{Key: "ping", Value: 1}}, 40571, 0},
		{"$db not a string", bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: 1}}, mongoerr.InvalidNamespace, 0},
		{"empty $db", bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: ""}}, mongoerr.InvalidNamespace, 0},
		{"a field twice", bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{}}, {Key: "updates", Value: bson.A{}},
			{Key: "$db", Value: "test"}}, 0, mongoerr.IDLDuplicateField},
		{"$db twice", bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "a"}, {Key: "$db", Value: "b"}}, 0, mongoerr.IDLDuplicateField},
		{"many fields", append(slices.Clone(many), bson.E{Key: "$db", Value: "test"}), 0, 0},
		{"many fields, one twice", append(slices.Clone(many), bson.E{Key: "f3", Value: 0}, bson.E{Key: "$db", Value: "test"}), 0, mongoerr.IDLDuplicateField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, marshal(t, tc.body))
			if codeOf(err) != tc.code {
				t.Fatalf("Parse: %v, want code %d", err, tc.code)
			}
			if err != nil {
				return
			}
			if err := c.CheckDuplicates(); codeOf(err) != tc.dup {
				t.Fatalf("CheckDuplicates: %v, want code %d", err, tc.dup)
			}
		})
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	body := marshal(t, bson.D{{Key: "find", Value: "orders"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "lsid", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: make([]byte, 16)}}}},
		{Key: "$db", Value: "shop"}})
	m, err := wire.ParseMsg(wire.AppendMsg(nil, 1, 0, 0, body))
	if err != nil {
		t.Fatal(err)
	}
	allowed := func(string) bool { return false }
	n := testing.AllocsPerRun(100, func() {
		c, _ := Parse(m)
		_ = c.CheckDuplicates()
		_ = c.CheckGeneric(allowed)
	})
	if n != 0 {
		t.Fatalf("parsing a find allocates %v times", n)
	}
}

// TestEachDoc: the documents of a field come from a body array or a document sequence alike,
// and a malformed body array is refused with mongod's type error.
func TestEachDoc(t *testing.T) {
	st := func(up any) bson.D {
		return bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{}}, {Key: "upsert", Value: up}}
	}
	seq := wire.Sequence{Identifier: "updates"}
	for _, d := range []bson.D{st(false), st(1)} {
		seq.Raw = append(seq.Raw, marshal(t, d)...)
	}
	inBody := bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{st(false), st(1)}}, {Key: "$db", Value: "t"}}
	inSeq := bson.D{{Key: "update", Value: "c"}, {Key: "$db", Value: "t"}}
	for name, c := range map[string]Command{
		"body":     mustParse(t, marshal(t, inBody)),
		"sequence": mustParse(t, marshal(t, inSeq), seq),
	} {
		var ups []bool
		err := c.EachDoc("updates", func(d bsoncore.Document) error {
			up, err := TrueValue(d, "upsert", "update.updates")
			ups = append(ups, up)
			return err
		})
		if err != nil || len(ups) != 2 || ups[0] || !ups[1] {
			t.Fatalf("%s: upserts %v, %v; want [false true]", name, ups, err)
		}
	}
	for _, tc := range []struct {
		updates any
		msg     string
	}{
		{"x", "BSON field 'update.updates' is the wrong type 'string', expected type 'array'"},
		{bson.A{st(true), 7}, "BSON field 'update.updates.1' is the wrong type 'int', expected type 'object'"},
	} {
		c := mustParse(t, marshal(t, bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: tc.updates}, {Key: "$db", Value: "t"}}))
		err := c.EachDoc("updates", func(bsoncore.Document) error { return nil })
		var e *mongoerr.Error
		if !errors.As(err, &e) || e.Code != mongoerr.TypeMismatch || e.Msg != tc.msg {
			t.Fatalf("updates %v: %v, want %q", tc.updates, err, tc.msg)
		}
	}
}

func mustParse(t *testing.T, body bsoncore.Document, seqs ...wire.Sequence) Command {
	t.Helper()
	c, err := parse(t, body, seqs...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTrueValue: flags read as mongod's safeBool reads them.
func TestTrueValue(t *testing.T) {
	for _, tc := range []struct {
		doc  bson.D
		want bool
		code mongoerr.Code
	}{
		{bson.D{}, false, 0},
		{bson.D{{Key: "upsert", Value: true}}, true, 0},
		{bson.D{{Key: "upsert", Value: false}}, false, 0},
		{bson.D{{Key: "upsert", Value: int32(1)}}, true, 0},
		{bson.D{{Key: "upsert", Value: int64(0)}}, false, 0},
		{bson.D{{Key: "upsert", Value: 0.5}}, true, 0},
		{bson.D{{Key: "upsert", Value: bson.NewDecimal128(0, 0)}}, false, 0},
		{bson.D{{Key: "upsert", Value: bson.NewDecimal128(0, 3)}}, true, 0},
		{bson.D{{Key: "upsert", Value: "yes"}}, false, mongoerr.TypeMismatch},
		{bson.D{{Key: "upsert", Value: nil}}, false, mongoerr.TypeMismatch},
		{bson.D{{Key: "upsert", Value: false}, {Key: "upsert", Value: true}}, false, mongoerr.IDLDuplicateField},
	} {
		got, err := TrueValue(marshal(t, tc.doc), "upsert", "update.updates")
		if got != tc.want || codeOf(err) != tc.code {
			t.Errorf("%v: %v, %v; want %v, code %d", tc.doc, got, err, tc.want, tc.code)
		}
	}
}

func TestCheckGeneric(t *testing.T) {
	body := func(extra ...bson.E) Command {
		d := append(bson.D{{Key: "find", Value: "c"}}, extra...)
		return mustParse(t, marshal(t, append(d, bson.E{Key: "$db", Value: "t"})))
	}
	none := func(string) bool { return false }
	all := func(string) bool { return true }
	audit := bson.E{Key: "$audit", Value: bson.D{}}
	for _, tc := range []struct {
		name    string
		c       Command
		allowed Allowed
		code    mongoerr.Code
	}{
		{"plain", body(), none, 0},
		{"$audit without impersonate", body(audit), none, mongoerr.Unauthorized},
		{"$audit with impersonate", body(audit), all, 0},
		{"txnRetryCounter, even with every action", body(bson.E{Key: "txnRetryCounter", Value: 1}), all, mongoerr.InvalidOptions},
		{"internal field allowed to drop", body(bson.E{Key: "shardVersion", Value: 1}), none, 0},
		{"first refusal in body order", body(bson.E{Key: "mayBypassWriteBlocking", Value: true}, audit), none, 6317500},
	} {
		if err := tc.c.CheckGeneric(tc.allowed); codeOf(err) != tc.code {
			t.Errorf("%s: %v, want code %d", tc.name, err, tc.code)
		}
	}
}
