package router

import (
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestTransactionNumbers: mongos's rules on a session's transaction numbers
// (transaction_router.cpp beginOrContinueTxn). An older number is TransactionTooOld; starting the
// same number again, on any shard, is refused rather than run as a second transaction whose
// commit would report the first one's writes as committed.
func TestTransactionNumbers(t *testing.T) {
	checkLeaks(t)
	addr, _ := twoShards(t)
	rc := dialRaw(t, addr, "rooty")
	lsid := bson.D{{Key: "id", Value: newUUID(t)}}
	stmt := func(db string, number int64, start bool) bson.D {
		d := bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "n", Value: number}}}},
			{Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: number}, {Key: "autocommit", Value: false}}
		if start {
			d = append(d, bson.E{Key: "startTransaction", Value: true})
		}
		return append(d, bson.E{Key: "$db", Value: db})
	}
	end := func(name string, number int64) bson.D {
		return bson.D{{Key: name, Value: 1}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: number},
			{Key: "autocommit", Value: false}, {Key: "$db", Value: "admin"}}
	}
	// Two databases on different shards (each new database goes to the emptier shard).
	for _, db := range []string{"one", "two"} {
		rc.run(t, mustMarshal(t, bson.D{{Key: "insert", Value: "seed"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "$db", Value: db}}))
	}
	for _, step := range []struct {
		cmd  bson.D
		code mongoerr.Code
		msg  string
	}{
		{stmt("one", 5, true), 0, ""},
		{stmt("one", 3, true), mongoerr.TransactionTooOld, "txnNumber 3 is less than last txnNumber 5 seen in session"},
		{stmt("two", 5, true), mongoerr.ConflictingOperationInProgress, "txnNumber 5 for session"},
		{stmt("one", 4, false), mongoerr.TransactionTooOld, "txnNumber 4 is less than last txnNumber 5"},
		{stmt("one", 6, false), mongoerr.NoSuchTransaction, "cannot continue txnId 5 for session"},
		{end("abortTransaction", 4), mongoerr.TransactionTooOld, "txnNumber 4 is less than last txnNumber 5"},
		{end("commitTransaction", 5), 0, ""},
	} {
		reply := rc.run(t, mustMarshal(t, step.cmd))
		e := outcome.ErrOf(reply)
		switch {
		case step.code == 0 && e != nil:
			t.Fatalf("%v: %v", step.cmd, e)
		case step.code != 0 && (e == nil || e.Code != step.code || !strings.Contains(e.Msg, step.msg)):
			t.Fatalf("%v: %v, want %d %q", step.cmd, bson.Raw(reply), step.code, step.msg)
		}
	}
	// Only transaction 5's insert in "one" was written.
	for db, want := range map[string]int32{"one": 1, "two": 0} {
		reply := rc.run(t, mustMarshal(t, bson.D{{Key: "count", Value: "c"}, {Key: "$db", Value: db}}))
		if n := bson.Raw(reply).Lookup("n").Int32(); n != want {
			t.Errorf("%s.c holds %d documents, want %d", db, n, want)
		}
	}
}
