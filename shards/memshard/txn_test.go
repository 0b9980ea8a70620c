package memshard

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// cmd appends the session fields and $db to a command.
func cmd(body bson.D, id sessionid.ID, txnNumber int64, extra ...bson.E) bson.D {
	body = append(body, bson.E{Key: "lsid", Value: lsidDoc(id)}, bson.E{Key: "txnNumber", Value: txnNumber})
	body = append(body, extra...)
	return append(body, bson.E{Key: "$db", Value: "test"})
}

var (
	inTxn      = bson.E{Key: "autocommit", Value: false}
	startTxn   = bson.E{Key: "startTransaction", Value: true}
	adminDB    = bson.E{Key: "$db", Value: "admin"}
	countDocsC = func(c *rawClient) int64 {
		reply := c.run(bson.D{{Key: "count", Value: "t"}, {Key: "$db", Value: "test"}})
		return reply.Lookup("n").AsInt64()
	}
)

func txnCmd(name string, id sessionid.ID, n int64) bson.D {
	return bson.D{{Key: name, Value: 1}, {Key: "lsid", Value: lsidDoc(id)}, {Key: "txnNumber", Value: n}, inTxn, adminDB}
}

func TestRetryableWrites(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	id := newLSID()
	insert := cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}}}, id, 1)
	first := mustOK(t, c.run(insert))
	retry := mustOK(t, c.run(insert))
	if first.Lookup("n").Int32() != 2 || retry.Lookup("n").Int32() != 2 || retry.Lookup("writeErrors").Type != 0 {
		t.Fatalf("insert %s, retry %s", first, retry)
	}
	if got := mustValues(t, retry.Lookup("retriedStmtIds").Array()); len(got) != 2 {
		t.Fatalf("retriedStmtIds %v", got)
	}
	if n := countDocsC(c); n != 2 {
		t.Fatalf("%d documents after a retried insert", n)
	}

	inc := cmd(bson.D{{Key: "update", Value: "t"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}}}}}}, id, 2)
	mustOK(t, c.run(inc))
	if r := mustOK(t, c.run(inc)); r.Lookup("nModified").Int32() != 1 {
		t.Fatalf("retried update reply %s", r)
	}
	fam := cmd(bson.D{{Key: "findAndModify", Value: "t"}, {Key: "query", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "update", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}}, {Key: "new", Value: true}}, id, 3)
	a, b := mustOK(t, c.run(fam)), mustOK(t, c.run(fam))
	if a.Lookup("value", "n").Int32() != 2 || b.Lookup("value", "n").Int32() != 2 {
		t.Fatalf("findAndModify %s, retry %s", a, b)
	}
	find := mustOK(t, c.run(bson.D{{Key: "find", Value: "t"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "$db", Value: "test"}}))
	if n := find.Lookup("cursor", "firstBatch", "0", "n").Int32(); n != 2 {
		t.Fatalf("n = %d after retried $inc (update and findAndModify once each)", n)
	}
	del := cmd(bson.D{{Key: "delete", Value: "t"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 1}}}}}, id, 4)
	mustOK(t, c.run(del))
	if r := mustOK(t, c.run(del)); r.Lookup("n").Int32() != 1 || countDocsC(c) != 1 {
		t.Fatalf("retried delete %s", r)
	}

	// A failed statement is not recorded: the retry runs it again.
	dup := cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 2}}}}}, id, 5)
	if r := mustOK(t, c.run(dup)); r.Lookup("writeErrors", "0", "code").Int32() != 11000 {
		t.Fatalf("duplicate %s", r)
	}
	if r := mustOK(t, c.run(dup)); r.Lookup("writeErrors", "0", "code").Int32() != 11000 {
		t.Fatalf("retried duplicate %s", r)
	}
	wantCode(t, c.run(cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{}}}}, id, 4)), mongoerr.TransactionTooOld, "")
}

func TestTransactionsWithDriver(t *testing.T) {
	rs := startSet(t, 3)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("test").Collection("t")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 0}, {Key: "v", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	sess, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)

	// Commit: the writes appear together; inside, the transaction reads its own writes.
	_, err = sess.WithTransaction(ctx, func(sctx context.Context) (any, error) {
		if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
			return nil, err
		}
		if _, err := coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
			return nil, err
		}
		if n, err := coll.CountDocuments(sctx, bson.D{}); err != nil || n != 2 {
			return nil, errors.New("the transaction does not see its own insert")
		}
		if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
			return nil, errors.New("an uncommitted insert is visible outside")
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc bson.Raw
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 0}}).Decode(&doc); err != nil || doc.Lookup("v").Int32() != 1 {
		t.Fatalf("committed update missing: %s %v", doc, err)
	}

	// Abort: nothing remains.
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.AbortTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := coll.CountDocuments(ctx, bson.D{}); n != 2 {
		t.Fatalf("%d documents after abort, want 2", n)
	}

	// A write conflict carries TransientTransactionError; WithTransaction retries it.
	other, err := client.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer other.EndSession(ctx)
	if err := other.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	octx := mongo.NewSessionContext(ctx, other)
	if _, err := coll.UpdateOne(octx, bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "other"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	_, err = coll.UpdateOne(sctx, bson.D{{Key: "_id", Value: 0}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: "mine"}}}})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != int32(mongoerr.WriteConflict) || !ce.HasErrorLabel(mongoerr.LabelTransientTransaction) {
		t.Fatalf("conflicting write: %v", err)
	}
	_ = sess.AbortTransaction(ctx)
	if err := other.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 0}}).Decode(&doc); err != nil || doc.Lookup("v").StringValue() != "other" {
		t.Fatalf("after the conflict: %s %v", doc, err)
	}
}

func TestTransactionStates(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	// Subtests leave transactions open: each touches its own documents.
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}},
		bson.D{{Key: "_id", Value: 3}}, bson.D{{Key: "_id", Value: 4}}}}, {Key: "$db", Value: "test"}}))
	insert := func(id sessionid.ID, n int64, extra ...bson.E) bson.D {
		return cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{}}}}, id, n, append([]bson.E{inTxn}, extra...)...)
	}
	update := func(id sessionid.ID, n int64, doc int, extra ...bson.E) bson.D {
		return cmd(bson.D{{Key: "update", Value: "t"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: doc}}},
			{Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}}}}}}}, id, n, extra...)
	}
	tt := []struct {
		name  string
		steps func(id sessionid.ID) []bson.D
		code  mongoerr.Code // of the last step
		label string
	}{
		{"commit twice", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 1, startTxn), txnCmd("commitTransaction", id, 1), txnCmd("commitTransaction", id, 1)}
		}, 0, ""},
		{"commit after abort", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 1, startTxn), txnCmd("abortTransaction", id, 1), txnCmd("commitTransaction", id, 1)}
		}, mongoerr.NoSuchTransaction, mongoerr.LabelTransientTransaction},
		{"statement after abort", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 1, startTxn), txnCmd("abortTransaction", id, 1), insert(id, 1)}
		}, mongoerr.NoSuchTransaction, mongoerr.LabelTransientTransaction},
		{"abort after commit", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 1, startTxn), txnCmd("commitTransaction", id, 1), txnCmd("abortTransaction", id, 1)}
		}, mongoerr.TransactionCommitted, ""},
		{"unknown transaction", func(id sessionid.ID) []bson.D { return []bson.D{insert(id, 7)} },
			mongoerr.NoSuchTransaction, mongoerr.LabelTransientTransaction},
		{"restart in progress", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 1, startTxn), insert(id, 1, startTxn)}
		}, codeStartTxnConflict, ""},
		{"restart aborted", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 1, startTxn), txnCmd("abortTransaction", id, 1), insert(id, 1, startTxn)}
		}, 0, ""},
		{"older number", func(id sessionid.ID) []bson.D {
			return []bson.D{insert(id, 5, startTxn), insert(id, 4, startTxn)}
		}, mongoerr.TransactionTooOld, ""},
		{"commit outside a transaction", func(id sessionid.ID) []bson.D {
			return []bson.D{{{Key: "commitTransaction", Value: 1}, adminDB}}
		}, mongoerr.InvalidOptions, ""},
		{"write conflict between transactions", func(id sessionid.ID) []bson.D {
			other := newLSID()
			return []bson.D{update(other, 1, 1, inTxn, startTxn), update(id, 1, 1, inTxn, startTxn)}
		}, mongoerr.WriteConflict, mongoerr.LabelTransientTransaction},
		{"write after an outside write", func(id sessionid.ID) []bson.D {
			return []bson.D{update(id, 1, 2, inTxn, startTxn), // snapshot starts
				{{Key: "update", Value: "t"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 3}}},
					{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}}}}}, {Key: "$db", Value: "test"}},
				update(id, 1, 3, inTxn)}
		}, mongoerr.WriteConflict, mongoerr.LabelTransientTransaction},
		{"duplicate key fails the statement", func(id sessionid.ID) []bson.D {
			return []bson.D{cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 4}}}}}, id, 1, inTxn, startTxn)}
		}, mongoerr.DuplicateKey, ""},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			steps := tc.steps(newLSID())
			for i, step := range steps {
				reply := c.run(step)
				if i < len(steps)-1 {
					mustOK(t, reply)
					continue
				}
				if tc.code == 0 {
					mustOK(t, reply)
					return
				}
				wantCode(t, reply, tc.code, "")
				if tc.label != "" && !hasLabel(reply, tc.label) {
					t.Fatalf("no %s label: %s", tc.label, reply)
				}
			}
		})
	}
}

func TestBlockedWriteWaitsForTransaction(t *testing.T) {
	rs := startSet(t, 1)
	a, b := dialRaw(t, rs.Hosts()[0]), dialRaw(t, rs.Hosts()[0])
	mustOK(t, a.run(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}, {Key: "$db", Value: "test"}}))
	id := newLSID()
	mustOK(t, a.run(cmd(bson.D{{Key: "update", Value: "t"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "txn"}}}}}}}}}, id, 1, inTxn, startTxn)))
	b.send(0, bson.D{{Key: "update", Value: "t"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 1}}},
		{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "by", Value: "outside"}}}}}}}}, {Key: "$db", Value: "test"}})
	if _, err := b.recv(150 * time.Millisecond); err == nil {
		t.Fatal("the outside write did not wait for the transaction")
	}
	mustOK(t, a.run(txnCmd("commitTransaction", id, 1)))
	msg, err := b.recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r := mustOK(t, bson.Raw(msg.Body)); r.Lookup("nModified").Int32() != 1 {
		t.Fatalf("outside write %s", r)
	}
	reply := mustOK(t, a.run(bson.D{{Key: "find", Value: "t"}, {Key: "$db", Value: "test"}}))
	if by := reply.Lookup("cursor", "firstBatch", "0", "by").StringValue(); by != "outside" {
		t.Fatalf("last writer %q, want outside", by)
	}
}

func TestKillAbortsTransaction(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	id := newLSID()
	mustOK(t, c.run(cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}}, id, 1, inTxn, startTxn)))
	mustOK(t, c.run(bson.D{{Key: "killSessions", Value: bson.A{lsidDoc(id)}}, adminDB}))
	reply := c.run(txnCmd("commitTransaction", id, 1))
	wantCode(t, reply, mongoerr.NoSuchTransaction, "Transaction with { txnNumber: 1 } has been aborted.")
	if !hasLabel(reply, mongoerr.LabelTransientTransaction) {
		t.Fatalf("no TransientTransactionError: %s", reply)
	}
	if n := countDocsC(c); n != 0 {
		t.Fatalf("the killed transaction's insert is visible")
	}
	// The session goes on with a new transaction.
	mustOK(t, c.run(cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}}}}, id, 2, inTxn, startTxn)))
	mustOK(t, c.run(txnCmd("commitTransaction", id, 2)))
	if n := countDocsC(c); n != 1 {
		t.Fatalf("%d documents after commit", n)
	}
}

func TestTransactionAcrossStepDown(t *testing.T) {
	rs := startSet(t, 2)
	old := dialRaw(t, rs.Hosts()[0])
	id := newLSID()
	mustOK(t, old.run(cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{}}}}, id, 1, inTxn, startTxn)))
	if err := rs.StepDown(1); err != nil {
		t.Fatal(err)
	}
	reply := old.run(txnCmd("commitTransaction", id, 1))
	wantCode(t, reply, mongoerr.NotWritablePrimary, "not primary")
	if !hasLabel(reply, mongoerr.LabelRetryableWrite) {
		t.Fatalf("commit on a stepped-down primary has no RetryableWriteError: %s", reply)
	}
	wantCode(t, dialRaw(t, rs.Hosts()[1]).run(txnCmd("commitTransaction", id, 1)), mongoerr.NoSuchTransaction, "")
}

func TestRetryableWriteWithDriver(t *testing.T) {
	rs := startSet(t, 1)
	client := connect(t, rs.URI(), options.Client().SetRetryWrites(true))
	ctx := ctxT(t)
	admin := dialRaw(t, rs.Hosts()[0])
	// The first attempt fails with a retryable error labelled by the server; the driver retries once.
	mustOK(t, admin.run(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "errorCode", Value: int32(mongoerr.NotWritablePrimary)}}}, adminDB}))
	coll := client.Database("test").Collection("rw")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count %d %v", n, err)
	}
	if got := rs.Member(0).CommandCount("insert"); got != 2 {
		t.Fatalf("%d insert attempts, want 2 (one retry)", got)
	}
}

func TestSnapshotIsolation(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 6}}}}, {Key: "$db", Value: "test"}}))
	findIDs := func(id *sessionid.ID, n int64, extra ...bson.E) []int32 {
		body := bson.D{{Key: "find", Value: "t"}, {Key: "sort", Value: bson.D{{Key: "_id", Value: 1}}}}
		if id == nil {
			body = append(body, bson.E{Key: "$db", Value: "test"})
		} else {
			body = cmd(body, *id, n, append([]bson.E{inTxn}, extra...)...)
		}
		reply := mustOK(t, c.run(body))
		var ids []int32
		for _, v := range mustValues(t, reply.Lookup("cursor", "firstBatch").Array()) {
			ids = append(ids, v.Document().Lookup("_id").Int32())
		}
		return ids
	}
	reader, writer := newLSID(), newLSID()
	if got := findIDs(&reader, 1, startTxn); len(got) != 1 || got[0] != 6 { // the snapshot starts here
		t.Fatalf("reader sees %v", got)
	}
	mustOK(t, c.run(cmd(bson.D{{Key: "insert", Value: "t"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 5}}}}}, writer, 1, inTxn, startTxn)))
	mustOK(t, c.run(txnCmd("commitTransaction", writer, 1)))
	mustOK(t, c.run(bson.D{{Key: "delete", Value: "t"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: 6}}}, {Key: "limit", Value: 1}}}}, {Key: "$db", Value: "test"}}))
	if got := findIDs(nil, 0); len(got) != 1 || got[0] != 5 {
		t.Fatalf("outside sees %v, want [5]", got)
	}
	if got := findIDs(&reader, 1); len(got) != 1 || got[0] != 6 {
		t.Fatalf("the reader's snapshot changed: %v, want [6]", got)
	}
	mustOK(t, c.run(txnCmd("commitTransaction", reader, 1)))
	s := rs.store
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.open != 0 || len(s.history) != 0 || len(s.dbs["test"]["t"].byID) != 1 {
		t.Fatalf("history kept after the last transaction: open %d, history %d, index %d", s.open, len(s.history), len(s.dbs["test"]["t"].byID))
	}
}

func TestCollectionCreatedInTransaction(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	names := func() []string {
		reply := mustOK(t, c.run(bson.D{{Key: "listCollections", Value: 1}, {Key: "nameOnly", Value: true}, {Key: "$db", Value: "test"}}))
		var out []string
		for _, v := range mustValues(t, reply.Lookup("cursor", "firstBatch").Array()) {
			out = append(out, v.Document().Lookup("name").StringValue())
		}
		return out
	}
	mustOK(t, c.run(bson.D{{Key: "create", Value: "existing"}, {Key: "$db", Value: "test"}}))
	for _, end := range []string{"abortTransaction", "commitTransaction"} {
		t.Run(end, func(t *testing.T) {
			id := newLSID()
			mustOK(t, c.run(cmd(bson.D{{Key: "insert", Value: "fresh"}, {Key: "documents", Value: bson.A{bson.D{}}}}, id, 1, inTxn, startTxn)))
			mustOK(t, c.run(cmd(bson.D{{Key: "createIndexes", Value: "fresh"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "name", Value: "x_1"}}}}}, id, 1, inTxn)))
			wantCode(t, c.run(cmd(bson.D{{Key: "createIndexes", Value: "existing"}, {Key: "indexes", Value: bson.A{bson.D{{Key: "key", Value: bson.D{{Key: "x", Value: 1}}}, {Key: "name", Value: "x_1"}}}}}, newLSID(), 1, inTxn, startTxn)),
				mongoerr.OperationNotSupportedInTransaction, "Cannot create new indexes on existing collection test.existing in a multi-document transaction.")
			if got := names(); len(got) != 1 {
				t.Fatalf("collections seen outside the transaction: %v", got)
			}
			wantCode(t, c.run(cmd(bson.D{{Key: "insert", Value: "fresh"}, {Key: "documents", Value: bson.A{bson.D{}}}}, newLSID(), 1, inTxn, startTxn)),
				mongoerr.WriteConflict, "")
			mustOK(t, c.run(txnCmd(end, id, 1)))
			want := 1
			if end == "commitTransaction" {
				want = 2
			}
			if got := names(); len(got) != want {
				t.Fatalf("collections after %s: %v", end, got)
			}
		})
	}
	reply := mustOK(t, c.run(bson.D{{Key: "listIndexes", Value: "fresh"}, {Key: "$db", Value: "test"}}))
	if n := len(mustValues(t, reply.Lookup("cursor", "firstBatch").Array())); n != 2 {
		t.Fatalf("%d indexes after commit, want 2", n)
	}
}

func TestOnPrimaryTransactionalWrite(t *testing.T) {
	rs := startSet(t, 1)
	admin := dialRaw(t, rs.Hosts()[0])
	for _, tc := range []struct {
		name      string
		data      bson.D
		committed bool // the first attempt's write stays
		closes    bool
	}{
		{"commit then close", bson.D{}, true, true},
		{"fail before commit and close", bson.D{{Key: "failBeforeCommitExceptionCode", Value: 1}}, false, true},
		{"fail before commit", bson.D{{Key: "failBeforeCommitExceptionCode", Value: 1}, {Key: "closeConnection", Value: false}}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustOK(t, admin.run(bson.D{{Key: "delete", Value: "p"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}}}}, {Key: "$db", Value: "test"}}))
			mustOK(t, admin.run(bson.D{{Key: "configureFailPoint", Value: "onPrimaryTransactionalWrite"}, {Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: tc.data}, adminDB}))
			insert := cmd(bson.D{{Key: "insert", Value: "p"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}}}, newLSID(), 1)
			c := dialRaw(t, rs.Hosts()[0])
			c.send(0, insert)
			msg, err := c.recv(5 * time.Second)
			switch {
			case tc.closes && err == nil:
				t.Fatalf("want the connection closed, got %s", bson.Raw(msg.Body))
			case !tc.closes && err != nil:
				t.Fatal(err)
			case !tc.closes:
				if r := mustOK(t, bson.Raw(msg.Body)); r.Lookup("writeErrors", "0", "code").Int32() != 1 || r.Lookup("n").Int32() != 0 {
					t.Fatalf("reply %s", r)
				}
			}
			if n := countDocs(admin, "p"); n != 0 && !tc.committed || tc.committed && n != 1 {
				t.Fatalf("%d documents after the first attempt", n)
			}
			retry := mustOK(t, dialRaw(t, rs.Hosts()[0]).run(insert))
			if retry.Lookup("n").Int32() != 2 || countDocs(admin, "p") != 2 {
				t.Fatalf("retry %s", retry)
			}
		})
	}
}

func countDocs(c *rawClient, coll string) int64 {
	return c.run(bson.D{{Key: "count", Value: coll}, {Key: "$db", Value: "test"}}).Lookup("n").AsInt64()
}

func TestSnapshotReads(t *testing.T) {
	clock := newFakeClock()
	rs := startSet(t, 1, WithClock(clock.Now))
	c := dialRaw(t, rs.Hosts()[0])
	mustOK(t, c.run(bson.D{{Key: "insert", Value: "s"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}}}, {Key: "$db", Value: "test"}}))
	snapshot := func(at *bson.Timestamp) bson.D {
		rc := bson.D{{Key: "level", Value: "snapshot"}}
		if at != nil {
			rc = append(rc, bson.E{Key: "atClusterTime", Value: *at})
		}
		return rc
	}
	read := func(at *bson.Timestamp) (bson.Raw, int32) {
		reply := c.run(bson.D{{Key: "find", Value: "s"}, {Key: "readConcern", Value: snapshot(at)}, {Key: "$db", Value: "test"}})
		if e := outcome.ErrOf(bsoncore.Document(reply)); e != nil {
			return reply, 0
		}
		return reply, reply.Lookup("cursor", "firstBatch", "0", "x").Int32()
	}
	bump := func() {
		mustOK(t, c.run(bson.D{{Key: "update", Value: "s"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}},
			{Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}}}}}}, {Key: "$db", Value: "test"}}))
	}
	first, x := read(nil)
	at, i, ok := first.Lookup("cursor", "atClusterTime").TimestampOK()
	if !ok || x != 1 {
		t.Fatalf("first snapshot read %s", first)
	}
	then := bson.Timestamp{T: at, I: i}
	bump()
	bump()
	if _, x := read(&then); x != 1 {
		t.Fatalf("read at %v sees x=%d, want 1", then, x)
	}
	if _, x := read(nil); x != 3 {
		t.Fatalf("a new snapshot sees x=%d, want 3", x)
	}
	reply := c.run(bson.D{{Key: "distinct", Value: "s"}, {Key: "key", Value: "x"}, {Key: "readConcern", Value: snapshot(&then)}, {Key: "$db", Value: "test"}})
	if vals := mustValues(t, mustOK(t, reply).Lookup("values").Array()); len(vals) != 1 || vals[0].Int32() != 1 || reply.Lookup("atClusterTime").Type != bson.TypeTimestamp {
		t.Fatalf("distinct at %v: %s", then, reply)
	}
	// Past the history window the old versions go: reading there is SnapshotTooOld.
	clock.Advance(snapshotWindow + time.Second)
	bump()
	reply, _ = read(&then)
	wantCode(t, reply, mongoerr.SnapshotTooOld, "")
	wantCode(t, c.run(bson.D{{Key: "find", Value: "s"}, {Key: "readConcern", Value: bson.D{{Key: "atClusterTime", Value: then}}}, {Key: "$db", Value: "test"}}),
		mongoerr.InvalidOptions, "atClusterTime field can be set only if level is equal to snapshot")
}

// A transaction started with readConcern {level: snapshot, atClusterTime} reads as of that time,
// as a router has every shard of a transaction read: older writes are seen, later ones are not
// and conflict with its own; history stays for the snapshot window after such a transaction
// started, and a time whose history is gone is SnapshotTooOld.
func TestTransactionAtClusterTime(t *testing.T) {
	clock := newFakeClock()
	rs := startSet(t, 1, WithClock(clock.Now))
	c := dialRaw(t, rs.Hosts()[0])
	for _, coll := range []string{"a", "b"} {
		mustOK(t, c.run(bson.D{{Key: "insert", Value: coll}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}}}, {Key: "$db", Value: "test"}}))
	}
	ping := bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}
	at := checkClusterTime(t, mustOK(t, c.run(ping)))
	// Gossip moves the clock on without a write, as a router's does.
	mustOK(t, c.run(append(ping, bson.E{Key: "$clusterTime", Value: clusterTimeDoc(bson.Timestamp{T: at.T + 5, I: 1})})))
	bump := func() {
		mustOK(t, c.run(bson.D{{Key: "update", Value: "a"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}},
			{Key: "u", Value: bson.D{{Key: "$inc", Value: bson.D{{Key: "x", Value: 1}}}}}}}}, {Key: "$db", Value: "test"}}))
	}
	snapshotAt := bson.E{Key: "readConcern", Value: bson.D{{Key: "level", Value: "snapshot"}, {Key: "atClusterTime", Value: at}}}
	readFrom := func(coll string, id sessionid.ID, start bool) bson.Raw {
		extra := []bson.E{inTxn}
		if start {
			extra = append(extra, startTxn, snapshotAt)
		}
		return c.run(cmd(bson.D{{Key: "find", Value: coll}}, id, 1, extra...))
	}
	readX := func(id sessionid.ID, start bool) bson.Raw { return readFrom("a", id, start) }

	// Nothing was written since at: the transaction starts there although no history is kept
	// and the clock has moved on.
	early := newLSID()
	if x := mustOK(t, readX(early, true)).Lookup("cursor", "firstBatch", "0", "x").Int32(); x != 1 {
		t.Fatalf("x = %d at %v, want 1", x, at)
	}
	bump() // kept: the open transaction needs the old version
	if x := mustOK(t, readX(early, false)).Lookup("cursor", "firstBatch", "0", "x").Int32(); x != 1 {
		t.Fatalf("x = %d after a later write, want the snapshot's 1", x)
	}
	late := newLSID()
	if x := mustOK(t, readX(late, true)).Lookup("cursor", "firstBatch", "0", "x").Int32(); x != 1 {
		t.Fatalf("a second transaction at %v sees x = %d, want 1", at, x)
	}
	wantCode(t, c.run(cmd(bson.D{{Key: "update", Value: "a"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}},
		{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}}}}}}, late, 1, inTxn)), mongoerr.WriteConflict, "")
	mustOK(t, c.run(txnCmd("commitTransaction", early, 1)))

	// No transaction is open, but the window of the last one keeps history.
	bump()
	again := newLSID()
	if x := mustOK(t, readX(again, true)).Lookup("cursor", "firstBatch", "0", "x").Int32(); x != 1 {
		t.Fatalf("within the window x = %d at %v, want 1", x, at)
	}
	mustOK(t, c.run(txnCmd("commitTransaction", again, 1)))

	// Past it nothing keeps history: a write after at makes the collection too old to read there;
	// one nobody changed since reads right.
	clock.Advance(snapshotWindow + time.Second)
	bump()
	wantCode(t, readX(newLSID(), true), mongoerr.SnapshotTooOld, "")
	if x := mustOK(t, readFrom("b", newLSID(), true)).Lookup("cursor", "firstBatch", "0", "x").Int32(); x != 1 {
		t.Fatalf("an unchanged collection at %v: x = %d", at, x)
	}
}
