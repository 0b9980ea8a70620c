// Package integration runs mongos-lite end to end: the official Go driver as the client, the
// router in process, in front of in-memory shard replica sets (memshard) or, when
// MONGOS_LITE_IT_SHARDS names them, real ones (external_test.go; docker-compose.yml starts some).
package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/internal/drivertest"
	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is shard replica sets with a router in front.
type cluster struct {
	sets   []*replicaSet
	shards []*shards.Shard
	router *router.Server
	uri    string
	// writeAll, on a real cluster, is the w that reaches every member: a test that reads from a
	// secondary right after a write must find it there, as it does on memshard (shared store).
	writeAll int
}

type clusterOptions struct {
	shards, members  int // 0: 2 shards of 3 members (on a real cluster: the sets it has)
	selectionTimeout time.Duration
	configure        func(*router.Config)
	// memshard only: options of every set, and how the router authenticates to them
	setOptions []memshard.Option
	shardAuth  *shards.Credential
	// twinShard adds a second shard over the first set (memshard only): two shards whose
	// members share signing keys, for tests of cluster-time gossip between shards.
	twinShard bool
}

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if o.selectionTimeout == 0 {
		o.selectionTimeout = 5 * time.Second
	}
	ext := externalSets(t)
	if ext != nil {
		// Before c.close is registered, so the cluster is closed before the next test may reset it.
		takeRealClusterTurn(t)
	}
	c := &cluster{}
	t.Cleanup(c.close)
	if ext != nil {
		c.useRealSets(t, ext, o)
	} else {
		c.startMemshards(t, o)
	}
	cred := shardCredential(t) // nil on memshard
	if ext == nil {
		cred = o.shardAuth
	}
	for _, rs := range c.sets {
		sh, err := shards.Open(shards.Config{
			Name: rs.shard, SetName: rs.Name(), Hosts: rs.Hosts(), Auth: cred,
			ServerSelectionTimeout: o.selectionTimeout,
			ConnectTimeout:         2 * time.Second,
			HeartbeatInterval:      500 * time.Millisecond,
			Logger:                 zerolog.Nop(),
		})
		if err != nil {
			t.Fatal(err)
		}
		c.shards = append(c.shards, sh)
	}
	if o.twinShard {
		twin, err := shards.Open(shards.Config{Name: c.sets[0].shard + "b", SetName: c.sets[0].Name(), Hosts: c.sets[0].Hosts(),
			Auth: cred, ServerSelectionTimeout: o.selectionTimeout, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		c.shards = append(c.shards, twin)
	}
	c.router, c.uri = c.serveRouter(t, o.configure)
	return c
}

// serveRouter starts a router over the cluster's shards, configured by configure (may be nil),
// and returns it with its URI. The test's cleanup closes it before the shards close.
func (c *cluster) serveRouter(t *testing.T, configure func(*router.Config)) (*router.Server, string) {
	t.Helper()
	cfg := router.Config{Logger: zerolog.Nop()}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := router.New(cfg, c.shards)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
		<-served
	})
	return srv, "mongodb://" + srv.Addr() + "/"
}

func (c *cluster) startMemshards(t *testing.T, o clusterOptions) {
	t.Helper()
	if o.shards == 0 {
		o.shards = 2
	}
	if o.members == 0 {
		o.members = 3
	}
	for i := 0; i < o.shards; i++ {
		name := fmt.Sprintf("rs%d", i)
		rs, err := memshard.StartReplicaSet(name, o.members, o.setOptions...)
		if err != nil {
			t.Fatal(err)
		}
		c.sets = append(c.sets, &replicaSet{t: t, mem: rs, shard: name})
	}
}

func (c *cluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.router != nil {
		_ = c.router.Close(ctx)
	}
	for _, s := range c.shards {
		_ = s.Close(ctx)
	}
	for _, rs := range c.sets {
		if rs.mem != nil {
			_ = rs.mem.Close()
		}
	}
}

// client connects the official driver to the router.
func (c *cluster) client(t *testing.T, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	if c.writeAll > 0 {
		// First, so a test's own write concern still wins.
		opts = append([]*options.ClientOptions{options.Client().SetWriteConcern(&writeconcern.WriteConcern{W: c.writeAll})}, opts...)
	}
	return connect(t, c.uri, opts...)
}

// countOn counts the documents of db.coll on shard i directly.
func (c *cluster) countOn(t *testing.T, i int, db, coll string) int64 {
	t.Helper()
	var n int64
	c.onShard(t, i, func(cl *mongo.Client) {
		var err error
		if n, err = cl.Database(db).Collection(coll).CountDocuments(ctxT(t), bson.D{}); err != nil {
			t.Fatal(err)
		}
	})
	return n
}

// onShard runs fn with a connection straight to shard i, closed at once so that later faults on
// that shard cannot stall the test's cleanup.
func (c *cluster) onShard(t *testing.T, i int, fn func(cl *mongo.Client)) {
	t.Helper()
	opts := append([]*options.ClientOptions{options.Client().ApplyURI(c.sets[i].URI()).SetServerSelectionTimeout(30 * time.Second).
		SetServerMonitoringMode(options.ServerMonitoringModePoll)}, shardAuth(t)...)
	cl, err := mongo.Connect(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	fn(cl)
}

// connect gives server selection 30 s: a passing test never waits for it, and CI machines run
// every package's tests at once on two cores under the race detector.
func connect(t *testing.T, uri string, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	return drivertest.Connect(t, append([]*options.ClientOptions{options.Client().ApplyURI(uri).SetServerSelectionTimeout(30 * time.Second)}, opts...)...)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
