package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"

	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// Transactions over several shards (docs/architecture.md, "Transactions"): they read on any
// shards and write on one, as mongos commits without two-phase commit.

// spreadDatabases creates n databases through the router, each on a shard of its own (a new
// database goes to the shard with the fewest), and returns their names and shards.
func spreadDatabases(t *testing.T, c *cluster, cl *mongo.Client, n int) (dbs []string, on []int) {
	t.Helper()
	seen := map[int]bool{}
	for i := range n {
		db := fmt.Sprintf("mtx%d", i)
		if _, err := cl.Database(db).Collection("c").InsertOne(ctxT(t), bson.D{{Key: "_id", Value: "seed"}, {Key: "v", Value: 1}}); err != nil {
			t.Fatal(err)
		}
		shard := shardOf(t, c, db)
		if seen[shard] {
			t.Fatalf("%s landed on shard %d with another database", db, shard)
		}
		seen[shard] = true
		dbs, on = append(dbs, db), append(on, shard)
	}
	return dbs, on
}

// openTxnsOn counts the transactions of session id that shard i's primary holds open, as its
// $currentOp shows them; opts log in to the shard.
func openTxnsOn(t *testing.T, c *cluster, i int, id bson.Binary, opts ...*options.ClientOptions) int {
	t.Helper()
	shard := connect(t, c.sets[i].URI(), append(shardAuth(t), opts...)...)
	return aggregateCount(t, shard.Database("admin"), bson.A{
		bson.D{{Key: "$currentOp", Value: bson.D{{Key: "idleSessions", Value: true}, {Key: "allUsers", Value: true}}}},
		bson.D{{Key: "$match", Value: bson.D{{Key: "lsid.id", Value: id}, {Key: "transaction", Value: bson.D{{Key: "$exists", Value: true}}}}}},
	})
}

// txnStatus is the router's serverStatus.transactions.
func txnStatus(t *testing.T, cl *mongo.Client) bson.Raw {
	t.Helper()
	var reply bson.Raw
	if err := cl.Database("admin").RunCommand(ctxT(t), bson.D{{Key: "serverStatus", Value: 1}}).Decode(&reply); err != nil {
		t.Fatal(err)
	}
	return reply.Lookup("transactions").Document()
}

// counter reads a long of serverStatus.transactions by its dotted path.
func counter(doc bson.Raw, path string) int64 {
	v, ok := doc.Lookup(strings.Split(path, ".")...).AsInt64OK()
	if !ok {
		return -1
	}
	return v
}

// wantCounters checks how far counters of serverStatus.transactions moved since before.
func wantCounters(t *testing.T, before, after bson.Raw, moves map[string]int64) {
	t.Helper()
	for path, want := range moves {
		if got := counter(after, path) - max(counter(before, path), 0); got != want {
			t.Errorf("transactions.%s moved by %d, want %d (now %s)", path, got, want, after)
		}
	}
}

// replies records the replies the driver got, by command name.
type replies struct {
	mu  sync.Mutex
	got map[string][]bson.Raw
}

func (r *replies) monitor() *options.ClientOptions {
	return options.Client().SetMonitor(&event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.got == nil {
			r.got = map[string][]bson.Raw{}
		}
		r.got[e.CommandName] = append(r.got[e.CommandName], bytes.Clone(e.Reply))
	}})
}

func (r *replies) last(name string) bson.Raw {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := r.got[name]
	if len(got) == 0 {
		return nil
	}
	return got[len(got)-1]
}

// received is what the shards' members received of transactions, in order (memshard's command
// log).
type received struct {
	mu   sync.Mutex
	cmds []memshard.Received
}

func (r *received) record(m memshard.Received) {
	if _, err := m.Body.LookupErr("autocommit"); err != nil {
		return
	}
	m.Body = bytes.Clone(m.Body)
	r.mu.Lock()
	r.cmds = append(r.cmds, m)
	r.mu.Unlock()
}

// bySet is what each set received, and every command with its set in the order received.
func (r *received) bySet(c *cluster) (per map[int][]bson.Raw, order []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	per = map[int][]bson.Raw{}
	for _, m := range r.cmds {
		for i, rs := range c.sets {
			for _, h := range rs.Hosts() {
				if h == m.Member {
					per[i] = append(per[i], m.Body)
					order = append(order, i)
				}
			}
		}
	}
	return per, order
}

// TestMultiShardTransaction: a transaction reads on one shard and writes on another. Each shard
// joins on the first statement that reaches it, with startTransaction and the transaction's
// readConcern, under the same lsid (id and uid) and txnNumber; later statements carry neither.
// The reader commits first, the writer last; the recovery token names the writer once it wrote;
// serverStatus counts the participants.
func TestMultiShardTransaction(t *testing.T) {
	requireMemshard(t, "reads what the shards received from memshard's command log")
	var log received
	c := startCluster(t, clusterOptions{setOptions: []memshard.Option{memshard.WithCommandLog(log.record)}})
	var seen replies
	cl := c.client(t, seen.monitor())
	ctx := ctxT(t)
	dbs, on := spreadDatabases(t, c, cl, 2)
	reader, writer := cl.Database(dbs[0]).Collection("c"), cl.Database(dbs[1]).Collection("c")
	before := txnStatus(t, cl)

	sess := startSession(t, cl)
	if err := sess.StartTransaction(options.Transaction().SetReadConcern(readconcern.Majority())); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if err := reader.FindOne(sctx, bson.D{}).Err(); err != nil {
		t.Fatal(err)
	}
	if token := seen.last("find").Lookup("recoveryToken"); token.Type != bson.TypeEmbeddedDocument || len(token.Document()) != 5 {
		t.Fatalf("recoveryToken before any write: %v, want {}", token)
	}
	if _, err := writer.InsertOne(sctx, bson.D{{Key: "_id", Value: "w"}}); err != nil {
		t.Fatal(err)
	}
	writerName := c.sets[on[1]].shard
	if got := seen.last("insert").Lookup("recoveryToken", "recoveryShardId").StringValue(); got != writerName {
		t.Fatalf("recoveryToken after the write names %q, want the writer %s", got, writerName)
	}
	if _, err := writer.UpdateOne(sctx, bson.D{{Key: "_id", Value: "w"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if n, err := reader.CountDocuments(sctx, bson.D{}); err != nil || n != 1 {
		t.Fatalf("count on the reader: %d, %v", n, err)
	}
	id := sessionUUID(t, sess)
	for _, shard := range on {
		if n := openTxnsOn(t, c, shard, id); n != 1 {
			t.Fatalf("shard %d holds %d open transactions of the session, want 1", shard, n)
		}
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if err := writer.FindOne(ctx, bson.D{{Key: "_id", Value: "w"}, {Key: "x", Value: 1}}).Err(); err != nil {
		t.Fatalf("the committed write: %v", err)
	}

	per, order := log.bySet(c)
	for i, shard := range on {
		cmds := per[shard]
		if len(cmds) < 2 {
			t.Fatalf("shard %d received %d transaction commands", shard, len(cmds))
		}
		for j, cmd := range cmds {
			_, lsidID := cmd.Lookup("lsid", "id").Binary()
			_, lsidUID := cmd.Lookup("lsid", "uid").Binary()
			if !bytes.Equal(lsidID, id.Data) || !bytes.Equal(lsidUID, noAuthUID().Data) ||
				cmd.Lookup("txnNumber").Int64() != cmds[0].Lookup("txnNumber").Int64() || cmd.Lookup("autocommit").Boolean() {
				t.Fatalf("shard %d command %d: session fields %s", shard, j, cmd)
			}
			start, rc := cmd.Lookup("startTransaction"), cmd.Lookup("readConcern")
			switch {
			case j == 0 && (!start.Boolean() || rc.Document().Lookup("level").StringValue() != "majority"):
				t.Fatalf("shard %d joined with %s, want startTransaction and readConcern majority", shard, cmd)
			case j > 0 && (start.Type != 0 || rc.Type != 0):
				t.Fatalf("shard %d, a later statement carried startTransaction or readConcern: %s", shard, cmd)
			}
		}
		if last := cmds[len(cmds)-1]; last.Index(0).Key() != "commitTransaction" {
			t.Fatalf("shard %d (participant %d) last received %s, want commitTransaction", shard, i, last)
		}
	}
	if per[on[0]][0].Lookup("txnNumber").Int64() != per[on[1]][0].Lookup("txnNumber").Int64() {
		t.Fatal("the participants were given different txnNumbers")
	}
	if last := order[len(order)-1]; last != on[1] {
		t.Fatalf("the last commit went to shard %d, want the writer %d", last, on[1])
	}
	wantCounters(t, before, txnStatus(t, cl), map[string]int64{
		"totalStarted": 1, "totalCommitted": 1, "totalContactedParticipants": 2, "totalParticipantsAtCommit": 2,
		"commitTypes.singleWriteShard.initiated": 1, "commitTypes.singleWriteShard.successful": 1, "currentOpen": 0,
	})
}

// txnFixture is a cluster with a database on each of two shards, and a session whose
// transaction has read the first one (dbs[0], on shard on[0]).
type txnFixture struct {
	c       *cluster
	cl      *mongo.Client
	ctx     context.Context
	dbs     []string
	on      []int
	sess    *mongo.Session
	sctx    context.Context
	before  bson.Raw // serverStatus.transactions before the transaction
	session bson.Binary
}

func startTwoShardTxn(t *testing.T, o clusterOptions, clientOpts ...*options.ClientOptions) *txnFixture {
	t.Helper()
	f := &txnFixture{c: startCluster(t, o), ctx: ctxT(t)}
	f.cl = f.c.client(t, clientOpts...)
	f.dbs, f.on = spreadDatabases(t, f.c, f.cl, 2)
	f.before = txnStatus(t, f.cl)
	f.sess = startSession(t, f.cl)
	if err := f.sess.StartTransaction(); err != nil {
		t.Fatal(err)
	}
	f.sctx = mongo.NewSessionContext(f.ctx, f.sess)
	f.session = sessionUUID(t, f.sess)
	if err := f.coll(0).FindOne(f.sctx, bson.D{}).Err(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *txnFixture) coll(i int) *mongo.Collection { return f.cl.Database(f.dbs[i]).Collection("c") }

// wantOpen checks how many of the session's transactions each shard holds open.
func (f *txnFixture) wantOpen(t *testing.T, n int, why string) {
	t.Helper()
	for _, shard := range f.on {
		if got := openTxnsOn(t, f.c, shard, f.session); got != n {
			t.Fatalf("%s: shard %d holds %d open transactions of the session, want %d", why, shard, got, n)
		}
	}
}

// TestSecondWriterAbortsEverywhere: a statement that would write on a second shard is refused
// with a clear error, and the transaction is aborted on every participant.
func TestSecondWriterAbortsEverywhere(t *testing.T) {
	f := startTwoShardTxn(t, clusterOptions{})
	if _, err := f.coll(0).InsertOne(f.sctx, bson.D{{Key: "_id", Value: "first-write"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.coll(1).FindOne(f.sctx, bson.D{}).Err(); err != nil {
		t.Fatalf("a read on the second shard: %v", err)
	}
	_, err := f.coll(1).InsertOne(f.sctx, bson.D{{Key: "_id", Value: "second-write"}})
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 263 || ce.HasErrorLabel("TransientTransactionError") {
		t.Fatalf("second writer: %v, want OperationNotSupportedInTransaction without TransientTransactionError", err)
	}
	for _, want := range []string{"two-phase commit", "plain replica sets", "prepareTransaction", f.c.sets[f.on[0]].shard, f.c.sets[f.on[1]].shard} {
		if !strings.Contains(ce.Message, want) {
			t.Errorf("message %q does not mention %q", ce.Message, want)
		}
	}
	f.wantOpen(t, 0, "after the refusal")
	if err := f.sess.CommitTransaction(f.ctx); !errors.As(err, &ce) || ce.Code != 251 {
		t.Fatalf("commit after the refusal: %v, want NoSuchTransaction", err)
	}
	for i := range f.dbs {
		if n, _ := f.coll(i).CountDocuments(f.ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$ne", Value: "seed"}}}}); n != 0 {
			t.Fatalf("database %d holds %d documents of the aborted transaction", i, n)
		}
	}
	wantCounters(t, f.before, txnStatus(t, f.cl), map[string]int64{
		"totalAborted": 1, "abortCause.OperationNotSupportedInTransaction": 1, "currentOpen": 0,
	})
}

// TestReaderCommitFailureAbortsWriter: the readers commit before the writer, and a reader that
// fails to commit aborts the transaction everywhere: the writer never commits.
func TestReaderCommitFailureAbortsWriter(t *testing.T) {
	f := startTwoShardTxn(t, clusterOptions{})
	if _, err := f.coll(1).InsertOne(f.sctx, bson.D{{Key: "_id", Value: "never"}}); err != nil {
		t.Fatal(err)
	}
	reader := connectShard(t, f.c.sets[f.on[0]].URI())
	if err := reader.Database("admin").RunCommand(f.ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: bson.D{{Key: "times", Value: 1}}},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"commitTransaction"}}, {Key: "errorCode", Value: 50}}}}).Err(); err != nil {
		t.Fatal(err)
	}
	err := f.sess.CommitTransaction(f.ctx)
	var ce mongo.CommandError
	if !errors.As(err, &ce) || ce.Code != 50 {
		t.Fatalf("commit with a failing reader: %v, want the reader's MaxTimeMSExpired", err)
	}
	f.wantOpen(t, 0, "after the reader failed to commit")
	if n, _ := f.coll(1).CountDocuments(f.ctx, bson.D{{Key: "_id", Value: "never"}}); n != 0 {
		t.Fatal("the writer committed although a reader failed to")
	}
}

// TestReadOnlyTransactionOnTwoShards: a transaction that only read commits on every participant,
// and has no recovery shard.
func TestReadOnlyTransactionOnTwoShards(t *testing.T) {
	var seen replies
	f := startTwoShardTxn(t, clusterOptions{}, seen.monitor())
	if err := f.coll(1).FindOne(f.sctx, bson.D{}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.sess.CommitTransaction(f.ctx); err != nil {
		t.Fatal(err)
	}
	if token := seen.last("commitTransaction").Lookup("recoveryToken"); len(token.Document()) != 5 {
		t.Fatalf("a read-only transaction's recoveryToken %v, want {}", token)
	}
	f.wantOpen(t, 0, "after the commit")
	wantCounters(t, f.before, txnStatus(t, f.cl), map[string]int64{
		"commitTypes.readOnly.initiated": 1, "commitTypes.readOnly.successful": 1, "totalParticipantsAtCommit": 2,
	})
}

// TestAbortReachesEveryParticipant: abortTransaction goes to every shard the transaction ran on.
func TestAbortReachesEveryParticipant(t *testing.T) {
	f := startTwoShardTxn(t, clusterOptions{})
	if _, err := f.coll(1).InsertOne(f.sctx, bson.D{{Key: "_id", Value: "aborted"}}); err != nil {
		t.Fatal(err)
	}
	f.wantOpen(t, 1, "before the abort")
	if err := f.sess.AbortTransaction(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.wantOpen(t, 0, "after the abort")
	if n, _ := f.coll(1).CountDocuments(f.ctx, bson.D{{Key: "_id", Value: "aborted"}}); n != 0 {
		t.Fatal("the aborted insert is visible")
	}
	wantCounters(t, f.before, txnStatus(t, f.cl), map[string]int64{"totalAborted": 1, "abortCause.abort": 1})
}

// TestFailedStatementAbortsEveryParticipant: a statement that fails on one shard aborts the
// transaction on the others too, as mongos aborts after a failed command.
func TestFailedStatementAbortsEveryParticipant(t *testing.T) {
	f := startTwoShardTxn(t, clusterOptions{})
	if _, err := f.coll(1).InsertOne(f.sctx, bson.D{{Key: "_id", Value: "seed"}}); !mongo.IsDuplicateKeyError(err) {
		t.Fatalf("duplicate insert: %v", err)
	}
	f.wantOpen(t, 0, "after a statement failed on one shard")
	var ce mongo.CommandError
	if err := f.sess.CommitTransaction(f.ctx); !errors.As(err, &ce) || ce.Code != 251 {
		t.Fatalf("commit after a failed statement: %v, want NoSuchTransaction", err)
	}
}

// TestCommitRetriesAreIdempotent: retrying the commit of a transaction that read on one shard
// and wrote on another answers the writer's decision again, as mongos answers a retried
// single-write-shard commit, and commits nothing twice.
func TestCommitRetriesAreIdempotent(t *testing.T) {
	f := startTwoShardTxn(t, clusterOptions{})
	if _, err := f.coll(1).UpdateOne(f.sctx, bson.D{{Key: "_id", Value: "seed"}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "v", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	for attempt := range 3 {
		if err := f.sess.CommitTransaction(f.ctx); err != nil {
			t.Fatalf("commit attempt %d: %v", attempt, err)
		}
	}
	var doc struct{ V int32 }
	if err := f.coll(1).FindOne(f.ctx, bson.D{{Key: "_id", Value: "seed"}}).Decode(&doc); err != nil || doc.V != 2 {
		t.Fatalf("v = %d (%v) after three commits of one increment, want 2", doc.V, err)
	}
	wantCounters(t, f.before, txnStatus(t, f.cl), map[string]int64{
		"totalCommitted": 1, "commitTypes.singleWriteShard.initiated": 1, "commitTypes.singleWriteShard.successful": 1,
	})
}

// rawSession runs commands of one logical session by hand, on whichever router it is given: a
// driver binds a session to one client, and recovery needs the same session through two.
type rawSession struct {
	t  *testing.T
	id bson.Binary
}

func newRawSession(t *testing.T) *rawSession {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version 4 UUID
	return &rawSession{t: t, id: bson.Binary{Subtype: 4, Data: id}}
}

// run sends cmd on conn with the session's lsid, txnNumber and autocommit: false.
func (s *rawSession) run(conn *rawConn, txn int64, cmd bson.D) bson.Raw {
	s.t.Helper()
	cmd = append(cmd, bson.E{Key: "lsid", Value: bson.D{{Key: "id", Value: s.id}}}, bson.E{Key: "txnNumber", Value: txn},
		bson.E{Key: "autocommit", Value: false})
	conn.send(msg(s.t, cmd))
	return bson.Raw(conn.reply())
}

func wantReplyCode(t *testing.T, reply bson.Raw, code int32, label string) {
	t.Helper()
	got, _ := reply.Lookup("code").AsInt64OK()
	labels := reply.Lookup("errorLabels").String()
	if int32(got) != code || label != "" && !strings.Contains(labels, label) {
		t.Fatalf("reply %s, want code %d with label %q", reply, code, label)
	}
}

// TestCommitRecoveryThroughAnotherRouter: a commit retried through a router that did not run the
// transaction learns the decision from the shard the recovery token names: committed when it
// committed; otherwise the transaction is aborted there and the client told to retry it.
func TestCommitRecoveryThroughAnotherRouter(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	other, _ := c.serveRouter(t, nil)
	cl := c.client(t)
	dbs, _ := spreadDatabases(t, c, cl, 2)
	a, b := dialRaw(t, c), dialRawAddr(t, other.Addr())
	sess := newRawSession(t)
	// find on the first database, insert {_id: doc} on the second; the insert's recovery token.
	readThenWrite := func(txn int64, doc string) bson.Raw {
		t.Helper()
		mustOK(t, sess.run(a, txn, bson.D{{Key: "find", Value: "c"}, {Key: "startTransaction", Value: true}, {Key: "$db", Value: dbs[0]}}))
		reply := mustOK(t, sess.run(a, txn, bson.D{{Key: "insert", Value: "c"},
			{Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: doc}}}}, {Key: "$db", Value: dbs[1]}}))
		return reply.Lookup("recoveryToken").Document()
	}
	commit := func(conn *rawConn, txn int64, token bson.Raw) bson.Raw {
		cmd := bson.D{{Key: "commitTransaction", Value: 1}, {Key: "$db", Value: "admin"}}
		if token != nil {
			cmd = append(cmd, bson.E{Key: "recoveryToken", Value: token})
		}
		return sess.run(conn, txn, cmd)
	}
	count := func(doc string) int64 {
		n, err := cl.Database(dbs[1]).Collection("c").CountDocuments(ctxT(t), bson.D{{Key: "_id", Value: doc}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Committed through the first router, its reply lost: the other router finds it committed.
	token := readThenWrite(1, "committed")
	mustOK(t, commit(a, 1, token))
	if reply := mustOK(t, commit(b, 1, token)); reply.Lookup("recoveryToken", "recoveryShardId").StringValue() != token.Lookup("recoveryShardId").StringValue() {
		t.Fatalf("recovered commit %s", reply)
	}
	if n := count("committed"); n != 1 {
		t.Fatalf("%d documents after a recovered commit, want 1", n)
	}

	// Never committed: recovery aborts it for good, and the first router cannot commit it after.
	token = readThenWrite(2, "lost")
	wantReplyCode(t, commit(b, 2, token), 251, "TransientTransactionError")
	wantReplyCode(t, commit(a, 2, token), 251, "")
	if n := count("lost"); n != 0 {
		t.Fatal("a transaction whose commit was refused by recovery committed")
	}

	// A transaction that only read has nothing to recover; without a token there is no telling.
	mustOK(t, sess.run(a, 3, bson.D{{Key: "find", Value: "c"}, {Key: "startTransaction", Value: true}, {Key: "$db", Value: dbs[0]}}))
	wantReplyCode(t, commit(b, 3, bson.Raw{5, 0, 0, 0, 0}), 251, "TransientTransactionError")
	wantReplyCode(t, commit(b, 3, nil), 50940, "")
	mustOK(t, commit(a, 3, nil))
}

func mustOK(t *testing.T, reply bson.Raw) bson.Raw {
	t.Helper()
	if ok, _ := reply.Lookup("ok").AsFloat64OK(); ok != 1 {
		t.Fatalf("command failed: %s", reply)
	}
	return reply
}

// TestSnapshotAcrossShards: a snapshot transaction reads every shard at the one atClusterTime the
// router chose at its first statement, so a shard that joins later does not see what was
// written meanwhile.
func TestSnapshotAcrossShards(t *testing.T) {
	var log received
	c := startCluster(t, clusterOptions{setOptions: []memshard.Option{memshard.WithCommandLog(log.record)}})
	cl := c.client(t)
	ctx := ctxT(t)
	dbs, on := spreadDatabases(t, c, cl, 2)
	snapshot := options.Transaction().SetReadConcern(readconcern.Snapshot())
	readV := func(sctx context.Context, db string) int32 {
		t.Helper()
		var doc struct{ V int32 }
		if err := cl.Database(db).Collection("c").FindOne(sctx, bson.D{{Key: "_id", Value: "seed"}}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.V
	}
	// memshard keeps old versions only while something may read them; a snapshot transaction
	// keeps them for minSnapshotHistoryWindowInSeconds, as mongod always does. Until then a
	// shard written to after the router's clock (its own metadata writes) may answer
	// SnapshotTooOld, which WithTransaction retries at a later time.
	_, err := startSession(t, cl).WithTransaction(ctx, func(sctx context.Context) (any, error) {
		for _, db := range dbs {
			if err := cl.Database(db).Collection("c").FindOne(sctx, bson.D{}).Err(); err != nil {
				return nil, err
			}
		}
		return nil, nil
	}, snapshot)
	if err != nil {
		t.Fatal(err)
	}

	sess := startSession(t, cl)
	if err := sess.StartTransaction(snapshot); err != nil {
		t.Fatal(err)
	}
	sctx := mongo.NewSessionContext(ctx, sess)
	if v := readV(sctx, dbs[0]); v != 1 {
		t.Fatalf("first shard: v = %d", v)
	}
	if _, err := cl.Database(dbs[1]).Collection("c").UpdateOne(ctx, bson.D{{Key: "_id", Value: "seed"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 2}}}}); err != nil {
		t.Fatal(err)
	}
	if v := readV(sctx, dbs[1]); v != 1 {
		t.Fatalf("the second shard, joining after a write, reads v = %d: not the transaction's snapshot", v)
	}
	if err := sess.CommitTransaction(ctx); err != nil {
		t.Fatal(err)
	}
	if c.sets[0].mem == nil {
		return
	}
	per, _ := log.bySet(c)
	var times []bson.RawValue
	for _, shard := range on {
		cmds := per[shard]
		at := cmds[len(cmds)-2].Lookup("readConcern", "atClusterTime") // the last statement's join
		if at.Type != bson.TypeTimestamp || cmds[len(cmds)-2].Lookup("readConcern", "afterClusterTime").Type != 0 {
			t.Fatalf("shard %d joined with %s, want readConcern {level: snapshot, atClusterTime}", shard, cmds[len(cmds)-2])
		}
		times = append(times, at)
	}
	if !times[0].Equal(times[1]) {
		t.Fatalf("the shards read at %v and %v", times[0], times[1])
	}
}

// TestSnapshotAcrossShardsNeedsClocksThatFollow: with a shard user that may not advance the
// shards' cluster time, a snapshot transaction stays on its first shard: a second one is refused
// with the reason, and the transaction is aborted. A shard user that holds advanceClusterTime is
// asked and found to be enough. (Without it, both shards of the cluster are one memshard set: a
// user that cannot advance clocks cannot gossip one set's signed time to another at all.)
func TestSnapshotAcrossShardsNeedsClocksThatFollow(t *testing.T) {
	requireMemshard(t, "runs memshard with users of its own")
	for _, tc := range []struct {
		name    string
		actions []string
		refused bool
	}{
		{"impersonate only", []string{"impersonate"}, true},
		{"advanceClusterTime", []string{"impersonate", "advanceClusterTime"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sets := 2
			if tc.refused {
				sets = 1
			}
			c := startCluster(t, clusterOptions{shards: sets, members: 1, twinShard: tc.refused,
				setOptions: []memshard.Option{memshard.WithUsers(shardUser(t, tc.actions...))}, shardAuth: &shardUserCred})
			cl := c.client(t)
			ctx := ctxT(t)
			var dbs []string
			for i := range 2 {
				db := fmt.Sprintf("snap%d", i)
				if _, err := cl.Database(db).Collection("c").InsertOne(ctx, bson.D{{Key: "v", Value: i}}); err != nil {
					t.Fatal(err)
				}
				dbs = append(dbs, db)
			}
			sess := startSession(t, cl)
			if err := sess.StartTransaction(options.Transaction().SetReadConcern(readconcern.Snapshot())); err != nil {
				t.Fatal(err)
			}
			sctx := mongo.NewSessionContext(ctx, sess)
			if err := cl.Database(dbs[0]).Collection("c").FindOne(sctx, bson.D{}).Err(); err != nil {
				t.Fatal(err)
			}
			err := cl.Database(dbs[1]).Collection("c").FindOne(sctx, bson.D{}).Err()
			if !tc.refused {
				if err != nil {
					t.Fatalf("second shard with a user that may advance the clock: %v", err)
				}
				if err := sess.CommitTransaction(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce mongo.CommandError
			if !errors.As(err, &ce) || ce.Code != 263 || !strings.Contains(ce.Message, "atClusterTime") ||
				!strings.Contains(ce.Message, "advanceClusterTime") || !strings.Contains(ce.Message, "router@admin") {
				t.Fatalf("second shard of a snapshot: %v, want OperationNotSupportedInTransaction naming the user and why", err)
			}
			if n := openTxnsOn(t, c, 0, sessionUUID(t, sess), options.Client().SetAuth(options.Credential{
				Username: shardUserCred.Username, Password: shardUserCred.Password})); n != 0 {
				t.Fatal("the first shard still holds the refused transaction")
			}
		})
	}
}

// shardUserCred is the router's user on shards that shardUser configures.
var shardUserCred = shards.Credential{Username: "router", Password: "router-pw", Source: "admin"}

// shardUser is a users file for memshard with the router's user: root, and the cluster actions
// given (impersonate, so that the shards take the clients' uids).
func shardUser(t *testing.T, actions ...string) *auth.Users {
	t.Helper()
	creds, err := auth.NewCredentials(shardUserCred.Username, shardUserCred.Password)
	if err != nil {
		t.Fatal(err)
	}
	data, err := yaml.Marshal(auth.File{
		Roles: []auth.RoleDef{{Role: "router", DB: "admin",
			Privileges: []auth.PrivilegeSpec{{Resource: auth.ResourceSpec{Cluster: true}, Actions: actions}}}},
		Users: []auth.UserEntry{{User: shardUserCred.Username, DB: "admin", Credentials: creds,
			Roles: []auth.RoleRef{{Role: "root", DB: "admin"}, {Role: "router", DB: "admin"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.ParseUsers(data)
	if err != nil {
		t.Fatal(err)
	}
	return users
}

// TestSessionCleanupAbortsEveryParticipant: killing a session, or ending it (at the router's next
// session refresh, as its cursors close), aborts its transaction on every shard it ran on.
// Reaping an idle session goes the same way (sessioncache's TestTxnEndsWithItsSession).
func TestSessionCleanupAbortsEveryParticipant(t *testing.T) {
	for _, name := range []string{"killSessions", "endSessions"} {
		t.Run(name, func(t *testing.T) {
			f := startTwoShardTxn(t, clusterOptions{configure: func(cfg *router.Config) { cfg.SessionRefresh = 50 * time.Millisecond }})
			if _, err := f.coll(1).InsertOne(f.sctx, bson.D{{Key: "_id", Value: "doomed"}}); err != nil {
				t.Fatal(err)
			}
			f.wantOpen(t, 1, "before "+name)
			cmd := bson.D{{Key: name, Value: bson.A{bson.D{{Key: "id", Value: f.session}}}}}
			if err := f.c.client(t).Database("admin").RunCommand(f.ctx, cmd).Err(); err != nil {
				t.Fatal(err)
			}
			for _, shard := range f.on {
				for openTxnsOn(t, f.c, shard, f.session) != 0 {
					if f.ctx.Err() != nil {
						t.Fatalf("shard %d still holds the transaction after %s", shard, name)
					}
					time.Sleep(20 * time.Millisecond) // the next refresh ends it
				}
			}
			if n, _ := f.coll(1).CountDocuments(f.ctx, bson.D{{Key: "_id", Value: "doomed"}}); n != 0 {
				t.Fatal("the transaction's insert is visible")
			}
			wantCounters(t, f.before, txnStatus(t, f.cl), map[string]int64{"totalAborted": 1, "abortCause.Interrupted": 1, "currentOpen": 0})
		})
	}
}
