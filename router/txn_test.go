package router

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/shards"
)

// Reads the router knows are reads; every other command, known or not, counts as a write.
func TestTxnWrites(t *testing.T) {
	for _, tc := range []struct {
		cmd   bson.D
		write bool
	}{
		{bson.D{{Key: "find", Value: "c"}}, false},
		{bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}}}}}}, false},
		{bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$out", Value: "o"}}}}}, true},
		{bson.D{{Key: "distinct", Value: "c"}}, false},
		{bson.D{{Key: "getMore", Value: int64(1)}}, false},
		{bson.D{{Key: "insert", Value: "c"}}, true},
		{bson.D{{Key: "findAndModify", Value: "c"}}, true},
		{bson.D{{Key: "createIndexes", Value: "c"}}, true},
		{bson.D{{Key: "someFutureCommand", Value: 1}}, true},
	} {
		body := mustMarshal(t, tc.cmd)
		r := &request{Command: command.Command{Name: []byte(tc.cmd[0].Key), Body: body}}
		if got := txnWrites(r); got != tc.write {
			t.Errorf("%s: write %v, want %v", tc.cmd[0].Key, got, tc.write)
		}
	}
}

// A joining shard gets startTransaction and the transaction's readConcern in place of the
// client's; every other field stays.
func TestWithStartFields(t *testing.T) {
	body := mustMarshal(t, bson.D{{Key: "find", Value: "c"}, {Key: "readConcern", Value: bson.D{{Key: "level", Value: "local"}}},
		{Key: "startTransaction", Value: true}, {Key: "txnNumber", Value: int64(3)}, {Key: "$db", Value: "d"}})
	rc := mustMarshal(t, bson.D{{Key: "level", Value: "snapshot"}, {Key: "atClusterTime", Value: bson.Timestamp{T: 9, I: 1}}})
	got := bson.Raw(withStartFields(body, rc))
	want := `{"find": "c","txnNumber": {"$numberLong":"3"},"$db": "d","startTransaction": true,"readConcern": {"level": "snapshot","atClusterTime": {"$timestamp":{"t":9,"i":1}}}}`
	if got.String() != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	if got := bson.Raw(withStartFields(mustMarshal(t, bson.D{{Key: "insert", Value: "c"}}), nil)).String(); got != `{"insert": "c","startTransaction": true}` {
		t.Fatalf("without a readConcern: %s", got)
	}
}

// A statement fails by its transport error, its error reply or its first write error.
func TestStatementFailure(t *testing.T) {
	reply := func(d bson.D) shards.Reply {
		return shards.Reply{Reply: outcome.NewReply(mustMarshal(t, d))}
	}
	for _, tc := range []struct {
		name  string
		reply shards.Reply
		err   error
		want  mongoerr.Code
	}{
		{"ok", reply(bson.D{{Key: "ok", Value: 1}}), nil, 0},
		{"no reply (moreToCome)", shards.Reply{}, nil, 0},
		{"transport", shards.Reply{}, mongoerr.New(mongoerr.HostUnreachable, "gone"), mongoerr.HostUnreachable},
		{"error reply", reply(bson.D{{Key: "ok", Value: 0}, {Key: "code", Value: 251}}), nil, mongoerr.NoSuchTransaction},
		{"write error", reply(bson.D{{Key: "ok", Value: 1}, {Key: "writeErrors", Value: bson.A{bson.D{{Key: "index", Value: 0}, {Key: "code", Value: 11000}}}}}), nil, 11000},
	} {
		if got := statementFailure(tc.reply, tc.err); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// A commit's outcome is unknown, and the client may retry it, as mongos judges it.
func TestCommitUnknown(t *testing.T) {
	ok := shards.Reply{Reply: outcome.NewReply(mustMarshal(t, bson.D{{Key: "ok", Value: 1}, {Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 64}}}}))}
	failed := shards.Reply{Reply: outcome.NewReply(mustMarshal(t, bson.D{{Key: "ok", Value: 0}}))}
	for _, tc := range []struct {
		code  mongoerr.Code
		reply shards.Reply
		err   error
		want  bool
	}{
		{64, ok, nil, true},
		{mongoerr.NoSuchTransaction, failed, nil, false},
		{mongoerr.HostUnreachable, shards.Reply{}, errors.New("network"), true},
		{mongoerr.MaxTimeMSExpired, failed, nil, true},
		{mongoerr.TransactionTooOld, failed, nil, true},
		{mongoerr.DuplicateKey, failed, nil, false},
	} {
		if got := commitUnknown(tc.code, tc.reply, tc.err); got != tc.want {
			t.Errorf("code %d: unknown %v, want %v", tc.code, got, tc.want)
		}
	}
	e := wceError(mustMarshal(t, bson.D{{Key: "ok", Value: 1}, {Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 64}, {Key: "errmsg", Value: "waiting"}}}}))
	if e.Code != 64 || e.Msg != "waiting" {
		t.Errorf("write concern error as a command error: %+v", e)
	}
}
