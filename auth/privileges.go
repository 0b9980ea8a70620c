package auth

import (
	"errors"
	"fmt"
	"maps"
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

// knownActions are the names of mongod 8.0's ActionType enum (src/mongo/db/auth/action_type.idl),
// those marked "ID only" and the deprecated ones included, since mongod's
// ActionSet::parseFromStringVector accepts them all; a custom role naming anything else is refused
// when the users file loads, as mongod refuses it in createRole.
var knownActions = setOf(
	"addShard", "advanceClusterTime", "allCollectionStats", "analyze", "analyzeShardKey", "anyAction",
	"appendOplogNote", "applicationMessage", "applyOps", "auditConfigure", "auditLogRotate",
	"authCheck", "authSchemaUpgrade", "authenticate", "bypassDefaultMaxTimeMS",
	"bypassDocumentValidation", "bypassWriteBlockingMode", "changeCustomData", "changeOwnCustomData",
	"changeOwnPassword", "changePassword", "changeStream", "checkFreeMonitoringStatus",
	"checkMetadataConsistency", "cleanupOrphaned", "cleanupStructuredEncryptionData",
	"clearJumboFlag", "closeAllDatabases", "collMod", "collStats", "compact",
	"compactStructuredEncryptionData", "configureQueryAnalyzer", "connPoolStats", "connPoolSync",
	"convertToCapped", "cpuProfiler", "createCollection", "createDatabase", "createIndex",
	"createRole", "createSearchIndexes", "createUser", "dbCheck", "dbHash", "dbStats",
	"dropAllRolesFromDatabase", "dropAllUsersFromDatabase", "dropCollection", "dropConnections",
	"dropDatabase", "dropIndex", "dropRole", "dropSearchIndex", "dropUser", "emptycapped",
	"enableProfiler", "enableSharding", "exportCollection", "find", "flushRouterConfig", "forceUUID",
	"fsync", "fsyncUnlock", "getChangeStreamState", "getClusterParameter", "getCmdLineOpts",
	"getDatabaseVersion", "getDefaultRWConcern", "getLog", "getParameter", "getShardMap",
	"getShardVersion", "grantPrivilegesToRole", "grantRole", "grantRolesToRole", "grantRolesToUser",
	"hostInfo", "impersonate", "importCollection", "indexStats", "inprog", "insert", "internal",
	"invalidateUserCache", "issueDirectShardOperations", "killAnyCursor", "killAnySession",
	"killCursors", "killop", "listCachedAndActiveUsers", "listClusterCatalog", "listCollections",
	"listCursors", "listDatabases", "listIndexes", "listSampledQueries", "listSearchIndexes",
	"listSessions", "listShards", "logRotate", "moveChunk", "moveCollection", "netstat",
	"oidReset", "oidcListKeys", "oidcRefreshKeys", "operationMetrics", "performRawDataOperations",
	"planCacheIndexFilter", "planCacheRead", "planCacheWrite", "querySettings", "queryStatsRead",
	"queryStatsReadTransformed", "reIndex", "refineCollectionShardKey", "remove", "removeShard",
	"renameCollection", "renameCollectionSameDB", "repairDatabase", "replSetConfigure",
	"replSetGetConfig", "replSetGetStatus", "replSetHeartbeat", "replSetReconfig",
	"replSetResizeOplog", "replSetStateChange", "reshardCollection", "resync",
	"revokePrivilegesFromRole", "revokeRole", "revokeRolesFromRole", "revokeRolesFromUser",
	"rotateCertificates", "runAsLessPrivilegedUser", "serverStatus", "setAuthenticationRestriction",
	"setChangeStreamState", "setClusterParameter", "setDefaultRWConcern",
	"setFeatureCompatibilityVersion", "setFreeMonitoring", "setParameter", "setUserWriteBlockMode",
	"shardCollection", "shardedDataDistribution", "shardingState", "shutdown", "splitChunk",
	"splitVector", "storageDetails", "top", "touch", "trafficRecord",
	"transitionFromDedicatedConfigServer", "transitionToDedicatedConfigServer", "unlock",
	"unshardCollection", "update", "updateRole", "updateSearchIndex", "updateUser", "useTenant",
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

// patternKind is mongod's ResourcePattern match type (MatchType in action_type.idl): what a
// granted privilege covers.
type patternKind uint8

const (
	patCluster              patternKind = iota + 1 // {cluster: true}
	patAnyNormal                                   // {db: "", collection: ""}: normal collections and databases, but not local or config
	patDB                                          // {db: X, collection: ""}: database X and its normal collections
	patCollection                                  // {db: "", collection: C}: collection C in every database, system or not
	patExactNS                                     // {db: X, collection: C}
	patAnyResource                                 // {anyResource: true}: everything
	patAnySystemBuckets                            // {system_buckets: ""}: every <db>.system.buckets.<coll>
	patSystemBucketsInDB                           // {db: X, system_buckets: ""}: X.system.buckets.*
	patSystemBucketsInAnyDB                        // {system_buckets: C}: <any db>.system.buckets.C
	patExactSystemBuckets                          // {db: X, system_buckets: C}: X.system.buckets.C
)

type pattern struct {
	kind patternKind
	db   string
	coll string // the collection, or for the system_buckets kinds the part after "system.buckets."
}

// privilege is a set of actions granted on one resource pattern.
type privilege struct {
	pattern pattern
	actions map[string]bool
}

// Privileges are the resolved grants of a user.
type privileges []privilege

// add grants actions on p, merging them into the grant already on p if there is one, as
// Privilege::addPrivilegeToPrivilegeVector does.
func (ps *privileges) add(p pattern, actions ...[]string) {
	on := ps.actionsOn(p)
	for _, set := range actions {
		for _, a := range set {
			on[a] = true
		}
	}
}

// merge adds every grant of other.
func (ps *privileges) merge(other privileges) {
	for _, p := range other {
		maps.Copy(ps.actionsOn(p.pattern), p.actions)
	}
}

// actionsOn is the action set granted on p, added empty if there is none yet.
func (ps *privileges) actionsOn(p pattern) map[string]bool {
	if i := slices.IndexFunc(*ps, func(pr privilege) bool { return pr.pattern == p }); i >= 0 {
		return (*ps)[i].actions
	}
	*ps = append(*ps, privilege{pattern: p, actions: map[string]bool{}})
	return (*ps)[len(*ps)-1].actions
}

// can reports whether any grant covers action on r. A grant of anyAction covers every action, as
// ActionSet::addAction(anyAction) adds them all.
func (ps privileges) can(action string, r Resource) bool {
	for _, p := range ps {
		if (p.actions[action] || p.actions[ActionAnyAction]) && p.pattern.matches(r) {
			return true
		}
	}
	return false
}

// matches reports whether p is one of the patterns mongod searches for r
// (src/mongo/db/auth/resource_pattern_search_list.h): a grant covers r only through one of them.
func (p pattern) matches(r Resource) bool {
	switch {
	case p.kind == patAnyResource:
		return true
	case r.Cluster:
		return p.kind == patCluster
	case r.Collection == "": // a database
		switch p.kind {
		case patAnyNormal:
			return !isInternalDB(r.DB)
		case patDB:
			return p.db == r.DB
		}
		return false
	}
	switch p.kind {
	case patAnyNormal:
		return isNormalCollection(r.DB, r.Collection) && !isInternalDB(r.DB)
	case patDB:
		return isNormalCollection(r.DB, r.Collection) && p.db == r.DB
	case patCollection:
		return p.coll == r.Collection
	case patExactNS:
		return p.db == r.DB && p.coll == r.Collection
	}
	bucket, ok := strings.CutPrefix(r.Collection, systemBucketsPrefix)
	if !ok || bucket == "" {
		return false
	}
	switch p.kind {
	case patAnySystemBuckets:
		return true
	case patSystemBucketsInDB:
		return p.db == r.DB
	case patSystemBucketsInAnyDB:
		return p.coll == bucket
	case patExactSystemBuckets:
		return p.db == r.DB && p.coll == bucket
	}
	return false
}

// systemBucketsPrefix starts the name of a time-series collection's buckets collection.
const systemBucketsPrefix = "system.buckets."

// isInternalDB: local and config hold the server's own collections, which no "any database"
// grant reaches.
func isInternalDB(db string) bool { return db == "local" || db == "config" }

// isNormalCollection is NamespaceString::isNormalCollection: neither system.* nor local.replset.*.
func isNormalCollection(db, coll string) bool {
	return !strings.HasPrefix(coll, "system.") && !(db == "local" && strings.HasPrefix(coll, "replset."))
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

// ResourceSpec is a privilege's resource document: {cluster: true}, {anyResource: true},
// {db, collection} or {db, system_buckets} ("" means any; db may be left out with
// system_buckets).
type ResourceSpec struct {
	Cluster       bool    `yaml:"cluster,omitempty"`
	AnyResource   bool    `yaml:"anyResource,omitempty"`
	DB            *string `yaml:"db,omitempty"`
	Collection    *string `yaml:"collection,omitempty"`
	SystemBuckets *string `yaml:"system_buckets,omitempty"`
}

// pattern resolves the resource document as Privilege::resolvePrivilegeWithTenant does
// (src/mongo/db/auth/privilege.cpp), refusing the same malformed documents.
func (s ResourceSpec) pattern() (pattern, error) {
	switch {
	case s.Cluster:
		if s.AnyResource || s.DB != nil || s.Collection != nil || s.SystemBuckets != nil {
			return pattern{}, errors.New("resource {cluster: true} takes no other field")
		}
		return pattern{kind: patCluster}, nil
	case s.AnyResource:
		if s.DB != nil || s.Collection != nil || s.SystemBuckets != nil {
			return pattern{}, errors.New("resource {anyResource: true} takes no other field")
		}
		return pattern{kind: patAnyResource}, nil
	case s.Collection != nil && s.SystemBuckets != nil:
		return pattern{}, errors.New("a resource names either a collection or system_buckets, not both")
	case s.Collection != nil:
		return s.namespacePattern()
	case s.SystemBuckets != nil:
		db := ""
		if s.DB != nil {
			db = *s.DB
		}
		return scopedPattern(systemBucketsKinds, db, *s.SystemBuckets), nil
	}
	return pattern{}, errors.New("a resource needs cluster, anyResource, collection or system_buckets")
}

func (s ResourceSpec) namespacePattern() (pattern, error) {
	if s.DB == nil {
		return pattern{}, errors.New("a resource with a collection needs a db too (\"\" means any)")
	}
	db, coll := *s.DB, *s.Collection
	if coll != "" && !validCollectionName(coll) && (db != "local" || coll != "oplog.$main") {
		return pattern{}, fmt.Errorf("%q is not a valid collection name", coll)
	}
	return scopedPattern(collectionKinds, db, coll), nil
}

// The pattern kinds of a {db, collection} and of a {db, system_buckets} resource, indexed by
// scopedPattern: both "" (any), db only, name only, both given.
var (
	collectionKinds    = [4]patternKind{patAnyNormal, patDB, patCollection, patExactNS}
	systemBucketsKinds = [4]patternKind{patAnySystemBuckets, patSystemBucketsInDB, patSystemBucketsInAnyDB, patExactSystemBuckets}
)

func scopedPattern(kinds [4]patternKind, db, name string) pattern {
	i := 0
	if db != "" {
		i |= 1
	}
	if name != "" {
		i |= 2
	}
	return pattern{kind: kinds[i], db: db, coll: name}
}

// validCollectionName is NamespaceString::validCollectionName: not empty, no leading '.', no '$'
// or NUL.
func validCollectionName(coll string) bool {
	return coll != "" && coll[0] != '.' && !strings.ContainsAny(coll, "$\x00")
}

// roleKey names a role as mongod prints it: role@db.
func roleKey(role, db string) string { return role + "@" + db }

// resolveRoles flattens roles (built-in or custom, transitively) into grants, and lists every
// role reached (mongod's indirect roles: the user's own and those its custom roles inherit).
// custom maps role@db to its definition; a missing role or a cycle is an error.
func resolveRoles(refs []RoleRef, custom map[string]*RoleDef) (privileges, []RoleRef, error) {
	var out privileges
	var reached []RoleRef
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
			out.merge(ps)
			done[key] = true
			reached = append(reached, ref)
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
			out.add(pat, p.Actions)
		}
		for _, inherited := range def.Roles {
			if err := visit(inherited); err != nil {
				return err
			}
		}
		visiting[key] = false
		done[key] = true
		reached = append(reached, ref)
		return nil
	}
	for _, ref := range refs {
		if err := visit(ref); err != nil {
			return nil, nil, err
		}
	}
	return out, reached, nil
}
