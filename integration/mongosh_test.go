package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/router"
)

// The shell helpers that read a mongos the most, run by mongosh itself (npx mongosh, the
// current 2.x) against the router: sh.status() and db.coll.getShardDistribution().

var mongoshCheck struct {
	once   sync.Once
	reason string // why mongosh cannot run here; empty when it can
}

// requireMongosh skips the test when mongosh cannot be run: no npx, or npm cannot fetch it (a
// machine without the network or the package in its cache).
func requireMongosh(t *testing.T) {
	t.Helper()
	mongoshCheck.once.Do(func() {
		if _, err := exec.LookPath("npx"); err != nil {
			mongoshCheck.reason = "npx is not installed"
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "npx", "--yes", "mongosh", "--version").CombinedOutput()
		if err != nil {
			mongoshCheck.reason = fmt.Sprintf("npx --yes mongosh --version failed (npm cannot fetch mongosh here?): %v: %s", err, lastLines(string(out), 3))
		}
	})
	if mongoshCheck.reason != "" {
		t.Skip(mongoshCheck.reason)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// mongosh evaluates script against uri and returns what it printed, its whitespace collapsed.
func mongosh(t *testing.T, uri, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npx", "--yes", "mongosh", "--quiet", "--norc", uri, "--eval", script)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("mongosh --eval %q: %v\n%s%s", script, err, out, stderr.String())
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func wantPrinted(t *testing.T, out string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(out, p) {
			t.Errorf("mongosh printed %s\nwhich lacks %q", out, p)
		}
	}
}

// TestMongoshShStatus: sh.status() prints the cluster as on a mongos: the sharding version, the
// shards, the active routers (two here), autosplit and the balancer off, and the databases with
// their primary shards and, for a sharded collection, its shard key and chunks.
func TestMongoshShStatus(t *testing.T) {
	requireMongosh(t)
	c := startCluster(t, clusterOptions{members: 1})
	c.serveRouter(t, nil)
	p := c.spread(t, "shown", "c", 3, 4)
	c.simulateSharded(t, "shown", "c", []int{2, 1})
	out := mongosh(t, c.uri, "sh.status()")
	wantPrinted(t, out,
		"shardingVersion { _id: 1, clusterId: ObjectId(",
		fmt.Sprintf("shards [ { _id: 'rs0', host: '%s', state: 1 }, { _id: 'rs1', host: '%s', state: 1 } ]", c.connStringOf(0), c.connStringOf(1)),
		fmt.Sprintf("active mongoses [ { '%s': 2 } ]", router.Version),
		"autosplit { 'Currently enabled': 'no' }",
		"'Currently enabled': 'no'", "'Currently running': 'no'", "'Failed balancer rounds in last 5 attempts': 0",
		"'Migration Results for the last 24 hours': 'No recent migrations'",
		"shardedDataDistribution [ { ns: 'shown.c', shards: [",
		fmt.Sprintf("database: { _id: 'shown', primary: '%s' }", c.sets[p].shard),
		"'shown.c': { shardKey: { _id: 'hashed' }, unique: false, balancing: false, allowMigrations: false",
		"chunkMetadata: [ { shard: 'rs0', nChunks: 2 }, { shard: 'rs1', nChunks: 1 } ]",
	)
}

// TestMongoshShardDistribution: getShardDistribution() prints each shard's part of a sharded
// collection and the totals from $collStats through the router; db.coll.stats() merges it too.
// Of an unsharded collection it says so, as on a mongos.
func TestMongoshShardDistribution(t *testing.T) {
	requireMongosh(t)
	c := startCluster(t, clusterOptions{members: 1})
	p := c.spread(t, "dist", "c", 3, 4)
	unsharded := mongosh(t, c.uri+"dist", "try { db.c.getShardDistribution() } catch (e) { print(e.message) }")
	wantPrinted(t, unsharded, "Collection c is not sharded")
	c.simulateSharded(t, "dist", "c", []int{1, 1})
	out := mongosh(t, c.uri+"dist", "db.c.getShardDistribution()")
	wantPrinted(t, out,
		fmt.Sprintf("Shard %s at %s { data:", c.sets[p].shard, c.connStringOf(p)),
		fmt.Sprintf("Shard %s at %s { data:", c.sets[1-p].shard, c.connStringOf(1-p)),
		"docs: 3, chunks: 1", "docs: 4, chunks: 1",
		"Totals { data:", "docs: 7, chunks: 2",
		"'42.85 % docs in cluster'", "'57.14 % docs in cluster'",
	)
	stats := mongosh(t, c.uri+"dist", "db.c.stats()")
	wantPrinted(t, stats, "sharded: true", "count: 7", fmt.Sprintf("shards: { %s: {", c.sets[0].shard))
}
