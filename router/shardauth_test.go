package router

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"gopkg.in/yaml.v3"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// TestDriverShardUser: a router that authenticates to its shard as an ordinary user forwards
// its clients' sessions only if that user may impersonate (the uid in each lsid is the client's,
// not the shard user's), as a mongos whose shards do not share its key file.
func TestDriverShardUser(t *testing.T) {
	checkLeaks(t)
	test := "test"
	users := usersFile(t, []auth.RoleDef{{Role: "router", DB: "admin",
		Privileges: []auth.PrivilegeSpec{{Resource: auth.ResourceSpec{Cluster: true}, Actions: []string{auth.ActionImpersonate}}},
		Roles:      []auth.RoleRef{{Role: "readWrite", DB: test}}}},
		testUser{"forwarder", "router", "admin"}, testUser{"writer", "readWrite", test})
	for _, tc := range []struct {
		user string
		code int32 // 0: served
	}{{"forwarder", 0}, {"writer", 13}} {
		t.Run(tc.user, func(t *testing.T) {
			addr, _ := tlsCluster(t, []memshard.Option{memshard.WithUsers(users)}, func(cfg *shards.Config) {
				cfg.Auth = &shards.Credential{Username: tc.user, Password: tc.user + "-pw"}
			}, nil)
			err := driverInsert(t, addr, nil, true)
			var se mongo.ServerError
			switch {
			case tc.code == 0 && err != nil:
				t.Fatalf("insert: %v", err)
			case tc.code != 0 && !(errors.As(err, &se) && se.HasErrorCode(int(tc.code))):
				t.Fatalf("insert: %v, want code %d", err, tc.code)
			}
		})
	}
}

// testUser is a user name@admin of a test users file, with password name+"-pw" and one role.
type testUser struct{ name, role, db string }

// usersFile is a users file of these custom roles and users, parsed.
func usersFile(t *testing.T, roles []auth.RoleDef, us ...testUser) *auth.Users {
	t.Helper()
	file := auth.File{Roles: roles}
	for _, u := range us {
		creds, err := auth.NewCredentials(u.name, u.name+"-pw")
		if err != nil {
			t.Fatal(err)
		}
		file.Users = append(file.Users, auth.UserEntry{User: u.name, DB: "admin", Roles: []auth.RoleRef{{Role: u.role, DB: u.db}}, Credentials: creds})
	}
	data, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.ParseUsers(data)
	if err != nil {
		t.Fatal(err)
	}
	return users
}
