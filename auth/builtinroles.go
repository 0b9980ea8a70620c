package auth

import (
	"cmp"
	"slices"
	"strings"
)

// The built-in roles of mongod 8.0, as src/mongo/db/auth/builtin_roles.yml defines them and
// builtin_roles.tpl.cpp expands them: every role, every action set, every resource pattern. A
// pattern's empty db (on patDB and patExactNS) stands for the database the role is granted on.

// Action sets that several roles share.
var (
	readActions = []string{"changeStream", "collStats", "dbHash", "dbStats", "find", "killCursors",
		"listCollections", "listIndexes", "listSearchIndexes", "performRawDataOperations", "planCacheRead"}
	readWriteActions = slices.Concat(readActions, []string{"cleanupStructuredEncryptionData",
		"compactStructuredEncryptionData", "convertToCapped", "createCollection", "createIndex",
		"createSearchIndexes", "dropCollection", "dropIndex", "dropSearchIndex", "insert", "remove",
		"renameCollectionSameDB", "update", "updateSearchIndex"})
	userAdminActions = []string{"changeCustomData", "changePassword", "createRole", "createUser",
		"dropRole", "dropUser", "grantRole", "revokeRole", "setAuthenticationRestriction", "viewRole",
		"viewUser"}
	dbAdminActions = []string{"analyze", "bypassDocumentValidation", "collMod", "collStats", "compact",
		"convertToCapped", "createCollection", "createIndex", "createSearchIndexes", "dbStats",
		"dropCollection", "dropDatabase", "dropIndex", "dropSearchIndex", "enableProfiler",
		"listCollections", "listIndexes", "listSearchIndexes", "planCacheIndexFilter", "planCacheRead",
		"planCacheWrite", "reIndex", "renameCollectionSameDB", "storageDetails", "updateSearchIndex",
		"validate"}
	// dbAdminSingleTenantActions are granted only outside multitenancy, which is always here.
	dbAdminSingleTenantActions = []string{"configureQueryAnalyzer"}
	// profileActions are what dbAdmin and dbAdminAnyDatabase may do on system.profile.
	profileActions          = slices.Concat(readActions, []string{"convertToCapped", "createCollection", "dropCollection"})
	readAndIndexActions     = slices.Concat(readActions, []string{"createIndex", "createSearchIndexes", "dropIndex", "dropSearchIndex"})
	clusterMonitorOnCluster = []string{"allCollectionStats", "connPoolStats", "getCmdLineOpts",
		"getDefaultRWConcern", "getLog", "getParameter", "getShardMap", "hostInfo", "inprog",
		"listClusterCatalog", "listDatabases", "listSampledQueries", "listSessions", "listShards",
		"netstat", "operationMetrics", "queryStatsRead", "queryStatsReadTransformed", "replSetGetConfig",
		"replSetGetStatus", "serverStatus", "shardedDataDistribution", "shardingState", "top", "useUUID"}
	clusterMonitorOnDatabases = []string{"collStats", "dbStats", "getDatabaseVersion", "getShardVersion",
		"indexStats"}
	hostManagerOnCluster = []string{"applicationMessage", "auditConfigure", "compact", "connPoolSync",
		"dropConnections", "flushRouterConfig", "fsync", "invalidateUserCache", "killAnyCursor",
		"killAnySession", "killop", "logRotate", "oidReset", "oidcListKeys", "oidcRefreshKeys",
		"replSetResizeOplog", "resync", "rotateCertificates", "setParameter", "shutdown", "touch",
		"trafficRecord", "unlock"}
	clusterManagerOnCluster = []string{"addShard", "appendOplogNote", "applicationMessage",
		"checkMetadataConsistency", "cleanupOrphaned", "flushRouterConfig", "getChangeStreamState",
		"getClusterParameter", "getDefaultRWConcern", "listSessions", "listShards", "querySettings",
		"removeShard", "replSetConfigure", "replSetGetConfig", "replSetGetStatus", "replSetStateChange",
		"resync", "setChangeStreamState", "setClusterParameter", "setDefaultRWConcern",
		"setFeatureCompatibilityVersion", "transitionFromDedicatedConfigServer",
		"transitionToDedicatedConfigServer"}
	clusterManagerOnDatabases = []string{"analyzeShardKey", "clearJumboFlag", "configureQueryAnalyzer",
		"enableSharding", "moveChunk", "moveCollection", "refineCollectionShardKey", "reshardCollection",
		"splitChunk", "splitVector", "unshardCollection"}
	writeActions        = []string{"insert", "remove", "update"}
	restoreWriteActions = []string{"bypassDocumentValidation", "collMod", "convertToCapped",
		"createCollection", "createIndex", "createSearchIndexes", "dropCollection", "insert",
		"performRawDataOperations", "updateSearchIndex"}
	findOnly = []string{"find"}
)

// Resource patterns of the table.
var (
	clusterPattern          = pattern{kind: patCluster}
	anyResourcePattern      = pattern{kind: patAnyResource}
	anyNormalPattern        = pattern{kind: patAnyNormal}
	anySystemBucketsPattern = pattern{kind: patAnySystemBuckets}
	ownDBPattern            = dbPattern("")
)

func dbPattern(db string) pattern           { return pattern{kind: patDB, db: db} }
func nsPattern(db, coll string) pattern     { return pattern{kind: patExactNS, db: db, coll: coll} }
func collectionPattern(coll string) pattern { return pattern{kind: patCollection, coll: coll} }

// roleGrant is one privilege of a built-in role.
type roleGrant struct {
	on      pattern
	actions []string
}

// builtinDef is a built-in role: the roles it inherits (RoleRef.DB "" is the role's own
// database), its own grants, and whether it exists only on admin.
type builtinDef struct {
	adminOnly bool
	inherits  []RoleRef
	grants    []roleGrant
}

func inherit(roles ...string) []RoleRef {
	out := make([]RoleRef, len(roles))
	for i, r := range roles {
		out[i] = RoleRef{Role: r}
	}
	return out
}

var builtinRoles = map[string]builtinDef{
	"read": {grants: []roleGrant{
		{ownDBPattern, readActions},
		{nsPattern("", "system.js"), readActions},
	}},
	"readWrite": {grants: []roleGrant{
		{ownDBPattern, readWriteActions},
		{nsPattern("", "system.js"), readWriteActions},
	}},
	"userAdmin": {grants: []roleGrant{{ownDBPattern, userAdminActions}}},
	"dbAdmin": {grants: []roleGrant{
		{ownDBPattern, dbAdminActions},
		{ownDBPattern, dbAdminSingleTenantActions},
		{nsPattern("", "system.profile"), profileActions},
	}},
	"dbOwner": {inherits: inherit("readWrite", "dbAdmin", "userAdmin")},
	"enableSharding": {grants: []roleGrant{{anyNormalPattern, []string{"analyzeShardKey", "enableSharding",
		"moveCollection", "refineCollectionShardKey", "reshardCollection", "unshardCollection"}}}},
	"readAnyDatabase": {adminOnly: true, grants: []roleGrant{
		{anyNormalPattern, readActions},
		{clusterPattern, []string{"listDatabases"}},
		{collectionPattern("system.js"), readActions},
		{anySystemBucketsPattern, readActions},
	}},
	"readWriteAnyDatabase": {adminOnly: true, inherits: inherit("readAnyDatabase"), grants: []roleGrant{
		{anyNormalPattern, readWriteActions},
		{collectionPattern("system.js"), readWriteActions},
		{anySystemBucketsPattern, readWriteActions},
	}},
	"userAdminAnyDatabase": {adminOnly: true, grants: []roleGrant{
		{anyNormalPattern, slices.Concat(userAdminActions, []string{"listCachedAndActiveUsers"})},
		{dbPattern("local"), userAdminActions},
		{dbPattern("config"), userAdminActions},
		{clusterPattern, []string{"authSchemaUpgrade", "invalidateUserCache", "listDatabases", "viewUser"}},
		{nsPattern("admin", "system.users"), readAndIndexActions},
		{nsPattern("admin", "system.roles"), readAndIndexActions},
		{collectionPattern("system.users"), readActions},
		{nsPattern("admin", "system.version"), readActions},
		{nsPattern("admin", "system.backup_users"), readActions},
	}},
	"dbAdminAnyDatabase": {adminOnly: true, grants: []roleGrant{
		{clusterPattern, []string{"applyOps", "listDatabases"}},
		{anyNormalPattern, dbAdminActions},
		{anyNormalPattern, dbAdminSingleTenantActions},
		{collectionPattern("system.profile"), profileActions},
		{anySystemBucketsPattern, dbAdminActions},
	}},
	"clusterMonitor": {adminOnly: true, inherits: []RoleRef{{"read", "config"}, {"read", "local"}}, grants: []roleGrant{
		{clusterPattern, clusterMonitorOnCluster},
		{anyNormalPattern, clusterMonitorOnDatabases},
		{anySystemBucketsPattern, clusterMonitorOnDatabases},
		{dbPattern("config"), clusterMonitorOnDatabases},
		{nsPattern("config", "system.sessions"), clusterMonitorOnDatabases},
		{dbPattern("local"), clusterMonitorOnDatabases},
		{nsPattern("local", "system.replset"), findOnly},
		{nsPattern("local", "replset.election"), findOnly},
		{nsPattern("local", "replset.minvalid"), findOnly},
		{collectionPattern("system.profile"), findOnly},
	}},
	"hostManager": {adminOnly: true, grants: []roleGrant{
		{clusterPattern, hostManagerOnCluster},
		{anyNormalPattern, []string{"killCursors"}},
	}},
	"clusterManager": {adminOnly: true, inherits: []RoleRef{{"read", "config"}}, grants: []roleGrant{
		{clusterPattern, clusterManagerOnCluster},
		{anyNormalPattern, clusterManagerOnDatabases},
		{anySystemBucketsPattern, clusterManagerOnDatabases},
		{dbPattern("config"), clusterManagerOnDatabases},
		{dbPattern("local"), clusterManagerOnDatabases},
		{nsPattern("local", "system.replset"), readActions},
		{anyResourcePattern, []string{"dbCheck"}},
		{nsPattern("local", "system.healthlog"), readActions},
		{dbPattern("config"), writeActions},
		{dbPattern("local"), writeActions},
		{nsPattern("local", "replset.election"), writeActions},
		{nsPattern("local", "replset.minvalid"), writeActions},
	}},
	"clusterAdmin": {adminOnly: true, inherits: inherit("clusterMonitor", "hostManager", "clusterManager"), grants: []roleGrant{
		{anyNormalPattern, []string{"dropDatabase"}},
		{anyResourcePattern, []string{"exportCollection", "importCollection"}},
	}},
	"__queryableBackup": {adminOnly: true, grants: []roleGrant{
		{anyResourcePattern, []string{"collStats", "listCollections", "listIndexes", "listSearchIndexes"}},
		{anyNormalPattern, []string{"find", "performRawDataOperations"}},
		{anySystemBucketsPattern, []string{"find", "performRawDataOperations"}},
		{clusterPattern, []string{"getParameter", "listDatabases", "useUUID"}},
		{dbPattern("config"), findOnly},
		{dbPattern("local"), findOnly},
		{nsPattern("local", "replset.election"), findOnly},
		{nsPattern("local", "replset.minvalid"), findOnly},
		{collectionPattern("system.js"), findOnly},
		{collectionPattern("system.users"), findOnly},
		{collectionPattern("system.profile"), findOnly},
		{nsPattern("admin", "system.backup_users"), findOnly},
		{nsPattern("admin", "system.roles"), findOnly},
		{nsPattern("admin", "system.version"), findOnly},
		{nsPattern("config", "settings"), findOnly},
	}},
	"backup": {adminOnly: true, inherits: inherit("__queryableBackup"), grants: []roleGrant{
		{clusterPattern, []string{"appendOplogNote", "serverStatus", "setUserWriteBlockMode"}},
		{nsPattern("config", "settings"), []string{"insert", "update"}},
	}},
	"restore": {adminOnly: true, grants: []roleGrant{
		{clusterPattern, []string{"applyOps", "bypassWriteBlockingMode", "forceUUID", "getParameter",
			"setUserWriteBlockMode", "useUUID"}},
		{dbPattern("local"), restoreWriteActions},
		{dbPattern("config"), restoreWriteActions},
		{anySystemBucketsPattern, restoreWriteActions},
		{nsPattern("local", "system.replset"), restoreWriteActions},
		{nsPattern("local", "replset.election"), restoreWriteActions},
		{nsPattern("local", "replset.minvalid"), restoreWriteActions},
		{anyResourcePattern, []string{"listCollections"}},
		{anyNormalPattern, slices.Concat(restoreWriteActions, userAdminActions)},
		{collectionPattern("system.js"), restoreWriteActions},
		{nsPattern("admin", "tempusers"), findOnly},
		{nsPattern("admin", "temproles"), findOnly},
		{nsPattern("admin", "system.backup_users"), restoreWriteActions},
		{nsPattern("admin", "system.version"), slices.Concat(restoreWriteActions, findOnly)},
		{collectionPattern("system.users"), slices.Concat(restoreWriteActions, []string{"find", "remove", "update"})},
		{nsPattern("admin", "system.roles"), []string{"createIndex"}},
		{collectionPattern("system.views"), []string{"dropCollection"}},
	}},
	"root": {adminOnly: true, inherits: inherit("clusterAdmin", "userAdminAnyDatabase", "dbAdminAnyDatabase",
		"readWriteAnyDatabase", "backup", "restore", "directShardOperations"), grants: []roleGrant{
		{anyResourcePattern, []string{"validate"}},
		{clusterPattern, []string{"bypassDefaultMaxTimeMS", "useTenant"}},
		{nsPattern("config", "system.preimages"), []string{"find", "remove"}},
		{nsPattern("config", "system.change_collection"), []string{"find", "insert", "remove", "update"}},
	}},
	"directShardOperations": {adminOnly: true, grants: []roleGrant{{clusterPattern, []string{"issueDirectShardOperations"}}}},
	// __system holds every action on every resource (builtin_roles.tpl.cpp special-cases it).
	"__system": {adminOnly: true, grants: []roleGrant{{anyResourcePattern, []string{ActionAnyAction}}}},
}

// systemPrivileges are those of the internal user's role, __system.
var systemPrivileges, _ = builtinRole("__system", "admin")

// builtinRole returns the grants of the built-in role name@db, or false if there is none: the
// roles of one database exist on every database, the others only on admin, and none on $external
// or on a name that is no valid database name (auth::addPrivilegesForBuiltinRole).
func builtinRole(name, db string) (privileges, bool) {
	def, ok := builtinRoles[name]
	if !ok || db == ExternalDB || !validDBName(db) || (def.adminOnly && db != "admin") {
		return nil, false
	}
	var out privileges
	for _, in := range def.inherits {
		ps, _ := builtinRole(in.Role, cmp.Or(in.DB, db)) // the table's inheritance is checked by a test
		out.merge(ps)
	}
	for _, g := range def.grants {
		p := g.on
		if p.db == "" && (p.kind == patDB || p.kind == patExactNS) {
			p.db = db
		}
		out.add(p, g.actions)
	}
	return out, true
}

// validDBName is NamespaceString::validDBName (with '$' allowed): 1 to 63 bytes, none of NUL, '/',
// '\\', '.', ' ' or '"'.
func validDBName(db string) bool {
	return db != "" && len(db) < 64 && !strings.ContainsAny(db, "\x00/\\. \"")
}
