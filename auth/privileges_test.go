package auth

import (
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func TestCan(t *testing.T) {
	roles := []RoleDef{
		{Role: "sessionKiller", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Cluster: true}, Actions: []string{"killAnySession"}}}},
		{Role: "impersonator", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Cluster: true}, Actions: []string{"impersonate", "listSessions"}}},
			Roles: []RoleRef{{"sessionKiller", "admin"}}},
		{Role: "logsOnly", DB: "app", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{DB: ptr("app"), Collection: ptr("logs")}, Actions: []string{"find"}},
			{Resource: ResourceSpec{DB: ptr(""), Collection: ptr("audit")}, Actions: []string{"insert"}}}},
	}
	users := usersFrom(t, roles,
		testEntry{user: "reader", db: "test", password: "p", roles: []RoleRef{{"read", "test"}}},
		testEntry{user: "writer", db: "test", password: "p", roles: []RoleRef{{"readWrite", "test"}}},
		testEntry{user: "any", db: "admin", password: "p", roles: []RoleRef{{"readAnyDatabase", "admin"}}},
		testEntry{user: "anyrw", db: "admin", password: "p", roles: []RoleRef{{"readWriteAnyDatabase", "admin"}}},
		testEntry{user: "ops", db: "admin", password: "p", roles: []RoleRef{{"clusterAdmin", "admin"}}},
		testEntry{user: "root", db: "admin", password: "p", roles: []RoleRef{{"root", "admin"}}},
		testEntry{user: "killer", db: "admin", password: "p", roles: []RoleRef{{"sessionKiller", "admin"}, {"read", "test"}}},
		testEntry{user: "imp", db: "admin", password: "p", roles: []RoleRef{{"impersonator", "admin"}}},
		testEntry{user: "logs", db: "app", password: "p", roles: []RoleRef{{"logsOnly", "app"}}},
	)
	internal, err := InternalUser("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	user := func(name, db string) *User {
		if name == "__system" {
			return internal
		}
		u := users.Lookup(name, db)
		if u == nil {
			t.Fatalf("no user %s@%s", name, db)
		}
		return u
	}
	cluster := ClusterResource()
	tests := []struct {
		user, db string
		action   string
		res      Resource
		want     bool
	}{
		{"reader", "test", "find", NSResource("test", "c"), true},
		{"reader", "test", "listCollections", DBResource("test"), true},
		{"reader", "test", "insert", NSResource("test", "c"), false},
		{"reader", "test", "find", NSResource("other", "c"), false},
		{"reader", "test", "find", NSResource("test", "system.users"), false},
		{"reader", "test", "killAnySession", cluster, false},
		{"writer", "test", "insert", NSResource("test", "c"), true},
		{"writer", "test", "remove", NSResource("test", "c"), true},
		{"writer", "test", "dropDatabase", DBResource("test"), false},
		{"any", "admin", "find", NSResource("whatever", "c"), true},
		{"any", "admin", "find", NSResource("local", "oplog.rs"), false},
		{"any", "admin", "find", NSResource("config", "system.sessions"), false},
		{"any", "admin", "listDatabases", cluster, true},
		{"any", "admin", "insert", NSResource("whatever", "c"), false},
		{"anyrw", "admin", "update", NSResource("whatever", "c"), true},
		{"ops", "admin", "killAnySession", cluster, true},
		{"ops", "admin", "listSessions", cluster, true},
		{"ops", "admin", "serverStatus", cluster, true},
		{"ops", "admin", "impersonate", cluster, false},
		{"ops", "admin", "find", NSResource("test", "c"), false},
		{"ops", "admin", "dropDatabase", DBResource("test"), true},
		{"root", "admin", "killAnySession", cluster, true},
		{"root", "admin", "listSessions", cluster, true},
		{"root", "admin", "insert", NSResource("test", "c"), true},
		{"root", "admin", "impersonate", cluster, false},
		{"root", "admin", "anyAction", cluster, false},
		{"killer", "admin", "killAnySession", cluster, true},
		{"killer", "admin", "listSessions", cluster, false},
		{"killer", "admin", "find", NSResource("test", "c"), true},
		{"imp", "admin", "impersonate", cluster, true},
		{"imp", "admin", "killAnySession", cluster, true}, // inherited
		{"logs", "app", "find", NSResource("app", "logs"), true},
		{"logs", "app", "find", NSResource("app", "other"), false},
		{"logs", "app", "insert", NSResource("elsewhere", "audit"), true},
		{"logs", "app", "insert", DBResource("elsewhere"), false},
		{"__system", "local", "impersonate", cluster, true},
		{"__system", "local", "find", NSResource("local", "oplog.rs"), true},
		{"__system", "local", "anything", NSResource("config", "system.sessions"), true},
	}
	for _, tt := range tests {
		name := tt.user + "/" + tt.action + "/" + tt.res.String()
		t.Run(name, func(t *testing.T) {
			if got := user(tt.user, tt.db).Can(tt.action, tt.res); got != tt.want {
				t.Fatalf("Can = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRoleErrors(t *testing.T) {
	tests := []struct {
		name    string
		roles   []RoleDef
		refs    []RoleRef
		wantErr string
	}{
		{"unknown role", nil, []RoleRef{{"nope", "test"}}, "no role named nope@test"},
		{"cluster role off admin", nil, []RoleRef{{"root", "test"}}, "no role named root@test"},
		{"unknown action", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Cluster: true}, Actions: []string{"fly"}}}}},
			[]RoleRef{{"r", "admin"}}, "unrecognized action privilege string: fly"},
		{"no action", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Cluster: true}}}}},
			[]RoleRef{{"r", "admin"}}, "at least one action"},
		{"half a namespace", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{DB: ptr("x")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, "needs both db and collection"},
		{"cluster and namespace", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Cluster: true, DB: ptr("x"), Collection: ptr("")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, "either {cluster: true}"},
		{"cycle", []RoleDef{{Role: "a", DB: "admin", Roles: []RoleRef{{"b", "admin"}}}, {Role: "b", DB: "admin", Roles: []RoleRef{{"a", "admin"}}}},
			[]RoleRef{{"a", "admin"}}, "inherits itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			custom := map[string]*RoleDef{}
			for i := range tt.roles {
				custom[roleKey(tt.roles[i].Role, tt.roles[i].DB)] = &tt.roles[i]
			}
			_, err := resolveRoles(tt.refs, custom)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestAuthorizedForDB(t *testing.T) {
	users := usersFrom(t, nil,
		testEntry{user: "reader", db: "test", password: "p", roles: []RoleRef{{"read", "test"}}},
		testEntry{user: "any", db: "admin", password: "p", roles: []RoleRef{{"readAnyDatabase", "admin"}}},
	)
	tests := []struct {
		user, udb, db string
		want          bool
	}{
		{"reader", "test", "test", true},
		{"reader", "test", "other", false},
		{"any", "admin", "other", true},
		{"any", "admin", "local", false},
	}
	for _, tt := range tests {
		if got := users.Lookup(tt.user, tt.udb).AuthorizedForDB(tt.db); got != tt.want {
			t.Errorf("%s AuthorizedForDB(%s) = %v, want %v", tt.user, tt.db, got, tt.want)
		}
	}
}
