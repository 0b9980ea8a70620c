package integration

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
)

// The config database as mongosh's sh.status() reads it, read with the driver (docs/commands.md,
// "The config database").

func findAll(t *testing.T, coll *mongo.Collection, filter any, opts ...options.Lister[options.FindOptions]) []bson.Raw {
	t.Helper()
	cur, err := coll.Find(ctxT(t), filter, opts...)
	if err != nil {
		t.Fatalf("find %s: %v", coll.Name(), err)
	}
	var out []bson.Raw
	if err := cur.All(ctxT(t), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestConfigVersionOneForTheCluster: config.version holds one document in mongos's shape, the
// same for every router, however many race to write it.
func TestConfigVersionOneForTheCluster(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	_, uri2 := c.serveRouter(t, nil)
	var ids []bson.ObjectID
	for _, cl := range []*mongo.Client{c.client(t), connect(t, uri2)} {
		docs := findAll(t, cl.Database("config").Collection("version"), bson.D{})
		if len(docs) != 1 {
			t.Fatalf("config.version: %v, want one document", docs)
		}
		elems, _ := docs[0].Elements()
		id, _ := docs[0].Lookup("_id").AsInt64OK()
		clusterID, ok := docs[0].Lookup("clusterId").ObjectIDOK()
		if len(elems) != 2 || id != 1 || !ok {
			t.Fatalf("config.version %v, want {_id: 1, clusterId: ObjectId}", docs[0])
		}
		ids = append(ids, clusterID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("the routers read clusterIds %v", ids)
	}
}

// TestConfigShardsFindApplied: config.shards is the router's list, filtered, sorted, limited and
// projected as the find asks (getShardDistribution's findOne({_id: shard}) must find that shard).
func TestConfigShardsFindApplied(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	shardsColl := c.client(t).Database("config").Collection("shards")
	all := findAll(t, shardsColl, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}))
	if len(all) != 2 || all[0].Lookup("_id").StringValue() != "rs1" || all[1].Lookup("host").StringValue() != c.connStringOf(0) {
		t.Fatalf("config.shards sorted by _id descending: %v", all)
	}
	var one struct {
		ID    string `bson:"_id"`
		Host  string `bson:"host"`
		State *int   `bson:"state"`
	}
	err := shardsColl.FindOne(ctxT(t), bson.D{{Key: "_id", Value: "rs1"}}, options.FindOne().SetProjection(bson.D{{Key: "state", Value: 0}})).Decode(&one)
	if err != nil || one.ID != "rs1" || one.Host != c.connStringOf(1) || one.State != nil {
		t.Fatalf("findOne rs1 without state: %+v, %v", one, err)
	}
	if got := findAll(t, shardsColl, bson.D{}, options.Find().SetSkip(1).SetLimit(1)); len(got) != 1 || got[0].Lookup("_id").StringValue() != "rs1" {
		t.Fatalf("skip 1 limit 1: %v", got)
	}
	cur, err := shardsColl.Aggregate(ctxT(t), mongo.Pipeline{{{Key: "$match", Value: bson.D{{Key: "_id", Value: "rs1"}}}},
		{{Key: "$project", Value: bson.D{{Key: "host", Value: 1}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var agg []bson.Raw
	if err := cur.All(ctxT(t), &agg); err != nil || len(agg) != 1 || agg[0].Lookup("host").StringValue() != c.connStringOf(1) {
		t.Fatalf("aggregate of config.shards: %v, %v", agg, err)
	}
}

// TestConfigMongosRegistration: every live router has its entry in config.mongos in mongos's
// shape, pinged while it runs; one that stopped keeps its last ping, as on mongos.
func TestConfigMongosRegistration(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	second, _ := c.serveRouter(t, func(cfg *router.Config) { cfg.PingInterval = 20 * time.Millisecond })
	mongosColl := c.client(t).Database("config").Collection("mongos")
	type entry struct {
		ID      string    `bson:"_id"`
		Ping    time.Time `bson:"ping"`
		Up      int64     `bson:"up"`
		Waiting bool      `bson:"waiting"`
		Version string    `bson:"mongoVersion"`
		FQDNs   []string  `bson:"advisoryHostFQDNs"`
		Created time.Time `bson:"created"`
	}
	read := func() map[string]entry {
		out := map[string]entry{}
		for _, raw := range findAll(t, mongosColl, bson.D{}) {
			var e entry
			if err := bson.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			if _, isLong := raw.Lookup("up").Int64OK(); !isLong || e.FQDNs == nil {
				t.Fatalf("config.mongos entry %v: want up as a long and advisoryHostFQDNs as an array", raw)
			}
			out[e.ID] = e
		}
		return out
	}
	var first, later entry
	deadline := time.Now().Add(20 * time.Second)
	for {
		entries := read()
		e, ok := entries[hostPortOf(t, second.Addr())]
		switch {
		case !ok || len(entries) < 2:
		case first.Ping.IsZero():
			first = e
		case e.Ping.After(first.Ping):
			later = e
		}
		if !later.Ping.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("config.mongos %v: want both routers, the second pinging every 20 ms", entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !first.Waiting || first.Version != router.Version || !later.Created.Equal(first.Created) || later.Up < first.Up {
		t.Fatalf("config.mongos entry %+v then %+v: want waiting, the router's version, created kept", first, later)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := second.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stopped := read()[hostPortOf(t, second.Addr())]
	if stopped.Ping.IsZero() {
		t.Fatalf("config.mongos lost the stopped router's entry: %v", read())
	}
}

// hostPortOf is the host name and port a router registers under for its listening address.
func hostPortOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(host, port)
}

// TestConfigSettingsBalancerOff: config.settings says the balancer is off and stopped and
// autosplit disabled, in mongos's shape; the logs of migrations, balancer rounds and locks read
// empty, whatever a shard's own config database holds under those names.
func TestConfigSettingsBalancerOff(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	cfg := c.client(t).Database("config")
	var balancer struct {
		Mode    string `bson:"mode"`
		Stopped bool   `bson:"stopped"`
	}
	if err := cfg.Collection("settings").FindOne(ctxT(t), bson.D{{Key: "_id", Value: "balancer"}}).Decode(&balancer); err != nil ||
		balancer.Mode != "off" || !balancer.Stopped {
		t.Fatalf("balancer settings %+v, %v", balancer, err)
	}
	var autosplit struct {
		Enabled *bool `bson:"enabled"`
	}
	if err := cfg.Collection("settings").FindOne(ctxT(t), bson.D{{Key: "_id", Value: "autosplit"}}).Decode(&autosplit); err != nil ||
		autosplit.Enabled == nil || *autosplit.Enabled {
		t.Fatalf("autosplit settings %+v, %v", autosplit, err)
	}
	leftover := c.direct(t, 0).Database("config")
	for _, name := range []string{"changelog", "actionlog", "locks"} {
		if _, err := leftover.Collection(name).InsertOne(ctxT(t), bson.D{{Key: "what", Value: "left by an old cluster"}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = leftover.Collection(name).Drop(context.Background()) })
		if got := findAll(t, cfg.Collection(name), bson.D{}); len(got) != 0 {
			t.Fatalf("config.%s: %v, want empty", name, got)
		}
		cur, err := cfg.Collection(name).Aggregate(ctxT(t), mongo.Pipeline{
			{{Key: "$match", Value: bson.D{}}},
			{{Key: "$project", Value: bson.D{{Key: "_id", Value: bson.D{{Key: "$ifNull", Value: bson.A{"$_id.msg", "Success"}}}}}}},
		})
		if err != nil {
			t.Fatalf("aggregate config.%s: %v", name, err)
		}
		if cur.RemainingBatchLength() != 0 || cur.ID() != 0 {
			t.Fatalf("aggregate config.%s: want an empty, finished cursor", name)
		}
	}
	for _, name := range []string{"collections", "chunks", "tags"} {
		if got := findAll(t, cfg.Collection(name), bson.D{}); len(got) != 0 {
			t.Fatalf("config.%s: %v, want empty before any collection is sharded", name, got)
		}
	}
	if _, err := c.client(t).Database("shown").Collection("c").InsertOne(ctxT(t), bson.D{}); err != nil {
		t.Fatal(err)
	}
	dbs := findAll(t, cfg.Collection("databases"), bson.D{})
	if len(dbs) != 1 || dbs[0].Lookup("_id").StringValue() != "shown" || dbs[0].Lookup("primary").StringValue() == "" {
		t.Fatalf("config.databases %v, want the placed database", dbs)
	}
}
