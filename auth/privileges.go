package auth

import (
	"fmt"
	"slices"
	"strings"
)

// Actions the router checks by name (any action of knownActions may appear in a role).
const (
	ActionAnyAction      = "anyAction" // matches every action, as in mongod
	ActionFind           = "find"
	ActionListDatabases  = "listDatabases"
	ActionKillAnySession = "killAnySession"
	ActionKillAnyCursor  = "killAnyCursor"
	ActionImpersonate    = "impersonate"
	ActionListSessions   = "listSessions"
)

// knownActions are mongod's action type names (src/mongo/db/auth/action_type.idl); a custom role
// naming anything else is refused when the users file loads, as mongod refuses it in createRole.
var knownActions = setOf(
	"addShard", "advanceClusterTime", "allCollectionStats", "analyze", "analyzeShardKey", "anyAction",
	"appendOplogNote", "applicationMessage", "applyOps", "auditConfigure", "authSchemaUpgrade",
	"bypassDocumentValidation", "bypassWriteBlockingMode", "changeCustomData", "changeOwnCustomData",
	"changeOwnPassword", "changePassword", "changeStream", "checkMetadataConsistency",
	"cleanupOrphaned", "clearJumboFlag", "collMod", "collStats", "compact", "configureQueryAnalyzer",
	"connPoolStats", "connPoolSync", "convertToCapped", "cpuProfiler", "createCollection",
	"createIndex", "createRole", "createSearchIndexes", "createUser", "dbCheck", "dbHash", "dbStats",
	"dropCollection", "dropConnections", "dropDatabase", "dropIndex", "dropRole", "dropSearchIndex",
	"dropUser", "enableProfiler", "enableSharding", "exportCollection", "find", "flushRouterConfig",
	"forceUUID", "fsync", "fsyncUnlock", "getChangeStreamState", "getClusterParameter",
	"getCmdLineOpts", "getDatabaseVersion", "getDefaultRWConcern", "getLog", "getParameter",
	"getShardMap", "getShardVersion", "grantRole", "hostInfo", "impersonate", "importCollection",
	"indexStats", "inprog", "insert", "internal", "invalidateUserCache", "issueDirectShardOperations",
	"killAnyCursor", "killAnySession", "killCursors", "killop", "listCachedAndActiveUsers",
	"listCollections", "listCursors", "listDatabases", "listIndexes", "listSampledQueries",
	"listSearchIndexes", "listSessions", "listShards", "logRotate", "moveChunk", "moveCollection",
	"netstat", "operationMetrics", "planCacheIndexFilter", "planCacheRead", "planCacheWrite",
	"querySettings", "queryStatsRead", "queryStatsReadTransformed", "reIndex",
	"refineCollectionShardKey", "remove", "removeShard", "renameCollection", "renameCollectionSameDB",
	"replSetConfigure", "replSetGetConfig", "replSetGetStatus", "replSetHeartbeat",
	"replSetResizeOplog", "replSetStateChange", "reshardCollection", "resync", "revokeRole",
	"rotateCertificates", "runAsLessPrivilegedUser", "serverStatus", "setAuthenticationRestriction",
	"setChangeStreamState", "setClusterParameter", "setDefaultRWConcern",
	"setFeatureCompatibilityVersion", "setParameter", "setUserWriteBlockMode",
	"shardedDataDistribution", "shardingState", "shutdown", "splitChunk", "splitVector",
	"storageDetails", "top", "touch", "trafficRecord", "unlock", "update", "updateSearchIndex",
	"useUUID", "validate", "viewRole", "viewUser",
)

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// Resource is what a command acts on: the cluster, a database (Collection empty) or one
// collection.
type Resource struct {
	Cluster    bool
	DB         string
	Collection string
}

// ClusterResource is the cluster-wide resource (killAnySession, listSessions, serverStatus...).
func ClusterResource() Resource { return Resource{Cluster: true} }

// DBResource is a database.
func DBResource(db string) Resource { return Resource{DB: db} }

// NSResource is the collection coll of database db.
func NSResource(db, coll string) Resource { return Resource{DB: db, Collection: coll} }

func (r Resource) String() string {
	switch {
	case r.Cluster:
		return "cluster"
	case r.Collection == "":
		return "database " + r.DB
	}
	return r.DB + "." + r.Collection
}

// patternKind is mongod's ResourcePattern match type: what a granted privilege covers.
type patternKind uint8

const (
	patCluster     patternKind = iota + 1 // {cluster: true}
	patAnyNormal                          // {db: "", collection: ""}: every normal collection and database
	patDB                                 // {db: X, collection: ""}: database X and its normal collections
	patCollection                         // {db: "", collection: C}: collection C in every database
	patExactNS                            // {db: X, collection: C}
	patAnyResource                        // {anyResource: true}: everything (internal user only)
)

type pattern struct {
	kind patternKind
	db   string
	coll string
}

// privilege is a set of actions granted on one resource pattern.
type privilege struct {
	pattern pattern
	actions map[string]bool
}

// Privileges are the resolved grants of a user.
type privileges []privilege

// can reports whether any grant covers action on r, searching the patterns mongod's
// AuthorizationSession would search for r (buildResourceSearchList).
func (ps privileges) can(action string, r Resource) bool {
	for _, p := range ps {
		if (p.actions[action] || p.actions[ActionAnyAction]) && p.pattern.matches(r) {
			return true
		}
	}
	return false
}

func (p pattern) matches(r Resource) bool {
	switch p.kind {
	case patAnyResource:
		return true
	case patCluster:
		return r.Cluster
	}
	if r.Cluster {
		return false
	}
	normal := r.Collection == "" || isNormalCollection(r.Collection)
	switch p.kind {
	case patAnyNormal:
		// readAnyDatabase and friends stop at the internal databases (mongod 3.4+).
		return normal && r.DB != "local" && r.DB != "config"
	case patDB:
		return normal && r.DB == p.db
	case patCollection:
		return r.Collection != "" && r.Collection == p.coll
	case patExactNS:
		return r.DB == p.db && r.Collection == p.coll
	}
	return false
}

// isNormalCollection is NamespaceString::isNormalCollection: not system.* and no '$'.
func isNormalCollection(coll string) bool {
	return !strings.HasPrefix(coll, "system.") && !strings.Contains(coll, "$")
}

// The action sets of mongod's built-in roles (role_graph_builtin_roles.cpp), restricted to what a
// router can act on.
var (
	readActions = []string{"changeStream", "collStats", "dbHash", "dbStats", "find", "killCursors",
		"listCollections", "listIndexes", "listSearchIndexes", "planCacheRead"}
	readWriteActions = append(slices.Clone(readActions), "convertToCapped", "createCollection",
		"createIndex", "createSearchIndexes", "dropCollection", "dropIndex", "dropSearchIndex", "insert",
		"remove", "renameCollectionSameDB", "update", "updateSearchIndex")
	dbAdminActions = []string{"analyze", "bypassDocumentValidation", "collMod", "collStats", "compact",
		"convertToCapped", "createCollection", "createIndex", "dbStats", "dropCollection",
		"dropDatabase", "dropIndex", "enableProfiler", "listCollections", "listIndexes",
		"listSearchIndexes", "planCacheIndexFilter", "planCacheRead", "planCacheWrite", "reIndex",
		"renameCollectionSameDB", "storageDetails", "validate"}
	userAdminActions = []string{"changeCustomData", "changePassword", "createRole", "createUser",
		"dropRole", "dropUser", "grantRole", "revokeRole", "setAuthenticationRestriction", "viewRole",
		"viewUser"}
	clusterMonitorActions = []string{"connPoolStats", "getCmdLineOpts", "getDefaultRWConcern", "getLog",
		"getParameter", "getShardMap", "hostInfo", "inprog", "listDatabases", "listSessions",
		"listShards", "netstat", "replSetGetConfig", "replSetGetStatus", "serverStatus", "shardingState",
		"top", "useUUID"}
	hostManagerActions = []string{"applicationMessage", "connPoolSync", "dropConnections",
		"flushRouterConfig", "fsync", "invalidateUserCache", "killAnySession", "killop", "logRotate",
		"setParameter", "shutdown", "unlock"}
	clusterManagerActions = []string{"addShard", "appendOplogNote", "cleanupOrphaned",
		"flushRouterConfig", "listShards", "removeShard", "replSetConfigure", "replSetGetConfig",
		"replSetGetStatus", "replSetStateChange", "resync", "enableSharding"}
)

// builtinRole returns the grants of a built-in role, or false if name@db is not one. Roles of
// one database exist on every database; the cluster-wide ones only on admin, as in mongod.
func builtinRole(name, db string) (privileges, bool) {
	onDB := pattern{kind: patDB, db: db}
	anyNormal := pattern{kind: patAnyNormal}
	cluster := pattern{kind: patCluster}
	switch name {
	case "read":
		return privileges{grant(onDB, readActions)}, true
	case "readWrite":
		return privileges{grant(onDB, readWriteActions)}, true
	case "dbAdmin":
		return privileges{grant(onDB, dbAdminActions)}, true
	case "userAdmin":
		return privileges{grant(onDB, userAdminActions)}, true
	case "dbOwner":
		return privileges{grant(onDB, readWriteActions, dbAdminActions, userAdminActions)}, true
	}
	if db != "admin" {
		return nil, false
	}
	switch name {
	case "readAnyDatabase":
		return privileges{grant(anyNormal, readActions), grant(cluster, []string{"listDatabases"})}, true
	case "readWriteAnyDatabase":
		return privileges{grant(anyNormal, readWriteActions), grant(cluster, []string{"listDatabases"})}, true
	case "dbAdminAnyDatabase":
		return privileges{grant(anyNormal, dbAdminActions), grant(cluster, []string{"listDatabases"})}, true
	case "clusterMonitor":
		return privileges{grant(cluster, clusterMonitorActions),
			grant(anyNormal, []string{"collStats", "dbStats", "indexStats"})}, true
	case "hostManager":
		return privileges{grant(cluster, hostManagerActions), grant(anyNormal, []string{"killCursors", "killAnyCursor"})}, true
	case "clusterManager":
		return privileges{grant(cluster, clusterManagerActions)}, true
	case "clusterAdmin":
		return privileges{grant(cluster, clusterMonitorActions, hostManagerActions, clusterManagerActions),
			grant(anyNormal, []string{"collStats", "dbStats", "indexStats", "killCursors", "killAnyCursor", "dropDatabase"})}, true
	case "root":
		// root is readWriteAnyDatabase + dbAdminAnyDatabase + userAdminAnyDatabase + clusterAdmin
		// (+ backup/restore); like mongod's, it lacks impersonate and anyAction.
		return privileges{grant(cluster, clusterMonitorActions, hostManagerActions, clusterManagerActions),
			grant(anyNormal, readWriteActions, dbAdminActions, userAdminActions,
				[]string{"indexStats", "killCursors", "killAnyCursor"})}, true
	}
	return nil, false
}

// systemPrivileges are those of mongod's __system role: every action on every resource.
var systemPrivileges = privileges{grant(pattern{kind: patAnyResource}, []string{ActionAnyAction})}

func grant(p pattern, sets ...[]string) privilege {
	pr := privilege{pattern: p, actions: map[string]bool{}}
	for _, set := range sets {
		for _, a := range set {
			pr.actions[a] = true
		}
	}
	return pr
}

// RoleDef is a custom role of the users file.
type RoleDef struct {
	Role       string          `yaml:"role"`
	DB         string          `yaml:"db"`
	Privileges []PrivilegeSpec `yaml:"privileges,omitempty"`
	Roles      []RoleRef       `yaml:"roles,omitempty"` // inherited roles, built-in or custom
}

// PrivilegeSpec is one privilege of a custom role, shaped as in createRole.
type PrivilegeSpec struct {
	Resource ResourceSpec `yaml:"resource"`
	Actions  []string     `yaml:"actions"`
}

// ResourceSpec is a privilege's resource document: {cluster: true}, {db, collection} (either may
// be "" for "any"), or {anyResource: true}.
type ResourceSpec struct {
	Cluster     bool    `yaml:"cluster,omitempty"`
	AnyResource bool    `yaml:"anyResource,omitempty"`
	DB          *string `yaml:"db,omitempty"`
	Collection  *string `yaml:"collection,omitempty"`
}

func (s ResourceSpec) pattern() (pattern, error) {
	switch {
	case s.Cluster && (s.AnyResource || s.DB != nil || s.Collection != nil),
		s.AnyResource && (s.DB != nil || s.Collection != nil):
		return pattern{}, fmt.Errorf("a resource is either {cluster: true}, {anyResource: true} or {db, collection}")
	case s.Cluster:
		return pattern{kind: patCluster}, nil
	case s.AnyResource:
		return pattern{kind: patAnyResource}, nil
	case s.DB == nil || s.Collection == nil:
		return pattern{}, fmt.Errorf("a resource needs both db and collection (\"\" means any)")
	}
	db, coll := *s.DB, *s.Collection
	switch {
	case db == "" && coll == "":
		return pattern{kind: patAnyNormal}, nil
	case coll == "":
		return pattern{kind: patDB, db: db}, nil
	case db == "":
		return pattern{kind: patCollection, coll: coll}, nil
	}
	return pattern{kind: patExactNS, db: db, coll: coll}, nil
}

// roleKey names a role as mongod prints it: role@db.
func roleKey(role, db string) string { return role + "@" + db }

// resolveRoles flattens roles (built-in or custom, transitively) into grants. custom maps
// role@db to its definition; a missing role or a cycle is an error.
func resolveRoles(refs []RoleRef, custom map[string]*RoleDef) (privileges, error) {
	var out privileges
	visiting := map[string]bool{}
	done := map[string]bool{}
	var visit func(RoleRef) error
	visit = func(ref RoleRef) error {
		key := roleKey(ref.Role, ref.DB)
		if done[key] {
			return nil
		}
		if visiting[key] {
			return fmt.Errorf("role %s inherits itself", key)
		}
		if ps, ok := builtinRole(ref.Role, ref.DB); ok {
			out = append(out, ps...)
			done[key] = true
			return nil
		}
		def, ok := custom[key]
		if !ok {
			return fmt.Errorf("no role named %s", key)
		}
		visiting[key] = true
		for _, p := range def.Privileges {
			pat, err := p.Resource.pattern()
			if err != nil {
				return fmt.Errorf("role %s: %w", key, err)
			}
			if len(p.Actions) == 0 {
				return fmt.Errorf("role %s: a privilege needs at least one action", key)
			}
			for _, a := range p.Actions {
				if !knownActions[a] {
					return fmt.Errorf("role %s: unrecognized action privilege string: %s", key, a)
				}
			}
			out = append(out, grant(pat, p.Actions))
		}
		for _, inherited := range def.Roles {
			if err := visit(inherited); err != nil {
				return err
			}
		}
		visiting[key] = false
		done[key] = true
		return nil
	}
	for _, ref := range refs {
		if err := visit(ref); err != nil {
			return nil, err
		}
	}
	return out, nil
}
