package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/shards"
)

// itShardsEnv names real shard replica sets to run the suite against instead of memshard:
// "rs0/host:port,host:port;rs1/host:port,..." (an entry may also be a --shard spec,
// "NAME=SET/host:port,..."). The router stays in process. scripts/cluster-test.sh sets it for
// the sets of docker-compose.yml.
const itShardsEnv = "MONGOS_LITE_IT_SHARDS"

// itRouterEnv optionally names a mongos-lite already serving those sets (the compose file's
// container), for the tests that check it agrees with the in-process router.
const itRouterEnv = "MONGOS_LITE_IT_ROUTER"

// itKeyFileEnv names the key file the real sets run with (docker-compose.keyfile.yml's;
// `KEYFILE=1 scripts/cluster-test.sh` sets it). The in-process router then authenticates to them
// as __system@local, as serve --keyfile does, and so do the suite's own connections to the
// members (resets, counts, $currentOp).
const itKeyFileEnv = "MONGOS_LITE_IT_KEYFILE"

func onRealCluster() bool { return strings.TrimSpace(os.Getenv(itShardsEnv)) != "" }

// requireMemshard skips t on a real cluster; why names the memshard-only control the test
// needs (stopping members, a member's command counts or open cursors, ...). Call it first.
func requireMemshard(t testing.TB, why string) {
	t.Helper()
	if onRealCluster() {
		t.Skipf("needs memshard (%s); %s runs the suite against real replica sets", why, itShardsEnv)
	}
}

// requireRealCluster skips t on memshard: the test checks what only real mongods show.
func requireRealCluster(t testing.TB, why string) {
	t.Helper()
	if !onRealCluster() {
		t.Skipf("needs real replica sets in %s (%s)", itShardsEnv, why)
	}
}

// parseITShards parses the value of MONGOS_LITE_IT_SHARDS with the router's own --shard parser.
func parseITShards(v string) ([]shards.Config, error) {
	var sets []shards.Config
	names := map[string]bool{}
	for _, entry := range strings.Split(v, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		spec := entry
		if !strings.Contains(entry, "=") {
			set, _, _ := strings.Cut(entry, "/")
			spec = set + "=" + entry // the set's name is the shard's
		}
		cfg, err := shards.ParseSpec(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", itShardsEnv, err)
		}
		if names[cfg.Name] {
			return nil, fmt.Errorf("%s: shard %q named twice", itShardsEnv, cfg.Name)
		}
		names[cfg.Name] = true
		sets = append(sets, cfg)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("%s=%q names no replica set", itShardsEnv, v)
	}
	return sets, nil
}

// realSetCredential is who the router and the suite authenticate as on the real sets: nil
// without a key file. keyFile is the value of MONGOS_LITE_IT_KEYFILE, real whether
// MONGOS_LITE_IT_SHARDS names sets; the key is read by mongod's rules (auth.ReadKeyFile).
func realSetCredential(keyFile string, real bool) (*shards.Credential, error) {
	keyFile = strings.TrimSpace(keyFile)
	if keyFile == "" {
		return nil, nil
	}
	if !real {
		return nil, fmt.Errorf("%s is set but %s is not: the key file is the real sets' (memshard runs without one)", itKeyFileEnv, itShardsEnv)
	}
	key, err := auth.ReadKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", itKeyFileEnv, err)
	}
	cred := shards.InternalCredential(key)
	return &cred, nil
}

// shardCredential is realSetCredential from the environment.
func shardCredential(t testing.TB) *shards.Credential {
	t.Helper()
	cred, err := realSetCredential(os.Getenv(itKeyFileEnv), onRealCluster())
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// shardAuth is the driver option that authenticates a direct connection to a shard's set or
// member as the router does; none without a key file (memshard, or real sets without auth).
func shardAuth(t testing.TB) []*options.ClientOptions {
	t.Helper()
	c := shardCredential(t)
	if c == nil {
		return nil
	}
	return []*options.ClientOptions{options.Client().SetAuth(options.Credential{
		AuthMechanism: c.Mechanism, AuthSource: c.Source, Username: c.Username, Password: c.Password, PasswordSet: true})}
}

// connectShard connects the driver straight to a shard's set or member (a URI of its hosts).
func connectShard(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	return connect(t, uri, shardAuth(t)...)
}

// externalSets returns the real sets to use, or nil for memshard.
func externalSets(t testing.TB) []shards.Config {
	t.Helper()
	if !onRealCluster() {
		return nil
	}
	sets, err := parseITShards(os.Getenv(itShardsEnv))
	if err != nil {
		t.Fatal(err)
	}
	return sets
}

// realCluster serializes the tests on a real cluster, since each one starts by resetting it;
// parallel tests wait their turn.
var realCluster = struct {
	turn   chan struct{}
	mu     sync.Mutex
	holder string
}{turn: make(chan struct{}, 1)}

func takeRealClusterTurn(t *testing.T) {
	t.Helper()
	realCluster.mu.Lock()
	holder := realCluster.holder
	realCluster.mu.Unlock()
	// Waiting for our own test, or for a parent that waits for us, would never end.
	if holder != "" && (holder == t.Name() || strings.HasPrefix(t.Name(), holder+"/")) {
		t.Fatalf("%s already holds the real cluster: on a real cluster a test and its subtests start one cluster at a time", holder)
	}
	realCluster.turn <- struct{}{}
	realCluster.mu.Lock()
	realCluster.holder = t.Name()
	realCluster.mu.Unlock()
	t.Cleanup(func() {
		realCluster.mu.Lock()
		realCluster.holder = ""
		realCluster.mu.Unlock()
		<-realCluster.turn
	})
}

// useRealSets puts the first o.shards (default 2) real sets behind the router, reset. o.members
// only sizes memshard sets: real sets have the members they have.
func (c *cluster) useRealSets(t *testing.T, sets []shards.Config, o clusterOptions) {
	t.Helper()
	n := o.shards
	if n == 0 {
		n = 2
	}
	if n > len(sets) {
		t.Skipf("needs %d shards; %s names %d", n, itShardsEnv, len(sets))
	}
	for i, cfg := range sets[:n] {
		rs := &replicaSet{t: t, shard: cfg.Name, name: cfg.SetName, hosts: cfg.Hosts}
		c.sets = append(c.sets, rs)
		resetRealSet(t, rs, i == 0)
		if c.writeAll == 0 || len(cfg.Hosts) < c.writeAll {
			c.writeAll = len(cfg.Hosts)
		}
	}
}

// resetRealSet gives the test a set as clean as a new memshard set: it kills every session
// (their cursors and open transactions with them), drops every database but admin, config and
// local and, on the first shard, the routing metadata (config.databases, config.collections,
// config.chunks) and the routers' config.mongos. Since that
// destroys data, it first checks the set is a test deployment: mongods started with
// --setParameter enableTestCommands=1 accept configureFailPoint (which also disarms failCommand).
func resetRealSet(t *testing.T, rs *replicaSet, configShard bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append([]*options.ClientOptions{options.Client().ApplyURI(rs.URI()).
		SetServerSelectionTimeout(10 * time.Second).
		SetWriteConcern(&writeconcern.WriteConcern{W: len(rs.hosts)})}, shardAuth(t)...)
	cl, err := mongo.Connect(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	admin := cl.Database("admin")
	if err := admin.RunCommand(ctx, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}}).Err(); err != nil {
		t.Fatalf("replica set %s: configureFailPoint: %v. The suite drops the databases of the sets in %s, so it runs "+
			"only on test deployments, whose mongods run with --setParameter enableTestCommands=1 (as docker-compose.yml's do)",
			rs.name, err, itShardsEnv)
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "killAllSessions", Value: bson.A{}}}).Err(); err != nil {
		t.Fatalf("replica set %s: killAllSessions: %v", rs.name, err)
	}
	names, err := cl.ListDatabaseNames(ctx, bson.D{})
	if err != nil {
		t.Fatalf("replica set %s: listDatabases: %v", rs.name, err)
	}
	for _, name := range names {
		switch name {
		case "admin", "config", "local":
			continue
		}
		if err := cl.Database(name).Drop(ctx); err != nil {
			t.Fatalf("replica set %s: dropping %s: %v", rs.name, name, err)
		}
	}
	if configShard {
		// The routing metadata, and the routers' entries: a router of an earlier test pinged
		// within the last minute would count as active in sh.status().
		for _, coll := range []string{"databases", "collections", "chunks", "mongos"} {
			if err := cl.Database("config").Collection(coll).Drop(ctx); err != nil {
				t.Fatalf("replica set %s: dropping config.%s: %v", rs.name, coll, err)
			}
		}
	}
}

func TestParseITShards(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // NAME=SET/hosts of each set
		wantErr  string
	}{
		{"two sets", "rs0/localhost:27018,localhost:27019;rs1/localhost:27021",
			[]string{"rs0=rs0/localhost:27018,localhost:27019", "rs1=rs1/localhost:27021"}, ""},
		{"shard names and blank entries", " a=rs0/h:1 ; ;b=rs1/h:2;",
			[]string{"a=rs0/h:1", "b=rs1/h:2"}, ""},
		{"no port", "rs0/localhost", nil, "localhost"},
		{"no hosts", "rs0", nil, `missing "/"`},
		{"same shard twice", "rs0/h:1;rs0/h:2", nil, `shard "rs0" named twice`},
		{"nothing", " ; ", nil, "names no replica set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sets, err := parseITShards(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range sets {
				got = append(got, s.Name+"="+s.SetName+"/"+strings.Join(s.Hosts, ","))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRequireMemshardAndRealCluster(t *testing.T) {
	tests := []struct {
		env                  string
		memshardOnlySkipped  bool
		realClusterSkipped   bool
		startsMemshardShards bool
	}{
		{"", false, true, true},
		{"  ", false, true, true},
		{"rs0/localhost:27018", true, false, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.env), func(t *testing.T) {
			t.Setenv(itShardsEnv, tt.env)
			skipped := func(require func(testing.TB, string)) (s bool) {
				t.Run("probe", func(t *testing.T) {
					defer func() { s = t.Skipped() }()
					require(t, "probe")
				})
				return s
			}
			if got := skipped(requireMemshard); got != tt.memshardOnlySkipped {
				t.Errorf("requireMemshard skipped: %v, want %v", got, tt.memshardOnlySkipped)
			}
			if got := skipped(requireRealCluster); got != tt.realClusterSkipped {
				t.Errorf("requireRealCluster skipped: %v, want %v", got, tt.realClusterSkipped)
			}
			if got := externalSets(t) == nil; got != tt.startsMemshardShards {
				t.Errorf("externalSets nil: %v, want %v", got, tt.startsMemshardShards)
			}
		})
	}
}

func TestRealSetCredential(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("a1B2", 10)
	write := func(name string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(key+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good, open := write("good", 0o400), write("open", 0o644)
	tests := []struct {
		name, keyFile string
		real          bool
		wantUser      string // "" for no credential
		wantErr       string
	}{
		{"memshard, no key file", "", false, "", ""},
		{"real sets without auth", " ", true, "", ""},
		{"key file on real sets", good, true, shards.InternalUser, ""},
		{"key file without real sets", good, false, "", itShardsEnv + " is not"},
		{"key file readable by others", open, true, "", "permissions on " + open + " are too open"},
		{"no such key file", filepath.Join(dir, "none"), true, "", "Error reading file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := realSetCredential(tt.keyFile, tt.real)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantUser == "" {
				if cred != nil {
					t.Fatalf("credential %+v, want none", cred)
				}
				return
			}
			if cred == nil || cred.Username != tt.wantUser || cred.Source != shards.InternalSource || cred.Password != key {
				t.Fatalf("credential %+v, want %s@%s with the key as password", cred, tt.wantUser, shards.InternalSource)
			}
		})
	}
}

// On a real cluster the memshard-only controls skip the test instead of failing on a nil set.
func TestRealSetControlsSkip(t *testing.T) {
	var skipped bool
	t.Run("probe", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		rs := &replicaSet{t: t, shard: "rs0", name: "rs0", hosts: []string{"localhost:27018"}}
		if rs.URI() != "mongodb://localhost:27018/?replicaSet=rs0" || rs.Name() != "rs0" {
			t.Errorf("URI %s, Name %s", rs.URI(), rs.Name())
		}
		_ = rs.StopMember(0)
		t.Error("StopMember on a real set returned")
	})
	if !skipped {
		t.Fatal("StopMember on a real set did not skip the test")
	}
}
