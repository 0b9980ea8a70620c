package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// TestWithRouter wires the metrics into a real router in front of a memshard set, as the
// command line does, and checks that commands, pools and gauges show up.
func TestWithRouter(t *testing.T) {
	m := New()
	rs, err := memshard.StartReplicaSet("rs0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	sh, err := shards.Open(shards.Config{Name: "rs0", SetName: "rs0", Hosts: rs.Hosts(), Logger: zerolog.Nop(),
		ServerSelectionTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close(context.Background())
	srv, err := router.New(router.Config{Logger: zerolog.Nop(), Observer: m}, []*shards.Shard{sh})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() {
		_ = srv.Close(context.Background())
		<-served
	}()
	m.Watch(srv)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + srv.Addr() + "/").SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(context.Background())
	coll := cl.Database("metrics").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err == nil {
		t.Fatal("duplicate _id accepted")
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Err(); err != nil {
		t.Fatal(err)
	}
	sess, err := cl.StartSession()
	if err != nil {
		t.Fatal(err)
	}
	defer sess.EndSession(ctx)
	if _, err := sess.WithTransaction(ctx, func(sctx context.Context) (any, error) {
		return coll.InsertOne(sctx, bson.D{{Key: "_id", Value: 2}})
	}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		labels  map[string]string
		atLeast float64
	}{
		{"mongos_lite_commands_total", map[string]string{"command": "insert"}, 2},
		{"mongos_lite_commands_total", map[string]string{"command": "find"}, 1},
		{"mongos_lite_client_connections_opened_total", nil, 1},
		{"mongos_lite_client_connections", nil, 1},
		{"mongos_lite_sessions_active", nil, 1},
		{"mongos_lite_transactions_committed_total", nil, 1},
		{"mongos_lite_transaction_participants_total", map[string]string{"stage": "contacted"}, 1},
		{"mongos_lite_transaction_commits_total", map[string]string{"type": "singleShard", "result": "successful"}, 1},
		{"mongos_lite_shard_pool_checkouts_total", map[string]string{"shard": "rs0", "host": rs.Hosts()[0]}, 3},
		{"mongos_lite_shard_pool_connections", map[string]string{"shard": "rs0", "host": rs.Hosts()[0]}, 1},
	} {
		if got := counter(t, m.reg, tc.name, tc.labels); got < tc.atLeast {
			t.Errorf("%s%v = %v, want at least %v", tc.name, tc.labels, got, tc.atLeast)
		}
	}
	// A duplicate key is a write error inside ok: 1, as on mongod: not a command error.
	if got := counter(t, m.reg, "mongos_lite_command_errors_total", map[string]string{"command": "insert"}); got != 0 {
		t.Errorf("insert command errors %v, want 0 (write errors are not command errors)", got)
	}
	if n, _ := histogram(t, m.reg, "mongos_lite_command_duration_seconds", map[string]string{"command": "find", "part": "shard"}); n < 1 {
		t.Error("no shard round trip recorded for find")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !m.sources.ready() {
		if time.Now().After(deadline) {
			t.Fatal("router never ready with its shard's primary up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
