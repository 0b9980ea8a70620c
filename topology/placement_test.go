package topology

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/outcome"
	"github.com/mongos-lite/mongos-lite/shards"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// fakeConfigShard keeps config.databases in a map and answers the four commands placement
// sends; other shards only need a name.
type fakeConfigShard struct {
	name     string
	mu       sync.Mutex
	entries  map[string]string // db -> primary
	commands int
}

func (f *fakeConfigShard) Name() string { return f.name }

func (f *fakeConfigShard) Command(_ context.Context, body bsoncore.Document) (shards.Reply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commands++
	reply := bson.M{"ok": 1.0}
	str := func(keys ...string) string { return body.Lookup(keys...).StringValue() }
	first := func(arr string) bsoncore.Document {
		return body.Lookup(arr).Array().Index(0).Document()
	}
	switch {
	case body.Lookup("find").Type != 0:
		id := str("filter", "_id")
		batch := bson.A{}
		if p, ok := f.entries[id]; ok {
			batch = append(batch, bson.M{"_id": id, "primary": p})
		}
		reply["cursor"] = bson.M{"id": int64(0), "firstBatch": batch}
	case body.Lookup("insert").Type != 0:
		doc := first("documents")
		id := doc.Lookup("_id").StringValue()
		if _, dup := f.entries[id]; dup {
			reply["writeErrors"] = bson.A{bson.M{"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"}}
		} else {
			f.entries[id] = doc.Lookup("primary").StringValue()
			reply["n"] = 1
		}
	case body.Lookup("aggregate").Type != 0:
		counts := map[string]int32{}
		for _, p := range f.entries {
			counts[p]++
		}
		batch := bson.A{}
		for p, n := range counts {
			batch = append(batch, bson.M{"_id": p, "n": n})
		}
		reply["cursor"] = bson.M{"id": int64(0), "firstBatch": batch}
	case body.Lookup("delete").Type != 0:
		delete(f.entries, first("deletes").Lookup("q", "_id").StringValue())
	default:
		return shards.Reply{}, fmt.Errorf("unexpected command %s", body)
	}
	raw, err := bson.Marshal(reply)
	return shards.Reply{Reply: outcome.NewReply(raw)}, err
}

type namedShard string

func (n namedShard) Name() string { return string(n) }
func (n namedShard) Command(context.Context, bsoncore.Document) (shards.Reply, error) {
	return shards.Reply{}, fmt.Errorf("shard %s holds no metadata", n)
}

func newTestCluster(entries map[string]string) (*Cluster[Shard], *fakeConfigShard) {
	cfg := &fakeConfigShard{name: "s0", entries: entries}
	return New([]Shard{cfg, namedShard("s1"), namedShard("s2")}), cfg
}

func TestPrimaryShardPlacesOnFewest(t *testing.T) {
	c, cfg := newTestCluster(map[string]string{"a": "s0", "b": "s1"})
	ctx := context.Background()
	idx, err := c.PrimaryShard(ctx, []byte("new"), true)
	if err != nil || idx != 2 {
		t.Fatalf("new database placed on %d (err %v), want the empty shard 2", idx, err)
	}
	if cfg.entries["new"] != "s2" {
		t.Fatalf("placement not recorded: %v", cfg.entries)
	}
	before := cfg.commands
	if idx, _ := c.PrimaryShard(ctx, []byte("new"), true); idx != 2 || cfg.commands != before {
		t.Fatalf("second lookup: shard %d, %d extra commands; want 2 from cache", idx, cfg.commands-before)
	}
}

func TestPrimaryShardTable(t *testing.T) {
	tests := []struct {
		name    string
		entries map[string]string
		db      string
		create  bool
		want    int
		placed  bool
	}{
		{"existing entry is used", map[string]string{"x": "s1"}, "x", false, 1, true},
		{"read of unknown db goes to config shard and places nothing", map[string]string{}, "y", false, 0, false},
		{"admin lives on the config shard", map[string]string{}, "admin", true, 0, false},
		{"config lives on the config shard", map[string]string{}, "config", true, 0, false},
		{"tie goes to the first shard", map[string]string{}, "z", true, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, cfg := newTestCluster(tt.entries)
			got, err := c.PrimaryShard(context.Background(), []byte(tt.db), tt.create)
			if err != nil || got != tt.want {
				t.Fatalf("PrimaryShard(%q) = %d, %v; want %d", tt.db, got, err, tt.want)
			}
			if _, placed := cfg.entries[tt.db]; placed != tt.placed {
				t.Fatalf("placed = %v, want %v", placed, tt.placed)
			}
		})
	}
}

// Another router placed the database between our lookup and our insert: its choice wins.
func TestPrimaryShardLosesRaceToOtherRouter(t *testing.T) {
	cfg := &fakeConfigShard{name: "s0", entries: map[string]string{}}
	racer := &racingShard{fakeConfigShard: cfg, db: "raced", winner: "s2"}
	c := New([]Shard{racer, namedShard("s1"), namedShard("s2")})
	idx, err := c.PrimaryShard(context.Background(), []byte("raced"), true)
	if err != nil || idx != 2 {
		t.Fatalf("got shard %d (err %v); want the other router's choice, 2", idx, err)
	}
}

// racingShard inserts a competing entry just before our insert arrives.
type racingShard struct {
	*fakeConfigShard
	db, winner string
}

func (r *racingShard) Command(ctx context.Context, body bsoncore.Document) (shards.Reply, error) {
	if _, err := body.LookupErr("insert"); err == nil {
		r.mu.Lock()
		r.entries[r.db] = r.winner
		r.mu.Unlock()
	}
	return r.fakeConfigShard.Command(ctx, body)
}

func TestForgetRemovesPlacement(t *testing.T) {
	c, cfg := newTestCluster(map[string]string{"gone": "s1"})
	ctx := context.Background()
	if idx, _ := c.PrimaryShard(ctx, []byte("gone"), false); idx != 1 {
		t.Fatalf("want shard 1 before drop, got %d", idx)
	}
	if err := c.Forget(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.entries["gone"]; ok {
		t.Fatal("entry still in config.databases")
	}
	if idx, _ := c.PrimaryShard(ctx, []byte("gone"), false); idx != 0 {
		t.Fatalf("after Forget a read should not find the old shard; got %d", idx)
	}
}

func TestUnknownShardInEntryIsAnError(t *testing.T) {
	c, _ := newTestCluster(map[string]string{"odd": "s9"})
	if _, err := c.PrimaryShard(context.Background(), []byte("odd"), false); err == nil {
		t.Fatal("want an error for a database placed on an unconfigured shard")
	}
}
