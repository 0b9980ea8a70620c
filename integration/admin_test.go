package integration

import (
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/router"
)

// The admin commands a mongos answers from its own state (docs/commands.md).

// connStringOf is a shard's replica-set connection string, as mongos names a shard.
func (c *cluster) connStringOf(i int) string {
	return c.sets[i].Name() + "/" + strings.Join(slices.Sorted(slices.Values(c.sets[i].Hosts())), ",")
}

// TestBalancerCommands: the balancer is always stopped: balancerStatus says so in mongos's
// shape, balancerStop is a no-op, balancerStart is refused; all run on admin only.
func TestBalancerCommands(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	admin := c.client(t).Database("admin")
	got := runCmd(t, admin, bson.D{{Key: "balancerStatus", Value: 1}})
	mode, _ := got.Lookup("mode").StringValueOK()
	inRound, _ := got.Lookup("inBalancerRound").BooleanOK()
	rounds, isLong := got.Lookup("numBalancerRounds").Int64OK()
	if mode != "off" || inRound || !isLong || rounds != 0 {
		t.Fatalf("balancerStatus %v, want mode off, not in a round, no rounds", got)
	}
	runCmd(t, admin, bson.D{{Key: "balancerStop", Value: 1}})
	wantCommandError(t, admin.RunCommand(ctxT(t), bson.D{{Key: "balancerStart", Value: 1}}).Err(), 20)
	for _, name := range []string{"balancerStatus", "balancerStop", "flushRouterConfig", "getShardMap", "getCmdLineOpts"} {
		err := c.client(t).Database("test").RunCommand(ctxT(t), bson.D{{Key: name, Value: 1}}).Err()
		if wantCommandError(t, err, 13); !strings.Contains(err.Error(), "may only be run against the admin database") {
			t.Fatalf("%s on test: %v", name, err)
		}
	}
}

// TestFlushRouterConfigRereadsPlacement: a placement changed behind the router's back is used
// once flushRouterConfig has dropped the cached one: for the database named, or for all.
func TestFlushRouterConfigRereadsPlacement(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	ctx := ctxT(t)
	cl := c.client(t)
	coll := cl.Database("flush").Collection("c")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "on", Value: "first"}}); err != nil {
		t.Fatal(err)
	}
	p := c.primaryOf(t, "flush")
	if _, err := c.direct(t, 1-p).Database("flush").Collection("c").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "on", Value: "moved"}}); err != nil {
		t.Fatal(err)
	}
	place := func(i int) {
		_, err := c.direct(t, 0).Database("config").Collection("databases").UpdateOne(ctx, bson.D{{Key: "_id", Value: "flush"}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "primary", Value: c.sets[i].shard}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		var doc struct {
			On string `bson:"on"`
		}
		if err := coll.FindOne(ctx, bson.D{}).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		return doc.On
	}
	flush := func(arg any) {
		got := runCmd(t, cl.Database("admin"), bson.D{{Key: "flushRouterConfig", Value: arg}})
		if flushed, _ := got.Lookup("flushed").BooleanOK(); !flushed {
			t.Fatalf("flushRouterConfig %v: %v", arg, got)
		}
	}
	place(1 - p)
	if on := read(); on != "first" {
		t.Fatalf("before a flush the router read %q, want its cached placement's %q", on, "first")
	}
	flush("flush.c") // a collection: the router caches no routing of single collections
	if on := read(); on != "first" {
		t.Fatalf("after flushing a collection: %q", on)
	}
	flush("flush")
	if on := read(); on != "moved" {
		t.Fatalf("after flushing the database the router read %q, want the new placement's %q", on, "moved")
	}
	place(p)
	flush(true)
	if on := read(); on != "first" {
		t.Fatalf("after flushing everything: %q", on)
	}
	err := cl.Database("admin").RunCommand(ctx, bson.D{{Key: "flushRouterConfig", Value: bson.D{}}}).Err()
	wantCommandError(t, err, 13111)
}

// TestGetShardMap: every shard by name, member and connection string, as mongos's shard registry
// lists them.
func TestGetShardMap(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 2})
	got := runCmd(t, c.client(t).Database("admin"), bson.D{{Key: "getShardMap", Value: 1}})
	var m struct {
		Map         map[string]string `bson:"map"`
		Hosts       map[string]string `bson:"hosts"`
		ConnStrings map[string]string `bson:"connStrings"`
	}
	if err := bson.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	hosts := 0
	for i, rs := range c.sets {
		cs := c.connStringOf(i)
		if m.Map[rs.shard] != cs || m.ConnStrings[cs] != rs.shard {
			t.Fatalf("getShardMap %v: want %s ↔ %s", got, rs.shard, cs)
		}
		for _, h := range rs.Hosts() {
			if m.Hosts[h] != rs.shard {
				t.Fatalf("getShardMap hosts %v: want %s on %s", m.Hosts, h, rs.shard)
			}
			hosts++
		}
	}
	if len(m.Map) != len(c.sets) || len(m.Hosts) != hosts || len(m.ConnStrings) != len(c.sets) {
		t.Fatalf("getShardMap %v lists more than the cluster", got)
	}
}

// TestGetCmdLineOpts: the router's own arguments and parsed options, nested at their paths.
func TestGetCmdLineOpts(t *testing.T) {
	argv := []string{"mongos-lite", "serve", "--port", "27017", "--shard", "rs0=rs0/h:1"}
	c := startCluster(t, clusterOptions{members: 1, configure: func(cfg *router.Config) {
		cfg.CommandLine = router.CommandLine{Argv: argv, Parsed: []router.Option{
			{Path: "net.port", Value: 27017}, {Path: "mongosLite.shard", Value: []string{"rs0=rs0/h:1"}},
			{Path: "net.bindIp", Value: "0.0.0.0"}, {Path: "setParameter.maxSessions", Value: 10},
		}}
	}})
	got := runCmd(t, c.client(t).Database("admin"), bson.D{{Key: "getCmdLineOpts", Value: 1}})
	var opts struct {
		Argv   []string `bson:"argv"`
		Parsed bson.Raw `bson:"parsed"`
	}
	if err := bson.Unmarshal(got, &opts); err != nil {
		t.Fatal(err)
	}
	want, _ := bson.Marshal(bson.D{
		{Key: "net", Value: bson.D{{Key: "port", Value: int32(27017)}, {Key: "bindIp", Value: "0.0.0.0"}}},
		{Key: "mongosLite", Value: bson.D{{Key: "shard", Value: bson.A{"rs0=rs0/h:1"}}}},
		{Key: "setParameter", Value: bson.D{{Key: "maxSessions", Value: int32(10)}}},
	})
	if !slices.Equal(opts.Argv, argv) || !bytesEqual(opts.Parsed, want) {
		t.Fatalf("getCmdLineOpts %v, want argv %q and parsed %v", got, argv, bson.Raw(want))
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// serverStatusOf runs serverStatus through cl.
func serverStatusOf(t *testing.T, cl *mongo.Client, extra ...bson.E) bson.Raw {
	t.Helper()
	return runCmd(t, cl.Database("admin"), append(bson.D{{Key: "serverStatus", Value: 1}}, extra...))
}

// TestServerStatusAsMongos: the router's own status in mongos's shape; opcounters count as
// mongod counts (each insert, update and delete statement; find as query; getMore as getmore;
// anything else as a command), network counts the bytes and requests, logical and as sent
// compressed; {<section>: 0} leaves a section out.
func TestServerStatusAsMongos(t *testing.T) {
	c := startCluster(t, clusterOptions{members: 1})
	ctx := ctxT(t)
	var getMores commandLog
	cl := c.client(t, options.Client().SetCompressors([]string{"zlib"}).SetMonitor(getMores.monitor()))
	before := serverStatusOf(t, cl)
	coll := cl.Database("test").Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "pad", Value: strings.Repeat("x", 50_000)}}, bson.D{}, bson.D{}}); err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(1).SetProjection(bson.D{{Key: "pad", Value: 0}}))
	if err != nil {
		t.Fatal(err)
	}
	var all []bson.Raw
	if err := cur.All(ctx, &all); err != nil || len(all) != 3 {
		t.Fatalf("find: %d documents, %v", len(all), err)
	}
	runCmd(t, cl.Database("test"), bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{
		bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}},
		bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "b", Value: 1}}}}}},
	}}})
	if _, err := coll.DeleteOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	runCmd(t, cl.Database("admin"), bson.D{{Key: "ping", Value: 1}})
	after := serverStatusOf(t, cl)
	delta := func(path ...string) float64 { return num(t, after, path...) - num(t, before, path...) }
	for _, tc := range []struct {
		counter string
		want    float64
	}{{"insert", 3}, {"query", 1}, {"getmore", float64(getMores.count("getMore"))}, {"update", 2}, {"delete", 1}} {
		if got := delta("opcounters", tc.counter); got != tc.want {
			t.Errorf("opcounters.%s moved by %v, want %v", tc.counter, got, tc.want)
		}
	}
	if getMores.count("getMore") < 2 || delta("opcounters", "command") < 2 { // ping and the first serverStatus
		t.Errorf("getMores %d, opcounters.command moved by %v", getMores.count("getMore"), delta("opcounters", "command"))
	}
	if delta("network", "numRequests") < 8 || delta("network", "bytesIn") < 50_000 ||
		delta("network", "physicalBytesIn") >= delta("network", "bytesIn") || delta("network", "bytesOut") <= 0 {
		t.Errorf("network %v → %v: want 8 requests, the 50 kB insert in bytesIn, less on the wire compressed",
			before.Lookup("network"), after.Lookup("network"))
	}
	process, _ := after.Lookup("process").StringValueOK()
	configsvr, _ := after.Lookup("sharding", "configsvrConnectionString").StringValueOK()
	if process != "mongos" || configsvr != c.connStringOf(0) || num(t, after, "sharding", "maxChunkSizeInBytes") != 128<<20 ||
		num(t, after, "connections", "current") < 1 {
		t.Errorf("serverStatus %v: want process mongos, the config shard %s in sharding", after, c.connStringOf(0))
	}
	for _, section := range []string{"host", "version", "uptime", "localTime", "connections", "logicalSessionRecordCache", "metrics", "mem"} {
		if _, err := after.LookupErr(section); err != nil {
			t.Errorf("serverStatus has no %s", section)
		}
	}
	less := serverStatusOf(t, cl, bson.E{Key: "opcounters", Value: 0}, bson.E{Key: "network", Value: false})
	_, errOps := less.LookupErr("opcounters")
	_, errNet := less.LookupErr("network")
	_, errConn := less.LookupErr("connections")
	if errOps == nil || errNet == nil || errConn != nil {
		t.Errorf("serverStatus {opcounters: 0, network: false}: %v", less)
	}
}
