package auth

import (
	"cmp"
	"testing"
)

// grantRow is one expectation of a role: may it do action on res?
type grantRow struct {
	action string
	res    Resource
	want   bool
}

func allow(action string, res Resource) grantRow { return grantRow{action, res, true} }
func deny(action string, res Resource) grantRow  { return grantRow{action, res, false} }

func resNS(db, coll string) Resource { return NSResource(db, coll) }
func resDB(name string) Resource     { return DBResource(name) }

// TestBuiltinRoles checks every built-in role against rows read off mongod 8.0's
// builtin_roles.yml and the resource search rules of resource_pattern_search_list.h: what each
// role grants, and what it leaves out (system collections, local and config, the cluster).
func TestBuiltinRoles(t *testing.T) {
	clusterRes := ClusterResource()
	tests := []struct {
		role, db string
		rows     []grantRow
	}{
		{"read", "test", []grantRow{
			allow("find", resNS("test", "c")), allow("listCollections", resDB("test")), allow("killCursors", resNS("test", "c")),
			allow("listSearchIndexes", resNS("test", "c")), allow("changeStream", resNS("test", "c")),
			allow("find", resNS("test", "system.js")),
			deny("find", resNS("test", "system.users")), deny("find", resNS("test", "system.profile")),
			deny("find", resNS("test", "system.buckets.ts")), deny("find", resNS("other", "c")),
			deny("find", resNS("other", "system.js")), deny("insert", resNS("test", "c")), deny("dropDatabase", resDB("test")),
			deny("listDatabases", clusterRes),
		}},
		{"read", "local", []grantRow{
			allow("find", resNS("local", "oplog.rs")), allow("find", resNS("local", "startup_log")),
			deny("find", resNS("local", "replset.minvalid")), deny("find", resNS("local", "system.replset")),
		}},
		{"read", "config", []grantRow{
			allow("find", resNS("config", "shards")), deny("find", resNS("config", "system.sessions")),
		}},
		{"readWrite", "test", []grantRow{
			allow("find", resNS("test", "c")), allow("insert", resNS("test", "c")), allow("update", resNS("test", "c")),
			allow("remove", resNS("test", "c")), allow("createIndex", resNS("test", "c")), allow("dropCollection", resNS("test", "c")),
			allow("renameCollectionSameDB", resNS("test", "c")), allow("insert", resNS("test", "system.js")),
			deny("insert", resNS("test", "system.users")), deny("insert", resNS("test", "system.profile")),
			deny("dropDatabase", resDB("test")), deny("collMod", resNS("test", "c")), deny("insert", resNS("other", "c")),
		}},
		{"dbAdmin", "test", []grantRow{
			allow("dropDatabase", resDB("test")), allow("collMod", resNS("test", "c")), allow("enableProfiler", resDB("test")),
			allow("configureQueryAnalyzer", resNS("test", "c")), allow("find", resNS("test", "system.profile")),
			allow("dropCollection", resNS("test", "system.profile")),
			deny("find", resNS("test", "c")), deny("insert", resNS("test", "c")), deny("insert", resNS("test", "system.profile")),
			deny("createUser", resDB("test")), deny("dropDatabase", resDB("other")),
		}},
		{"userAdmin", "test", []grantRow{
			allow("createUser", resDB("test")), allow("grantRole", resDB("test")), allow("viewRole", resDB("test")),
			deny("createUser", resDB("other")), deny("find", resNS("test", "c")), deny("find", resNS("test", "system.users")),
		}},
		{"dbOwner", "test", []grantRow{
			allow("insert", resNS("test", "c")), allow("dropDatabase", resDB("test")), allow("createUser", resDB("test")),
			allow("find", resNS("test", "system.profile")), allow("insert", resNS("test", "system.js")),
			deny("find", resNS("test", "system.users")), deny("find", resNS("other", "c")), deny("listDatabases", clusterRes),
		}},
		{"enableSharding", "test", []grantRow{ // a role of every database that reaches every database
			allow("enableSharding", resDB("other")), allow("reshardCollection", resNS("other", "c")),
			allow("moveCollection", resNS("other", "c")), allow("unshardCollection", resNS("other", "c")),
			deny("enableSharding", resDB("config")), deny("find", resNS("other", "c")), deny("moveChunk", resNS("other", "c")),
		}},
		{"readAnyDatabase", "admin", []grantRow{
			allow("find", resNS("x", "c")), allow("listCollections", resDB("x")), allow("listDatabases", clusterRes),
			allow("find", resNS("x", "system.js")), allow("find", resNS("config", "system.js")),
			allow("find", resNS("x", "system.buckets.ts")),
			deny("find", resNS("local", "oplog.rs")), deny("find", resNS("config", "shards")), deny("listCollections", resDB("config")),
			deny("find", resNS("x", "system.users")), deny("find", resNS("x", "system.profile")), deny("insert", resNS("x", "c")),
		}},
		{"readWriteAnyDatabase", "admin", []grantRow{
			allow("find", resNS("x", "c")), allow("insert", resNS("x", "c")), allow("remove", resNS("x", "c")),
			allow("insert", resNS("x", "system.buckets.ts")), allow("update", resNS("x", "system.js")),
			allow("listDatabases", clusterRes),
			deny("find", resNS("config", "shards")), deny("insert", resNS("config", "shards")), deny("insert", resNS("local", "oplog.rs")),
			deny("insert", resNS("x", "system.users")), deny("dropDatabase", resDB("x")), deny("collMod", resNS("x", "c")),
		}},
		{"userAdminAnyDatabase", "admin", []grantRow{
			allow("createUser", resDB("x")), allow("createUser", resDB("local")), allow("createUser", resDB("config")),
			allow("listCachedAndActiveUsers", resDB("x")), allow("invalidateUserCache", clusterRes), allow("viewUser", clusterRes),
			allow("find", resNS("admin", "system.users")), allow("createIndex", resNS("admin", "system.roles")),
			allow("find", resNS("x", "system.users")), allow("find", resNS("admin", "system.version")),
			deny("insert", resNS("admin", "system.users")), deny("createIndex", resNS("x", "system.users")),
			deny("find", resNS("x", "c")), deny("find", resNS("config", "shards")),
		}},
		{"dbAdminAnyDatabase", "admin", []grantRow{
			allow("dropDatabase", resDB("x")), allow("collMod", resNS("x", "c")), allow("applyOps", clusterRes),
			allow("find", resNS("x", "system.profile")), allow("collMod", resNS("x", "system.buckets.ts")),
			allow("configureQueryAnalyzer", resNS("x", "c")),
			deny("dropDatabase", resDB("config")), deny("find", resNS("x", "c")), deny("find", resNS("x", "system.buckets.ts")),
			deny("collMod", resNS("local", "oplog.rs")),
		}},
		{"clusterMonitor", "admin", []grantRow{
			allow("find", resNS("config", "shards")), allow("find", resNS("config", "system.js")), allow("find", resNS("local", "oplog.rs")),
			allow("find", resNS("local", "system.replset")), allow("find", resNS("local", "replset.minvalid")),
			allow("find", resNS("local", "replset.election")), allow("find", resNS("x", "system.profile")),
			allow("collStats", resNS("config", "system.sessions")), allow("indexStats", resNS("x", "c")),
			allow("getShardVersion", resNS("x", "system.buckets.ts")), allow("serverStatus", clusterRes),
			allow("listSessions", clusterRes), allow("listShards", clusterRes), allow("listDatabases", clusterRes),
			allow("inprog", clusterRes), allow("queryStatsRead", clusterRes),
			deny("find", resNS("config", "system.sessions")), deny("find", resNS("local", "replset.oplogTruncateAfterPoint")),
			deny("find", resNS("x", "c")), deny("insert", resNS("config", "shards")), deny("killAnySession", clusterRes),
			deny("shutdown", clusterRes),
		}},
		{"hostManager", "admin", []grantRow{
			allow("killAnySession", clusterRes), allow("killAnyCursor", clusterRes), allow("killop", clusterRes),
			allow("shutdown", clusterRes), allow("compact", clusterRes), allow("killCursors", resNS("x", "c")),
			deny("killCursors", resNS("config", "shards")), deny("listSessions", clusterRes),
			deny("find", resNS("x", "c")), deny("find", resNS("config", "shards")),
		}},
		{"clusterManager", "admin", []grantRow{
			allow("find", resNS("config", "shards")), allow("insert", resNS("config", "chunks")), allow("update", resNS("config", "settings")),
			allow("remove", resNS("config", "databases")), allow("insert", resNS("local", "oplog.rs")),
			allow("update", resNS("local", "replset.minvalid")), allow("find", resNS("local", "system.replset")),
			allow("find", resNS("local", "system.healthlog")), allow("dbCheck", resNS("x", "system.users")),
			allow("addShard", clusterRes), allow("removeShard", clusterRes), allow("querySettings", clusterRes),
			allow("enableSharding", resDB("x")), allow("moveChunk", resNS("x", "c")), allow("unshardCollection", resNS("x", "c")),
			allow("moveChunk", resNS("x", "system.buckets.ts")), allow("moveChunk", resNS("config", "c")),
			deny("find", resNS("local", "oplog.rs")), deny("insert", resNS("local", "system.replset")),
			deny("insert", resNS("config", "system.sessions")), deny("find", resNS("x", "c")), deny("serverStatus", clusterRes),
		}},
		{"clusterAdmin", "admin", []grantRow{
			allow("find", resNS("config", "shards")), allow("find", resNS("local", "oplog.rs")), allow("dropDatabase", resDB("x")),
			allow("importCollection", resNS("x", "c")), allow("exportCollection", resNS("config", "system.sessions")),
			allow("killAnySession", clusterRes), allow("serverStatus", clusterRes), allow("addShard", clusterRes),
			deny("dropDatabase", resDB("config")), deny("find", resNS("x", "c")), deny("insert", resNS("x", "c")),
			deny("impersonate", clusterRes), deny("issueDirectShardOperations", clusterRes),
		}},
		{"__queryableBackup", "admin", []grantRow{
			allow("find", resNS("x", "c")), allow("find", resNS("config", "shards")), allow("find", resNS("config", "settings")),
			allow("listCollections", resDB("local")), deny("insert", resNS("config", "settings")),
		}},
		{"backup", "admin", []grantRow{
			allow("find", resNS("x", "c")), allow("find", resNS("config", "shards")), allow("find", resNS("local", "oplog.rs")),
			allow("find", resNS("local", "replset.minvalid")), allow("find", resNS("x", "system.users")),
			allow("find", resNS("admin", "system.roles")), allow("find", resNS("x", "system.buckets.ts")),
			allow("listCollections", resDB("x")), allow("listIndexes", resNS("config", "system.sessions")),
			allow("insert", resNS("config", "settings")), allow("serverStatus", clusterRes),
			deny("insert", resNS("config", "shards")), deny("insert", resNS("x", "c")), deny("find", resNS("config", "system.sessions")),
		}},
		{"restore", "admin", []grantRow{
			allow("insert", resNS("x", "c")), allow("insert", resNS("local", "oplog.rs")), allow("insert", resNS("config", "shards")),
			allow("createUser", resDB("x")), allow("insert", resNS("x", "system.users")), allow("remove", resNS("x", "system.users")),
			allow("find", resNS("admin", "tempusers")), allow("dropCollection", resNS("x", "system.views")),
			allow("createIndex", resNS("admin", "system.roles")), allow("listCollections", resDB("config")), allow("applyOps", clusterRes),
			deny("find", resNS("x", "c")), deny("remove", resNS("x", "c")), deny("insert", resNS("admin", "system.roles")),
		}},
		{"root", "admin", []grantRow{
			allow("find", resNS("config", "shards")), allow("find", resNS("config", "databases")), allow("find", resNS("config", "system.js")),
			allow("find", resNS("local", "oplog.rs")), allow("find", resNS("local", "replset.minvalid")),
			allow("find", resNS("x", "c")), allow("insert", resNS("x", "c")), allow("dropDatabase", resDB("x")), allow("createUser", resDB("x")),
			allow("find", resNS("x", "system.users")), allow("validate", resNS("x", "system.users")),
			allow("find", resNS("x", "system.buckets.ts")), allow("find", resNS("config", "system.preimages")),
			allow("insert", resNS("local", "system.replset")), allow("killAnySession", clusterRes),
			allow("bypassDefaultMaxTimeMS", clusterRes), allow("issueDirectShardOperations", clusterRes),
			deny("impersonate", clusterRes), deny("anyAction", clusterRes), deny("anyAction", resNS("x", "c")),
			deny("internal", clusterRes), deny("find", resNS("config", "system.sessions")),
			deny("update", resNS("local", "system.replset")),
		}},
		{"directShardOperations", "admin", []grantRow{
			allow("issueDirectShardOperations", clusterRes), deny("find", resNS("x", "c")),
		}},
		{"__system", "admin", []grantRow{
			allow("impersonate", clusterRes), allow("anyAction", clusterRes), allow("internal", clusterRes),
			allow("find", resNS("config", "system.sessions")), allow("insert", resNS("local", "oplog.rs")),
		}},
	}
	for _, tt := range tests {
		ps, ok := builtinRole(tt.role, tt.db)
		if !ok {
			t.Errorf("%s@%s is not a built-in role", tt.role, tt.db)
			continue
		}
		for _, r := range tt.rows {
			if got := ps.can(r.action, r.res); got != r.want {
				t.Errorf("%s@%s %s on %s = %v, want %v", tt.role, tt.db, r.action, r.res, got, r.want)
			}
		}
	}
}

// TestShStatusReads: sh.status() reads these config collections; the cluster roles may, the
// roles of "any database" may not (local and config are outside them).
func TestShStatusReads(t *testing.T) {
	roles := []string{"clusterMonitor", "clusterManager", "clusterAdmin", "root", "readWriteAnyDatabase", "readAnyDatabase"}
	var entries []testEntry
	for _, r := range roles {
		entries = append(entries, testEntry{user: r, db: "admin", password: "p", roles: []RoleRef{{r, "admin"}}})
	}
	users := usersFrom(t, nil, entries...)
	want := map[string]bool{"clusterMonitor": true, "clusterManager": true, "clusterAdmin": true, "root": true}
	for _, r := range roles {
		u := users.Lookup(r, "admin")
		for _, coll := range []string{"shards", "databases", "collections", "chunks", "version", "mongos", "settings"} {
			if got := u.Can(ActionFind, NSResource("config", coll)); got != want[r] {
				t.Errorf("%s find config.%s = %v, want %v", r, coll, got, want[r])
			}
		}
	}
}

func TestBuiltinRoleExists(t *testing.T) {
	tests := []struct {
		role, db string
		want     bool
	}{
		{"read", "test", true},
		{"read", "admin", true},
		{"enableSharding", "test", true},
		{"root", "admin", true},
		{"__system", "admin", true},
		{"root", "test", false},
		{"clusterMonitor", "local", false},
		{"__system", "local", false},
		{"read", ExternalDB, false},
		{"read", "", false},
		{"read", "a.b", false},
		{"read", "a b", false},
		{"nope", "admin", false},
	}
	for _, tt := range tests {
		if _, ok := builtinRole(tt.role, tt.db); ok != tt.want {
			t.Errorf("builtinRole(%s, %q) exists = %v, want %v", tt.role, tt.db, ok, tt.want)
		}
	}
}

// TestBuiltinTableIsWellFormed: every role the table inherits exists where it is inherited, and
// every action it grants is one of mongod's.
func TestBuiltinTableIsWellFormed(t *testing.T) {
	for name, def := range builtinRoles {
		roleDB := "admin"
		for _, in := range def.inherits {
			if _, ok := builtinRole(in.Role, cmp.Or(in.DB, roleDB)); !ok {
				t.Errorf("%s inherits %s@%s, which is no built-in role", name, in.Role, cmp.Or(in.DB, roleDB))
			}
		}
		for _, g := range def.grants {
			if len(g.actions) == 0 {
				t.Errorf("%s grants nothing on %+v", name, g.on)
			}
			for _, a := range g.actions {
				if !knownActions[a] {
					t.Errorf("%s grants %q, which is no action of mongod's", name, a)
				}
			}
		}
	}
}
