package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Writes to a sharded collection (docs/commands.md: insert, update, delete, findAndModify),
// through the driver: batches split per shard with the client's ordered semantics and indexes,
// targeting by the shard key, mongos's refusals, and retryable batches applied exactly once.

// shardedColl shards db.coll on {k: "hashed"} over the cluster and returns it through cl.
func shardedColl(t *testing.T, cl *mongo.Client, db, coll string) *mongo.Collection {
	t.Helper()
	shardColl(t, cl, db+"."+coll, "k")
	return cl.Database(db).Collection(coll)
}

// ids are the _ids of db.coll's documents on every shard, each shard's apart.
func (c *cluster) ids(t *testing.T, db, coll string) (all []int32, perShard [][]int32) {
	t.Helper()
	for i := range c.sets {
		var mine []int32
		for _, d := range c.docsOn(t, i, db, coll) {
			mine = append(mine, d.Lookup("_id").Int32())
		}
		perShard = append(perShard, mine)
		all = append(all, mine...)
	}
	slices.Sort(all)
	return all, perShard
}

func kDocs(from, to int) []any {
	var docs []any
	for i := from; i < to; i++ {
		docs = append(docs, bson.D{{Key: "_id", Value: int32(i)}, {Key: "k", Value: int32(i)}})
	}
	return docs
}

// An ordered batch stops at its first error in the client's order: the documents before it are
// written (on whichever shard), none after it; n and the error's index are the client's. An
// unordered one writes everything else and reports each error at its own index.
func TestShardedInsertOrderedAndUnordered(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := shardedColl(t, cl, "w", "ordered")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: int32(40)}, {Key: "k", Value: int32(40)}}); err != nil {
		t.Fatal(err)
	}
	// 0..99 with 40 already there: the error is the client's index 40.
	_, err := coll.InsertMany(ctx, kDocs(0, 100))
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 40 || bwe.WriteErrors[0].Code != 11000 {
		t.Fatalf("ordered insert: %v, want one duplicate key at index 40", err)
	}
	all, perShard := c.ids(t, "w", "ordered")
	want := make([]int32, 41)
	for i := range want {
		want[i] = int32(i)
	}
	if !slices.Equal(all, want) {
		t.Fatalf("after the ordered batch the shards hold %v, want 0..40 exactly", all)
	}
	for i, ids := range perShard {
		if len(ids) == 0 {
			t.Fatalf("shard %d got nothing: the batch did not span the shards", i)
		}
	}
	// Unordered: 100..199 with 120 and 180 taken, written everywhere else.
	for _, id := range []int32{120, 180} {
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "k", Value: id}}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = coll.InsertMany(ctx, kDocs(100, 200), options.InsertMany().SetOrdered(false))
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 2 || bwe.WriteErrors[0].Index != 20 || bwe.WriteErrors[1].Index != 80 {
		t.Fatalf("unordered insert: %v, want duplicates at 20 and 80", err)
	}
	all, _ = c.ids(t, "w", "ordered")
	if len(all) != 41+100 {
		t.Fatalf("%d documents after the unordered batch, want 141", len(all))
	}
	if n := c.checkPlacement(t, "w", "ordered", "k"); n != 141 {
		t.Fatalf("%d documents placed, want 141", n)
	}
	// A document whose key is an array is refused at its index, as mongos refuses it.
	_, err = coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: int32(500)}, {Key: "k", Value: bson.A{1, 2}}}, bson.D{{Key: "_id", Value: int32(501)}, {Key: "k", Value: 1}}})
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 0 || bwe.WriteErrors[0].Code != 61 {
		t.Fatalf("array shard key: %v, want ShardKeyNotFound at 0", err)
	}
	if n, _ := c.ids(t, "w", "ordered"); len(n) != 141 {
		t.Fatal("a document after the refused one was written")
	}
}

// update, delete and findAndModify: targeted by the shard key's equality, multi statements on
// every shard with their counts summed, an exact _id on every shard, and mongos's errors for
// the rest; a shard key value cannot change.
func TestShardedUpdateDelete(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := shardedColl(t, cl, "w", "ud")
	if _, err := coll.InsertMany(ctx, kDocs(0, 60)); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d, want %d", what, got, want)
		}
	}
	r, err := coll.UpdateOne(ctx, bson.D{{Key: "k", Value: int32(7)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	check("updateOne by key", r.ModifiedCount, 1)
	r, err = coll.UpdateMany(ctx, bson.D{{Key: "k", Value: bson.D{{Key: "$lt", Value: 30}}}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	check("updateMany over every shard", r.ModifiedCount, 30)
	check("updateMany matched", r.MatchedCount, 30)
	r, err = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: int32(8)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	check("updateOne by exact _id", r.ModifiedCount, 1)
	// Upsert by the shard key lands on the key's shard.
	r, err = coll.UpdateOne(ctx, bson.D{{Key: "k", Value: int32(1000)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "_id", Value: int32(1000)}}}},
		options.UpdateOne().SetUpsert(true))
	if err != nil || r.UpsertedCount != 1 {
		t.Fatalf("upsert by key: %+v, %v", r, err)
	}
	if n := c.checkPlacement(t, "w", "ud", "k"); n != 61 {
		t.Fatalf("%d documents placed, want 61", n)
	}
	// mongos's refusals.
	for _, tc := range []struct {
		name string
		run  func() error
		code int
		msg  string
	}{
		{"updateOne without the key", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "n", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "z", Value: 1}}}})
			return err
		}, 72, "A {multi:false} update on a sharded collection must contain an exact match on _id"},
		{"upsert without the key", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: int32(2000)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "z", Value: 1}}}}, options.UpdateOne().SetUpsert(true))
			return err
		}, 61, "Failed to target upsert by query :: could not extract exact shard key"},
		{"deleteOne without the key", func() error {
			_, err := coll.DeleteOne(ctx, bson.D{{Key: "n", Value: 1}})
			return err
		}, 61, "A single delete on a sharded collection must contain an exact match on _id"},
		{"findAndModify without the key", func() error {
			return coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: int32(3)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "z", Value: 1}}}}).Err()
		}, 61, "Query for sharded findAndModify must contain the shard key"},
		{"changing the key", func() error {
			_, err := coll.UpdateOne(ctx, bson.D{{Key: "k", Value: int32(3)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "k", Value: 4}}}})
			return err
		}, 66, "would modify the immutable field 'k'"},
		{"changing the key of many", func() error {
			_, err := coll.UpdateMany(ctx, bson.D{}, bson.D{{Key: "$inc", Value: bson.D{{Key: "k", Value: 1}}}})
			return err
		}, 72, "Multi-update operations are not allowed when updating the shard key field."},
		{"replacing the key", func() error {
			_, err := coll.ReplaceOne(ctx, bson.D{{Key: "k", Value: int32(3)}}, bson.D{{Key: "k", Value: int32(5)}})
			return err
		}, 66, "would modify the immutable field 'k'"},
	} {
		err := tc.run()
		var se mongo.ServerError
		if !errors.As(err, &se) || !se.HasErrorCode(tc.code) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want code %d with %q", tc.name, err, tc.code, tc.msg)
		}
	}
	// Setting the key to the value it has is no change.
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "k", Value: int32(3)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "k", Value: int32(3)}, {Key: "w", Value: 1}}}}); err != nil {
		t.Fatalf("setting the key to its value: %v", err)
	}
	// findAndModify by the key.
	var got bson.Raw
	err = coll.FindOneAndUpdate(ctx, bson.D{{Key: "k", Value: int32(9)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "f", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&got)
	if err != nil || got.Lookup("f").Int32() != 1 {
		t.Fatalf("findAndModify by key: %v %v", got, err)
	}
	// Deletes: by key, by exact _id, and many with the count summed.
	d, err := coll.DeleteOne(ctx, bson.D{{Key: "k", Value: int32(11)}})
	if err != nil {
		t.Fatal(err)
	}
	check("deleteOne by key", d.DeletedCount, 1)
	d, err = coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: int32(12)}})
	if err != nil {
		t.Fatal(err)
	}
	check("deleteOne by _id", d.DeletedCount, 1)
	d, err = coll.DeleteMany(ctx, bson.D{{Key: "n", Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	check("deleteMany over every shard", d.DeletedCount, 28) // 0..29 less 11 and 12
	all, _ := c.ids(t, "w", "ud")
	if len(all) != 61-30 {
		t.Fatalf("%d documents left, want 31", len(all))
	}
}

// A mixed bulk of updates over the shards: each statement's result at the client's index, the
// counts summed, and an ordered bulk stopped at its first failing statement.
func TestShardedBulkUpdates(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := shardedColl(t, cl, "w", "bulk")
	if _, err := coll.InsertMany(ctx, kDocs(0, 30)); err != nil {
		t.Fatal(err)
	}
	var models []mongo.WriteModel
	for i := range 30 {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "k", Value: int32(i)}}).
			SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}))
	}
	models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "k", Value: int32(100)}}).
		SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "n", Value: 1}}}}).SetUpsert(true))
	res, err := coll.BulkWrite(ctx, models)
	if err != nil {
		t.Fatal(err)
	}
	if res.ModifiedCount != 30 || res.UpsertedCount != 1 || res.UpsertedIDs[30] == nil {
		t.Fatalf("bulk %+v, want 30 modified and the upsert at index 30", res)
	}
	// An ordered bulk with a refused statement in the middle: those before it applied, none after.
	models = []mongo.WriteModel{
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "k", Value: int32(1)}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "k", Value: int32(2)}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "n", Value: int32(1)}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}),
		mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "k", Value: int32(3)}}).SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}),
	}
	_, err = coll.BulkWrite(ctx, models)
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || len(bwe.WriteErrors) != 1 || bwe.WriteErrors[0].Index != 2 || bwe.WriteErrors[0].Code != 72 {
		t.Fatalf("ordered bulk: %v, want InvalidOptions at index 2", err)
	}
	var set []int32
	for i := range c.sets {
		for _, d := range c.docsOn(t, i, "w", "bulk") {
			if _, err := d.LookupErr("a"); err == nil {
				set = append(set, d.Lookup("k").Int32())
			}
		}
	}
	slices.Sort(set)
	if !slices.Equal(set, []int32{1, 2}) {
		t.Fatalf("the ordered bulk applied to %v, want [1 2]", set)
	}
}

// A retryable batch split over the shards is applied exactly once when a shard's connection
// closes after it applied its part: the router sends the part again under the same statement
// ids (and, when the router's own retries fail, the driver retries the whole batch), and every
// shard answers the statements it already applied from its record of them.
func TestShardedRetryableBatchAppliedOnce(t *testing.T) {
	requireMemshard(t, "memshard's onPrimaryTransactionalWrite closes the connection after a statement")
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := shardedColl(t, cl, "w", "retry")
	// Shard 1 closes the connection after applying the first statement of its part.
	setFailPoint(t, c.direct(t, 1), bson.D{{Key: "configureFailPoint", Value: "onPrimaryTransactionalWrite"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: bson.D{{Key: "closeConnection", Value: true}}}})
	// Ordered: each shard gets many runs, whose statements only their ids tell apart.
	res, err := coll.InsertMany(ctx, kDocs(0, 90))
	if err != nil || len(res.InsertedIDs) != 90 {
		t.Fatalf("insert across a closed connection: %v", err)
	}
	all, perShard := c.ids(t, "w", "retry")
	if len(all) != 90 || len(perShard[1]) == 0 {
		t.Fatalf("%d documents (shard 1: %d), want 90 once each", len(all), len(perShard[1]))
	}
	// The same for updates: each $inc once. Shard 2's connection closes before it runs the
	// statements, four times, so the router's own retries fail and the driver retries the batch.
	setFailCommand(t, c.direct(t, 2), "update", bson.D{{Key: "times", Value: 4}, {Key: "closeConnection", Value: true}})
	setFailPoint(t, c.direct(t, 0), bson.D{{Key: "configureFailPoint", Value: "onPrimaryTransactionalWrite"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}}, {Key: "data", Value: bson.D{{Key: "closeConnection", Value: true}}}})
	var models []mongo.WriteModel
	for i := range 90 {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "k", Value: int32(i)}}).
			SetUpdate(bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}))
	}
	ures, err := coll.BulkWrite(ctx, models)
	if err != nil || ures.ModifiedCount != 90 {
		t.Fatalf("retried bulk: %+v %v", ures, err)
	}
	for i := range c.sets {
		for _, d := range c.docsOn(t, i, "w", "retry") {
			if n := d.Lookup("n").Int32(); n != 1 {
				t.Fatalf("document %v was incremented %d times", d.Lookup("_id"), n)
			}
		}
	}
}

// setFailPoint runs a configureFailPoint command on the member cl is connected to, and turns it
// off when the test ends.
func setFailPoint(t *testing.T, cl *mongo.Client, cmd bson.D) {
	t.Helper()
	if err := cl.Database("admin").RunCommand(ctxT(t), cmd).Err(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprint(cmd[0].Value)
	t.Cleanup(func() {
		_ = cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "configureFailPoint", Value: name}, {Key: "mode", Value: "off"}}).Err()
	})
}

// In a transaction, a write to a sharded collection that reaches one shard runs there (under
// the transaction's single-writer rule); one that reaches several is refused and the
// transaction aborted.
func TestShardedWritesInTransactions(t *testing.T) {
	c := startCluster(t, clusterOptions{shards: 3, members: 1})
	cl := c.client(t)
	ctx := ctxT(t)
	coll := shardedColl(t, cl, "w", "txn")
	if _, err := coll.InsertMany(ctx, kDocs(0, 30)); err != nil {
		t.Fatal(err)
	}
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	_, err = sess.WithTransaction(ctx, func(sctx context.Context) (any, error) {
		if _, err := coll.InsertOne(sctx, bson.D{{Key: "_id", Value: int32(100)}, {Key: "k", Value: int32(100)}}); err != nil {
			return nil, err
		}
		_, err := coll.UpdateOne(sctx, bson.D{{Key: "k", Value: int32(100)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "t", Value: 1}}}})
		return nil, err
	})
	if err != nil {
		t.Fatalf("a transaction writing one shard: %v", err)
	}
	if n := c.checkPlacement(t, "w", "txn", "k"); n != 31 {
		t.Fatalf("%d documents placed, want 31", n)
	}
	if err := sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	_, err = coll.UpdateMany(sctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "m", Value: 1}}}})
	var se mongo.ServerError
	if !errors.As(err, &se) || !se.HasErrorCode(263) {
		t.Fatalf("a transaction's multi-shard update: %v, want OperationNotSupportedInTransaction", err)
	}
	if err := sess.CommitTransaction(ctx); err == nil {
		t.Fatal("the transaction committed after its refused statement")
	}
	_ = sess.AbortTransaction(ctx)
	for i := range c.sets {
		for _, d := range c.docsOn(t, i, "w", "txn") {
			if _, err := d.LookupErr("m"); err == nil {
				t.Fatalf("document %v was updated by the refused statement", d)
			}
		}
	}
}
