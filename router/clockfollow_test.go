package router

import (
	"context"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// TestShardsFollowClock: a shard without authentication follows the router's clock unasked; a
// shard user is asked once it matters, remembered when it holds advanceClusterTime, and asked
// again only after a while when it does not.
func TestShardsFollowClock(t *testing.T) {
	checkLeaks(t)
	users := usersFile(t, []auth.RoleDef{
		{Role: "forwarder", DB: "admin", Roles: []auth.RoleRef{{Role: "root", DB: "admin"}},
			Privileges: []auth.PrivilegeSpec{{Resource: auth.ResourceSpec{Cluster: true}, Actions: []string{auth.ActionImpersonate}}}},
		{Role: "clocked", DB: "admin", Roles: []auth.RoleRef{{Role: "root", DB: "admin"}},
			Privileges: []auth.PrivilegeSpec{{Resource: auth.ResourceSpec{Cluster: true}, Actions: []string{auth.ActionImpersonate, "advanceClusterTime"}}}},
	}, testUser{"plain", "forwarder", "admin"}, testUser{"clock", "clocked", "admin"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name   string
		user   string // "": no authentication
		follow bool
		asked  int64 // connectionStatus commands after two questions
	}{
		{"no authentication", "", true, 0},
		{"user without advanceClusterTime", "plain", false, 1},
		{"user with advanceClusterTime", "clock", true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []memshard.Option{}
			if tc.user != "" {
				opts = append(opts, memshard.WithUsers(users))
			}
			rs, err := memshard.StartReplicaSet("rs0", 1, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rs.Close() })
			sc := shards.Config{Name: "s0", SetName: "rs0", Hosts: rs.Hosts(), ServerSelectionTimeout: 15 * time.Second}
			if tc.user != "" {
				sc.Auth = &shards.Credential{Username: tc.user, Password: tc.user + "-pw"}
			}
			srv, err := New(Config{}, []*shards.Shard{openShard(t, sc)})
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				user, follow := srv.shardsFollowClock(ctx)
				if follow != tc.follow || !follow && user != tc.user+"@admin" {
					t.Fatalf("follow %v (user %q), want %v", follow, user, tc.follow)
				}
			}
			if n := rs.Member(0).CommandCount("connectionStatus"); n != tc.asked {
				t.Fatalf("asked %d times, want %d", n, tc.asked)
			}
		})
	}
}
