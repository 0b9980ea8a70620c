package router

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// TestOpcountersCountStatements: the opcounters count as mongod does, statements from the body
// or from a document sequence, without allocating on the per-command path.
func TestOpcountersCountStatements(t *testing.T) {
	parse := func(body bson.D, seqs ...wire.Sequence) *command.Command {
		t.Helper()
		frame := wire.AppendMsg(nil, 1, 0, 0, mustMarshal(t, body), seqs...)
		m, err := wire.ParseMsg(frame)
		if err != nil {
			t.Fatal(err)
		}
		cmd, err := command.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		return &cmd
	}
	seq := wire.Sequence{Identifier: "documents"}
	for range 4 {
		seq.Raw = append(seq.Raw, mustMarshal(t, bson.D{{Key: "a", Value: 1}})...)
	}
	stmts := bson.A{bson.D{{Key: "q", Value: bson.D{}}}, bson.D{{Key: "q", Value: bson.D{}}}}
	var k counters
	for _, cmd := range []*command.Command{
		parse(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}, bson.D{}}}, {Key: "$db", Value: "t"}}),
		parse(bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "t"}}, seq),
		parse(bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: stmts}, {Key: "$db", Value: "t"}}),
		parse(bson.D{{Key: "delete", Value: "c"}, {Key: "deletes", Value: stmts}, {Key: "$db", Value: "t"}}),
		parse(bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "t"}}),
		parse(bson.D{{Key: "getMore", Value: int64(1)}, {Key: "$db", Value: "t"}}),
		parse(bson.D{{Key: "bulkWrite", Value: 1}, {Key: "ops", Value: bson.A{bson.D{{Key: "insert", Value: 0}}, bson.D{{Key: "delete", Value: 0}}}}, {Key: "$db", Value: "admin"}}),
		parse(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}),
	} {
		k.count(cmd)
	}
	got := [...]int64{k.insert.Load(), k.update.Load(), k.delete.Load(), k.query.Load(), k.getmore.Load(), k.command.Load()}
	if want := [...]int64{2 + 4 + 1, 2, 2 + 1, 1, 1, 1}; got != want {
		t.Fatalf("insert, update, delete, query, getmore, command = %v, want %v", got, want)
	}
	insert, ping := parse(bson.D{{Key: "insert", Value: "c"}, {Key: "$db", Value: "t"}}, seq), parse(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})
	if n := testing.AllocsPerRun(100, func() { k.count(insert); k.count(ping); k.received(10, 20); k.sent(5, 5) }); n != 0 {
		t.Fatalf("counting allocates %v times", n)
	}
}
