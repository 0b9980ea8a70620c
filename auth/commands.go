package auth

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// noAuthCommands are the commands mongod runs for clients that have not authenticated
// (requiresAuth() false): the handshake, authentication itself and a few harmless probes.
// buildInfo is among them up to 8.0 (later servers make it configurable).
var noAuthCommands = setOf("hello", "isMaster", "ismaster", "saslStart", "saslContinue",
	"authenticate", "logout", "ping", "buildInfo", "buildinfo", "listCommands", "connectionStatus",
	"whatsmyuri")

// Commands lists the commands whose privileges the router knows, and those that run before login.
func Commands() []string {
	out := make([]string, 0, len(requirements)+len(noAuthCommands))
	for name := range requirements {
		out = append(out, name)
	}
	for name := range noAuthCommands {
		out = append(out, name)
	}
	return out
}

// RequiresAuth reports whether command name needs an authenticated user when auth is on.
func RequiresAuth(name string) bool { return !noAuthCommands[name] }

// need is one privilege a command requires: any of actions on res.
type need struct {
	actions []string
	res     Resource
}

// request is what a requirement looks at: the command, its body and who runs it. Requirements
// read the command as the shard will execute it: document sequences folded in, optional flags by
// their truth value, a deciding field given twice refused (internal/command).
type request struct {
	user *User
	db   string
	name string
	cmd  *command.Command // an explained command's own, for explain
}

// requirement lists the privileges a command needs, or refuses a command whose deciding fields
// do not parse.
type requirement func(r request) ([]need, error)

// requirements is the command → privileges table (each command's addRequiredPrivileges or
// checkAuthForOperation in mongod). Commands needing authentication but no privilege map to
// nothing. A command missing here needs anyAction: only the internal user may run it.
var requirements map[string]requirement

func init() {
	none := func(request) ([]need, error) { return nil, nil }
	requirements = map[string]requirement{
		"find": onNS("find"), "count": onNS("find"), "distinct": onNS("find"),
		// A cursor is its owner's: getMore and killCursors need only a logged-in user, and the
		// router checks ownership (or killAnyCursor) per cursor, as mongod's cursor managers do.
		"getMore": getMoreNeeds, "killCursors": none,
		"aggregate": aggregateNeeds, "explain": explainNeeds,
		"listCollections": listCollectionsNeeds, "listIndexes": onNS("listIndexes"),
		"insert": writeNeeds("insert"), "update": updateNeeds, "delete": onNS("remove"),
		"findAndModify": findAndModifyNeeds, "bulkWrite": bulkWriteNeeds,
		"create": onNSAnyOf("createCollection", "insert"),
		"drop":   onNS("dropCollection"), "dropDatabase": onDB("dropDatabase"),
		"createIndexes": onNS("createIndex"), "dropIndexes": onNS("dropIndex"), "deleteIndexes": onNS("dropIndex"),
		"collMod": onNS("collMod"), "collStats": onNS("collStats"), "dbStats": onDB("dbStats"),
		"dbHash": onDB("dbHash"), "validate": onNS("validate"),
		"listDatabases": listDatabasesNeeds,
		"serverStatus":  onCluster("serverStatus"), "connPoolStats": onCluster("connPoolStats"), "getParameter": onCluster("getParameter"),
		"listShards": onCluster("listShards"), "getLog": onCluster("getLog"), "hostInfo": onCluster("hostInfo"),
		"top": onCluster("top"), "killOp": onCluster("killop"), "currentOp": currentOpNeeds,
		"isdbgrid": none, "getCmdLineOpts": onCluster("getCmdLineOpts"), "appendOplogNote": onCluster("appendOplogNote"),
		"dbstats": onDB("dbStats"), "collstats": onNS("collStats"),
		"dataSize": dataSizeNeeds, "datasize": dataSizeNeeds,
		"getShardMap": onCluster("getShardMap"),
		// Sharding: enableSharding on the namespace or database the command names in full
		// (cluster_shard_collection_cmd.cpp, cluster_enable_sharding_cmd.cpp).
		"shardCollection": shardingNeeds, "shardcollection": shardingNeeds,
		"enableSharding": shardingNeeds, "enablesharding": shardingNeeds,
		"flushRouterConfig": onCluster("flushRouterConfig"), "flushrouterconfig": onCluster("flushRouterConfig"),
		// The balancer commands check config.settings, which they read or write on a mongos
		// (cluster_control_balancer_cmd.cpp).
		"balancerStatus": onConfigSettings("find"),
		"balancerStart":  onConfigSettings("update"), "balancerStop": onConfigSettings("update"),
		"checkMetadataConsistency": checkMetadataConsistencyNeeds,
		"renameCollection":         renameCollectionNeeds,
		// Session commands: any authenticated user for their own sessions; whose sessions they
		// reach is the caller's uid (internal/sessionid), except the kill-all forms.
		"startSession": none, "endSessions": none, "refreshSessions": none, "killSessions": none,
		"killAllSessions":          onCluster("killAnySession"),
		"killAllSessionsByPattern": onCluster("killAnySession"),
		"commitTransaction":        none, "abortTransaction": none,
		// A test command: mongod needs no privilege, only enableTestCommands.
		"configureFailPoint": none,
	}
}

// Authorize decides whether u (nil: not authenticated) may run cmd when auth is on: nil, or
// mongod's error: Unauthorized "command X requires authentication", Unauthorized "not
// authorized on <db> to execute command { ... }" for a missing privilege, the parse error of a
// deciding field, or a command's own refusal (killAllSessionsByPattern impersonating without
// impersonate).
func Authorize(u *User, cmd *command.Command) error {
	name := string(cmd.Name)
	if name == "" {
		return mongoerr.New(mongoerr.InvalidBSON, "invalid command document")
	}
	if !RequiresAuth(name) {
		return nil
	}
	if u == nil {
		return mongoerr.New(mongoerr.Unauthorized, "command %s requires authentication", name)
	}
	req, ok := requirements[name]
	if !ok {
		req = onCluster(ActionAnyAction)
	}
	db := string(cmd.DB)
	needs, err := req(request{user: u, db: db, name: name, cmd: cmd})
	if err != nil {
		return err
	}
	for _, n := range needs {
		if !u.canAny(n.actions, n.res) {
			return mongoerr.New(mongoerr.Unauthorized, "not authorized on %s to execute command %s", db, bsonText(cmd.Body))
		}
	}
	if name == "killAllSessionsByPattern" && impersonates(cmd.Body) && !u.Can(ActionImpersonate, ClusterResource()) {
		return mongoerr.New(mongoerr.Unauthorized, "Not authorized to impersonate in killAllSessionsByPattern")
	}
	return nil
}

func (u *User) canAny(actions []string, r Resource) bool {
	for _, a := range actions {
		if u.Can(a, r) {
			return true
		}
	}
	return false
}

func onCluster(actions ...string) requirement {
	return func(request) ([]need, error) { return []need{{actions, ClusterResource()}}, nil }
}

func onDB(actions ...string) requirement {
	return func(r request) ([]need, error) { return []need{{actions, DBResource(r.db)}}, nil }
}

// onNS needs every action on the collection the command names first; onNSAnyOf needs one of them.
func onNS(actions ...string) requirement {
	return func(r request) ([]need, error) {
		res := r.target()
		out := make([]need, len(actions))
		for i, a := range actions {
			out[i] = need{[]string{a}, res}
		}
		return out, nil
	}
}

func onNSAnyOf(actions ...string) requirement {
	return func(r request) ([]need, error) { return []need{{actions, r.target()}}, nil }
}

// target is the collection the command names with its first value (the database when it names
// none).
func (r request) target() Resource { return nsOf(r.db, r.body().Index(0).Value()) }

// nsOf is the collection a command's first value names, or the database when it names none
// (aggregate: 1, a collection UUID).
func nsOf(db string, v bsoncore.Value) Resource {
	if coll, ok := v.StringValueOK(); ok && coll != "" {
		return NSResource(db, coll)
	}
	return DBResource(db)
}

func onConfigSettings(action string) requirement {
	return func(request) ([]need, error) {
		return []need{{[]string{action}, NSResource("config", "settings")}}, nil
	}
}

// dataSizeNeeds: find on the namespace the command names in full, "db.coll" (a value that names
// none needs find on the command's database, and the command refuses it).
func dataSizeNeeds(r request) ([]need, error) {
	ns, _ := r.body().Index(0).Value().StringValueOK()
	if db, coll, ok := strings.Cut(ns, "."); ok && db != "" && coll != "" {
		return []need{{[]string{"find"}, NSResource(db, coll)}}, nil
	}
	return []need{{[]string{"find"}, DBResource(r.db)}}, nil
}

// shardingNeeds: enableSharding on what shardCollection ("db.coll") or enableSharding ("db")
// names; a value that names nothing needs it on the cluster, and the command refuses it.
func shardingNeeds(r request) ([]need, error) {
	name, _ := r.body().Index(0).Value().StringValueOK()
	db, coll, isNS := strings.Cut(name, ".")
	switch {
	case name == "":
		return []need{{[]string{"enableSharding"}, ClusterResource()}}, nil
	case isNS:
		return []need{{[]string{"enableSharding"}, NSResource(db, coll)}}, nil
	}
	return []need{{[]string{"enableSharding"}, DBResource(db)}}, nil
}

// getMoreNeeds: nothing but a login and the cursor's ownership, unless the getMore carries a
// replication term, which only internal clients may (checkAuthForGetMore).
func getMoreNeeds(r request) ([]need, error) {
	if _, ok, err := command.UniqueField(r.body(), "term", "getMore"); ok || err != nil {
		return []need{{[]string{"internal"}, ClusterResource()}}, err
	}
	return nil, nil
}

// writeNeeds is a write's action, plus bypassDocumentValidation when the command asks for it.
func writeNeeds(action string) requirement {
	return func(r request) ([]need, error) {
		res := r.target()
		out := []need{{[]string{action}, res}}
		bypass, err := command.TrueValue(r.body(), "bypassDocumentValidation", r.name)
		if err != nil {
			return nil, err
		}
		if bypass {
			out = append(out, need{[]string{"bypassDocumentValidation"}, res})
		}
		return out, nil
	}
}

// updateNeeds: update, and insert when any statement upserts (write_commands_common.cpp reads
// the parsed request: the updates sequence as much as a body array).
func updateNeeds(r request) ([]need, error) {
	out, err := writeNeeds("update")(r)
	if err != nil {
		return nil, err
	}
	upserts := false
	err = r.eachDoc("updates", func(st bsoncore.Document) error {
		up, err := command.TrueValue(st, "upsert", "update.updates")
		upserts = upserts || up
		return err
	})
	if err != nil {
		return nil, err
	}
	if upserts {
		out = append(out, need{[]string{"insert"}, out[0].res})
	}
	return out, nil
}

// body is the command document the requirement reads.
func (r request) body() bsoncore.Document { return r.cmd.Body }

// eachDoc runs fn over the documents of field: a body array or a document sequence.
func (r request) eachDoc(field string, fn func(bsoncore.Document) error) error {
	return r.cmd.EachDoc(field, fn)
}

// findAndModifyNeeds: find, and remove or update (+ insert to upsert), with remove and upsert read
// by their truth value (cluster_find_and_modify_cmd.cpp).
func findAndModifyNeeds(r request) ([]need, error) {
	res := r.target()
	remove, err := command.TrueValue(r.body(), "remove", r.name)
	if err != nil {
		return nil, err
	}
	if remove {
		return []need{{[]string{"find"}, res}, {[]string{"remove"}, res}}, nil
	}
	update, err := writeNeeds("update")(r)
	if err != nil {
		return nil, err
	}
	out := append([]need{{[]string{"find"}, res}}, update...)
	upsert, err := command.TrueValue(r.body(), "upsert", r.name)
	if err != nil {
		return nil, err
	}
	if upsert {
		out = append(out, need{[]string{"insert"}, res})
	}
	return out, nil
}

// bulkWriteNeeds: each operation's action on the namespace its nsInfo entry names, ops and nsInfo
// read from the body or their document sequences (cluster_bulk_write_cmd.h). An operation that
// names no valid nsInfo entry, or a namespace that is not a string, is refused here: bulkWrite
// refuses it anyway, and authorizing it would mean guessing which namespace the shard will use.
func bulkWriteNeeds(r request) ([]need, error) {
	var nss []Resource
	err := r.eachDoc("nsInfo", func(d bsoncore.Document) error {
		v, ok, err := command.UniqueField(d, "ns", "bulkWrite.nsInfo")
		if err != nil {
			return err
		}
		ns, isString := v.StringValueOK()
		switch {
		case !ok:
			return mongoerr.New(mongoerr.IDLFailedToParse, "BSON field 'bulkWrite.nsInfo.ns' is missing but a required field")
		case !isString:
			return mongoerr.WrongType("bulkWrite.nsInfo.ns", v.Type, "string")
		}
		db, coll := splitNS(ns)
		nss = append(nss, NSResource(db, coll))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []need
	err = r.eachDoc("ops", func(op bsoncore.Document) error {
		first, err := op.IndexErr(0)
		if err != nil {
			return mongoerr.New(mongoerr.FailedToParse, "BulkWrite ops entry must not be empty")
		}
		action, upsertable := bulkOpAction(first.Key())
		if action == "" {
			return mongoerr.New(mongoerr.FailedToParse, "Unrecognized bulkWrite operation: %s", first.Key())
		}
		if _, _, err := command.UniqueField(op, first.Key(), "bulkWrite.ops"); err != nil {
			return err
		}
		i, ok := first.Value().AsInt64OK()
		if !ok || i < 0 || i >= int64(len(nss)) {
			return mongoerr.New(mongoerr.BadValue, "BulkWrite ops entry %s has an invalid nsInfo index", bsonText(op))
		}
		out = append(out, need{[]string{action}, nss[i]})
		if !upsertable {
			return nil
		}
		up, err := command.TrueValue(op, "upsert", "bulkWrite.ops")
		if up {
			out = append(out, need{[]string{"insert"}, nss[i]})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// bulkOpAction is the action a bulkWrite operation needs, and whether it may upsert.
func bulkOpAction(kind string) (string, bool) {
	switch kind {
	case "insert":
		return "insert", false
	case "update":
		return "update", true
	case "delete":
		return "remove", false
	}
	return "", false
}

func splitNS(ns string) (db, coll string) {
	for i := 0; i < len(ns); i++ {
		if ns[i] == '.' {
			return ns[:i], ns[i+1:]
		}
	}
	return ns, ""
}

// listCollectionsNeeds: listCollections on the database, unless the client asks only for the
// names of the collections it may use (authorizedCollections with nameOnly).
func listCollectionsNeeds(r request) ([]need, error) {
	authorized, err := command.TrueValue(r.body(), "authorizedCollections", r.name)
	if err != nil {
		return nil, err
	}
	nameOnly, err := command.TrueValue(r.body(), "nameOnly", r.name)
	if err != nil {
		return nil, err
	}
	if authorized && nameOnly {
		return nil, nil
	}
	return []need{{[]string{"listCollections"}, DBResource(r.db)}}, nil
}

// listDatabasesNeeds: listDatabases on the cluster only when authorizedDatabases is false;
// otherwise a user without it sees the databases AuthorizedForDB allows.
func listDatabasesNeeds(r request) ([]need, error) {
	v, ok, err := command.UniqueField(r.body(), "authorizedDatabases", r.name)
	if err != nil {
		return nil, err
	}
	if b, isBool := v.BooleanOK(); ok && (!isBool || !b) {
		return []need{{[]string{"listDatabases"}, ClusterResource()}}, nil
	}
	return nil, nil
}

// renameCollectionNeeds is checkAuthForRenameCollectionCommand (rename_collection_common.cpp):
// within one database, renameCollectionSameDB on it (dropCollection on the target with
// dropTarget) does, unless it would move a collection the user cannot read to one they can; else
// find and dropCollection on the source and insert and createIndex (and dropCollection with
// dropTarget) on the target.
func renameCollectionNeeds(r request) ([]need, error) {
	body := r.body()
	from, fromOK := body.Lookup("renameCollection").StringValueOK()
	to, toOK := body.Lookup("to").StringValueOK()
	if !fromOK {
		return nil, mongoerr.New(mongoerr.TypeMismatch, "'renameCollection' must be of type String")
	}
	if !toOK {
		return nil, mongoerr.New(mongoerr.TypeMismatch, "'to' must be of type String")
	}
	dropTarget, err := command.TrueValue(body, "dropTarget", r.name)
	if err != nil {
		return nil, err
	}
	src, dst := nsResource(from), nsResource(to)
	if src.DB == dst.DB && !strings.HasPrefix(src.Collection, "system.") && !strings.HasPrefix(dst.Collection, "system.") {
		u := r.user
		canRename := u.Can("renameCollectionSameDB", DBResource(src.DB))
		canDrop := !dropTarget || u.Can("dropCollection", dst)
		if canRename && canDrop && (u.Can("find", src) || !u.Can("find", dst)) {
			return nil, nil
		}
	}
	needs := []need{{[]string{"find"}, src}, {[]string{"dropCollection"}, src}, {[]string{"insert"}, dst}, {[]string{"createIndex"}, dst}}
	if dropTarget {
		needs = append(needs, need{[]string{"dropCollection"}, dst})
	}
	return needs, nil
}

// nsResource is the collection "db.coll" names.
func nsResource(ns string) Resource { return NSResource(splitNS(ns)) }

// checkMetadataConsistencyNeeds: the action on the cluster (run on admin), the database, or the
// collection it names.
func checkMetadataConsistencyNeeds(r request) ([]need, error) {
	if r.db == "admin" {
		return onCluster("checkMetadataConsistency")(r)
	}
	return onNS("checkMetadataConsistency")(r)
}

func currentOpNeeds(r request) ([]need, error) {
	own, err := command.TrueValue(r.body(), "$ownOps", r.name)
	if err != nil || own {
		return nil, err
	}
	return []need{{[]string{"inprog"}, ClusterResource()}}, nil
}

// explainNeeds: the explained command's privileges.
func explainNeeds(r request) ([]need, error) {
	inner, ok := r.body().Index(0).Value().DocumentOK()
	if !ok {
		return nil, nil // explain refuses it itself
	}
	first, err := inner.IndexErr(0)
	if err != nil {
		return nil, nil
	}
	req, ok := requirements[first.Key()]
	if !ok || first.Key() == "explain" {
		return onCluster(ActionAnyAction)(r)
	}
	explained := &command.Command{Name: first.KeyBytes(), DB: r.cmd.DB, Body: inner}
	return req(request{user: r.user, db: r.db, name: first.Key(), cmd: explained})
}

// impersonates reports whether a killAllSessionsByPattern pattern carries users or roles.
func impersonates(cmd bsoncore.Document) bool {
	arr, ok := cmd.Index(0).Value().ArrayOK()
	if !ok {
		return false
	}
	vals, _ := arr.Values()
	for _, v := range vals {
		if d, ok := v.DocumentOK(); ok {
			if _, err := d.LookupErr("users"); err == nil {
				return true
			}
			if _, err := d.LookupErr("roles"); err == nil {
				return true
			}
		}
	}
	return false
}
