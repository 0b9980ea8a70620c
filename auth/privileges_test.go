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
		{Role: "bucketsReader", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{DB: ptr("metrics"), SystemBuckets: ptr("")}, Actions: []string{"find"}}}},
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
		testEntry{user: "buckets", db: "admin", password: "p", roles: []RoleRef{{"bucketsReader", "admin"}}},
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
		{"buckets", "admin", "find", NSResource("metrics", "system.buckets.cpu"), true},
		{"buckets", "admin", "find", NSResource("metrics", "cpu"), false},
		{"buckets", "admin", "find", NSResource("other", "system.buckets.cpu"), false},
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

// TestGrantsMerge: grants of several roles on one pattern become one grant, as mongod's
// Privilege::addPrivilegeToPrivilegeVector merges them.
func TestGrantsMerge(t *testing.T) {
	ps, _, err := resolveRoles([]RoleRef{{"dbOwner", "test"}, {"read", "test"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// test (readWrite, dbAdmin, userAdmin, read), test.system.js, test.system.profile
	if len(ps) != 3 {
		t.Fatalf("%d grants, want 3: %+v", len(ps), ps)
	}
	for _, a := range []string{"insert", "dropDatabase", "createUser", "find"} {
		if !ps.can(a, DBResource("test")) {
			t.Errorf("merged grants lost %s on test", a)
		}
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
			[]RoleRef{{"r", "admin"}}, "needs cluster, anyResource, collection or system_buckets"},
		{"collection without db", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Collection: ptr("c")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, "needs a db too"},
		{"collection and system_buckets", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{DB: ptr("x"), Collection: ptr("c"), SystemBuckets: ptr("c")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, "not both"},
		{"anyResource and namespace", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{AnyResource: true, SystemBuckets: ptr("")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, "{anyResource: true} takes no other field"},
		{"invalid collection name", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{DB: ptr("x"), Collection: ptr("a$b")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, `"a$b" is not a valid collection name`},
		{"cluster and namespace", []RoleDef{{Role: "r", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{Cluster: true, DB: ptr("x"), Collection: ptr("")}, Actions: []string{"find"}}}}},
			[]RoleRef{{"r", "admin"}}, "{cluster: true} takes no other field"},
		{"cycle", []RoleDef{{Role: "a", DB: "admin", Roles: []RoleRef{{"b", "admin"}}}, {Role: "b", DB: "admin", Roles: []RoleRef{{"a", "admin"}}}},
			[]RoleRef{{"a", "admin"}}, "inherits itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			custom := map[string]*RoleDef{}
			for i := range tt.roles {
				custom[roleKey(tt.roles[i].Role, tt.roles[i].DB)] = &tt.roles[i]
			}
			_, _, err := resolveRoles(tt.refs, custom)
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
		// readAnyDatabase holds {db: "", collection: "system.js"}, and a collection-name grant
		// reaches every database (isAuthorizedForAnyActionOnAnyResourceInDB).
		{"any", "admin", "local", true},
		{"reader", "test", "local", false},
	}
	for _, tt := range tests {
		if got := users.Lookup(tt.user, tt.udb).AuthorizedForDB(tt.db); got != tt.want {
			t.Errorf("%s AuthorizedForDB(%s) = %v, want %v", tt.user, tt.db, got, tt.want)
		}
	}
}

// TestPatternMatches checks each pattern kind against mongod's resource search lists
// (resource_pattern_search_list.h): the patterns a database, a normal collection, a system
// collection and a time-series buckets collection are looked up under.
func TestPatternMatches(t *testing.T) {
	cluster := ClusterResource()
	tests := []struct {
		p    pattern
		res  Resource
		want bool
	}{
		{pattern{kind: patAnyResource}, cluster, true},
		{pattern{kind: patAnyResource}, NSResource("local", "system.replset"), true},
		{pattern{kind: patCluster}, cluster, true},
		{pattern{kind: patCluster}, DBResource("admin"), false},
		{pattern{kind: patAnyNormal}, cluster, false},
		{pattern{kind: patAnyNormal}, DBResource("x"), true},
		{pattern{kind: patAnyNormal}, DBResource("local"), false},
		{pattern{kind: patAnyNormal}, DBResource("config"), false},
		{pattern{kind: patAnyNormal}, NSResource("x", "c"), true},
		{pattern{kind: patAnyNormal}, NSResource("x", "system.js"), false},
		{pattern{kind: patAnyNormal}, NSResource("x", "system.buckets.ts"), false},
		{pattern{kind: patAnyNormal}, NSResource("config", "shards"), false},
		{pattern{kind: patAnyNormal}, NSResource("x", "replset.c"), true}, // replset.* is special only in local
		{pattern{kind: patDB, db: "x"}, DBResource("x"), true},
		{pattern{kind: patDB, db: "x"}, NSResource("x", "c"), true},
		{pattern{kind: patDB, db: "x"}, NSResource("x", "system.users"), false},
		{pattern{kind: patDB, db: "x"}, NSResource("y", "c"), false},
		{pattern{kind: patDB, db: "local"}, NSResource("local", "oplog.rs"), true},
		{pattern{kind: patDB, db: "local"}, NSResource("local", "replset.minvalid"), false},
		{pattern{kind: patDB, db: "config"}, NSResource("config", "system.sessions"), false},
		{pattern{kind: patCollection, coll: "system.js"}, NSResource("config", "system.js"), true},
		{pattern{kind: patCollection, coll: "c"}, NSResource("local", "c"), true},
		{pattern{kind: patCollection, coll: "c"}, DBResource("c"), false},
		{pattern{kind: patExactNS, db: "x", coll: "system.users"}, NSResource("x", "system.users"), true},
		{pattern{kind: patExactNS, db: "x", coll: "c"}, NSResource("y", "c"), false},
		{pattern{kind: patExactNS, db: "x", coll: "c"}, DBResource("x"), false},
		{pattern{kind: patAnySystemBuckets}, NSResource("x", "system.buckets.ts"), true},
		{pattern{kind: patAnySystemBuckets}, NSResource("config", "system.buckets.ts"), true},
		{pattern{kind: patAnySystemBuckets}, NSResource("x", "system.buckets."), false}, // no collection after the prefix
		{pattern{kind: patAnySystemBuckets}, NSResource("x", "ts"), false},
		{pattern{kind: patAnySystemBuckets}, DBResource("x"), false},
		{pattern{kind: patSystemBucketsInDB, db: "x"}, NSResource("x", "system.buckets.ts"), true},
		{pattern{kind: patSystemBucketsInDB, db: "x"}, NSResource("y", "system.buckets.ts"), false},
		{pattern{kind: patSystemBucketsInAnyDB, coll: "ts"}, NSResource("y", "system.buckets.ts"), true},
		{pattern{kind: patSystemBucketsInAnyDB, coll: "ts"}, NSResource("y", "system.buckets.other"), false},
		{pattern{kind: patExactSystemBuckets, db: "x", coll: "ts"}, NSResource("x", "system.buckets.ts"), true},
		{pattern{kind: patExactSystemBuckets, db: "x", coll: "ts"}, NSResource("x", "ts"), false},
	}
	for _, tt := range tests {
		if got := tt.p.matches(tt.res); got != tt.want {
			t.Errorf("%+v matches %s = %v, want %v", tt.p, tt.res, got, tt.want)
		}
	}
}

// TestResourceSpecPattern: the resource documents of createRole and the pattern each one is, as
// Privilege::resolvePrivilegeWithTenant reads them.
func TestResourceSpecPattern(t *testing.T) {
	tests := []struct {
		spec ResourceSpec
		want pattern
	}{
		{ResourceSpec{Cluster: true}, pattern{kind: patCluster}},
		{ResourceSpec{AnyResource: true}, pattern{kind: patAnyResource}},
		{ResourceSpec{DB: ptr(""), Collection: ptr("")}, pattern{kind: patAnyNormal}},
		{ResourceSpec{DB: ptr("x"), Collection: ptr("")}, pattern{kind: patDB, db: "x"}},
		{ResourceSpec{DB: ptr(""), Collection: ptr("c")}, pattern{kind: patCollection, coll: "c"}},
		{ResourceSpec{DB: ptr("x"), Collection: ptr("c")}, pattern{kind: patExactNS, db: "x", coll: "c"}},
		{ResourceSpec{DB: ptr("local"), Collection: ptr("oplog.$main")}, pattern{kind: patExactNS, db: "local", coll: "oplog.$main"}},
		{ResourceSpec{SystemBuckets: ptr("")}, pattern{kind: patAnySystemBuckets}},
		{ResourceSpec{DB: ptr(""), SystemBuckets: ptr("")}, pattern{kind: patAnySystemBuckets}},
		{ResourceSpec{DB: ptr("x"), SystemBuckets: ptr("")}, pattern{kind: patSystemBucketsInDB, db: "x"}},
		{ResourceSpec{SystemBuckets: ptr("ts")}, pattern{kind: patSystemBucketsInAnyDB, coll: "ts"}},
		{ResourceSpec{DB: ptr("x"), SystemBuckets: ptr("ts")}, pattern{kind: patExactSystemBuckets, db: "x", coll: "ts"}},
	}
	for _, tt := range tests {
		got, err := tt.spec.pattern()
		if err != nil || got != tt.want {
			t.Errorf("%+v: got %+v, %v; want %+v", tt.spec, got, err, tt.want)
		}
	}
	for _, bad := range []ResourceSpec{
		{DB: ptr("x"), Collection: ptr(".c")},
		{DB: ptr("x"), Collection: ptr("oplog.$main")}, // only local's is a real collection
		{DB: ptr("x"), Collection: ptr("a\x00b")},
		{Cluster: true, AnyResource: true},
		{},
	} {
		if p, err := bad.pattern(); err == nil {
			t.Errorf("%+v: accepted as %+v", bad, p)
		}
	}
}
