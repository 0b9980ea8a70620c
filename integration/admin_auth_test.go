package integration

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestAdminCommandsAuthorized: with --auth, each admin, statistics and config command needs what
// mongod's needs (auth/commands.go): a user with the privilege runs it, one without is refused.
func TestAdminCommandsAuthorized(t *testing.T) {
	c := authClusterOf(t, clusterOptions{members: 1}, []testUser{
		{"alice", "test", "readWrite", "test"}, {"monitor", "admin", "clusterMonitor", "admin"},
		{"hostmgr", "admin", "hostManager", "admin"}, {"admin", "admin", "root", "admin"},
	})
	ctx := ctxT(t)
	if _, err := c.userClient(t, "admin", "admin", "admin-pw").Database("test").Collection("c").InsertOne(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	collStats := bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{}}}}}}},
		{Key: "cursor", Value: bson.D{}}}
	distribution := bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$shardedDataDistribution", Value: bson.D{}}}}},
		{Key: "cursor", Value: bson.D{}}}
	for _, tc := range []struct {
		cmd              bson.D
		db               string
		allowed, refused testUser
	}{
		{bson.D{{Key: "serverStatus", Value: 1}}, "admin", testUser{name: "monitor"}, testUser{name: "alice"}},
		{bson.D{{Key: "getShardMap", Value: 1}}, "admin", testUser{name: "monitor"}, testUser{name: "alice"}},
		{bson.D{{Key: "getCmdLineOpts", Value: 1}}, "admin", testUser{name: "monitor"}, testUser{name: "alice"}},
		{bson.D{{Key: "balancerStatus", Value: 1}}, "admin", testUser{name: "monitor"}, testUser{name: "alice"}},
		{bson.D{{Key: "balancerStop", Value: 1}}, "admin", testUser{name: "admin"}, testUser{name: "monitor"}},
		{bson.D{{Key: "flushRouterConfig", Value: 1}}, "admin", testUser{name: "hostmgr"}, testUser{name: "monitor"}},
		{bson.D{{Key: "dbStats", Value: 1}}, "test", testUser{name: "alice"}, testUser{name: "hostmgr"}},
		{bson.D{{Key: "collStats", Value: "c"}}, "test", testUser{name: "monitor"}, testUser{name: "hostmgr"}},
		{collStats, "test", testUser{name: "alice"}, testUser{name: "hostmgr"}},
		{bson.D{{Key: "dataSize", Value: "test.c"}}, "admin", testUser{name: "alice"}, testUser{name: "hostmgr"}},
		{distribution, "admin", testUser{name: "monitor"}, testUser{name: "alice"}},
		{bson.D{{Key: "find", Value: "version"}}, "config", testUser{name: "monitor"}, testUser{name: "alice"}},
	} {
		for _, u := range []testUser{tc.allowed, tc.refused} {
			db := c.userClient(t, u.name, "admin", u.name+"-pw").Database(tc.db)
			if u.name == "alice" {
				db = c.userClient(t, "alice", "test", "alice-pw").Database(tc.db)
			}
			err := db.RunCommand(ctx, tc.cmd).Err()
			switch {
			case u == tc.allowed && err != nil:
				t.Errorf("%s as %s: %v, want it allowed", tc.cmd[0].Key, u.name, err)
			case u == tc.refused:
				wantCommandError(t, err, 13)
			}
		}
	}
	// alice may read the statistics of her database's collections, not of another's.
	alice := c.userClient(t, "alice", "test", "alice-pw")
	wantCommandError(t, alice.Database("admin").RunCommand(ctx, bson.D{{Key: "dataSize", Value: "other.c"}}).Err(), 13)
	wantCommandError(t, alice.Database("other").RunCommand(ctx, collStats).Err(), 13)
}
