package topology

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/shards"
)

// memCluster is a cluster map over n one-member memshard sets, the first the config shard.
func memCluster(t *testing.T, n int) *Cluster[*shards.Shard] {
	t.Helper()
	list, _ := memSets(t, n)
	return New(list)
}

func ctxOf(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// run runs a command on the config shard and returns its reply, failing on an error.
func run(t *testing.T, c *Cluster[*shards.Shard], cmd bson.D) bson.Raw {
	t.Helper()
	body, err := bson.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.placement.command(ctxOf(t), body)
	if err != nil {
		t.Fatalf("%v: %v", cmd, err)
	}
	return bson.Raw(reply)
}

func batchOf(t *testing.T, reply bson.Raw) []bson.Raw {
	t.Helper()
	var r struct {
		Cursor struct {
			FirstBatch []bson.Raw `bson:"firstBatch"`
		} `bson:"cursor"`
	}
	if err := bson.Unmarshal(reply, &r); err != nil {
		t.Fatal(err)
	}
	return r.Cursor.FirstBatch
}

func findConfig(t *testing.T, c *Cluster[*shards.Shard], coll string) []bson.Raw {
	t.Helper()
	return batchOf(t, run(t, c, bson.D{{Key: "find", Value: coll}, {Key: "$db", Value: "config"}}))
}

// TestEnsureMetadataOnce: routers racing to write the cluster metadata leave one config.version,
// the first writer's, and the balancer and autosplit settings off; a setting edited by hand is
// put back by the next router.
func TestEnsureMetadataOnce(t *testing.T) {
	c := memCluster(t, 1)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.EnsureMetadata(ctxOf(t)) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	versions := findConfig(t, c, "version")
	if len(versions) != 1 {
		t.Fatalf("config.version %v, want one document", versions)
	}
	run(t, c, bson.D{{Key: "update", Value: "settings"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{{Key: "_id", Value: "balancer"}}},
		{Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "mode", Value: "full"}, {Key: "stopped", Value: false}}}}}}}}, {Key: "$db", Value: "config"}})
	if err := c.EnsureMetadata(ctxOf(t)); err != nil {
		t.Fatal(err)
	}
	if again := findConfig(t, c, "version"); len(again) != 1 || string(again[0]) != string(versions[0]) {
		t.Fatalf("config.version changed: %v → %v", versions, again)
	}
	settings := map[string]bson.Raw{}
	for _, d := range findConfig(t, c, "settings") {
		settings[d.Lookup("_id").StringValue()] = d
	}
	if b := settings["balancer"]; b.Lookup("mode").StringValue() != "off" || !b.Lookup("stopped").Boolean() {
		t.Fatalf("balancer settings %v", b)
	}
	if a := settings["autosplit"]; a.Lookup("enabled").Boolean() {
		t.Fatalf("autosplit settings %v", a)
	}
}

// TestReportRouter: a router's config.mongos entry is inserted with created, then updated in
// place: ping, up and the rest move, created stays.
func TestReportRouter(t *testing.T) {
	c := memCluster(t, 1)
	start := time.UnixMilli(time.Now().UnixMilli())
	for i, up := range []time.Duration{3 * time.Second, 13 * time.Second} {
		err := c.ReportRouter(ctxOf(t), RouterEntry{ID: "h:1", Created: start.Add(time.Duration(i) * time.Hour),
			Ping: start.Add(up), Up: up, Version: "8.0.4", FQDNs: []string{}})
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := findConfig(t, c, "mongos")
	if len(entries) != 1 {
		t.Fatalf("config.mongos %v", entries)
	}
	var e struct {
		ID      string    `bson:"_id"`
		Ping    time.Time `bson:"ping"`
		Up      int64     `bson:"up"`
		Waiting bool      `bson:"waiting"`
		Version string    `bson:"mongoVersion"`
		FQDNs   []string  `bson:"advisoryHostFQDNs"`
		Created time.Time `bson:"created"`
	}
	if err := bson.Unmarshal(entries[0], &e); err != nil {
		t.Fatal(err)
	}
	if e.ID != "h:1" || !e.Ping.Equal(start.Add(13*time.Second)) || e.Up != 13 || !e.Waiting || e.Version != "8.0.4" ||
		e.FQDNs == nil || !e.Created.Equal(start) {
		t.Fatalf("config.mongos entry %+v", e)
	}
}
