package auth

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// noAuthCommands are the commands mongod runs for clients that have not authenticated
// (requiresAuth() false): the handshake, authentication itself and a few harmless probes.
// buildInfo is among them up to 8.0 (later servers make it configurable).
var noAuthCommands = setOf("hello", "isMaster", "ismaster", "saslStart", "saslContinue",
	"authenticate", "logout", "ping", "buildInfo", "buildinfo", "listCommands", "connectionStatus",
	"whatsmyuri")

// RequiresAuth reports whether command name needs an authenticated user when auth is on.
func RequiresAuth(name string) bool { return !noAuthCommands[name] }

// need is one privilege a command requires: any of actions on res.
type need struct {
	actions []string
	res     Resource
}

// request is what a requirement looks at: the command and who runs it.
type request struct {
	user *User
	db   string
	name string
	cmd  bsoncore.Document
}

// requirement lists the privileges a command needs.
type requirement func(r request) []need

// requirements is the command → privileges table (each command's addRequiredPrivileges or
// checkAuthForOperation in mongod). Commands needing authentication but no privilege map to
// nothing. A command missing here needs anyAction: only the internal user may run it.
var requirements map[string]requirement

func init() {
	none := func(request) []need { return nil }
	requirements = map[string]requirement{
		"find": onNS("find"), "count": onNS("find"), "distinct": onNS("find"),
		"getMore": getMoreNeeds, "killCursors": onNS("killCursors"),
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
		"isdbgrid": none, "getCmdLineOpts": onCluster("getCmdLineOpts"),
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

// Authorize decides whether u (nil: not authenticated) may run cmd against db when auth is on:
// nil, or mongod's error: Unauthorized "command X requires authentication", Unauthorized
// "not authorized on <db> to execute command { ... }" for a missing privilege, or a command's
// own refusal (killAllSessionsByPattern impersonating without impersonate).
func Authorize(u *User, db string, cmd bsoncore.Document) error {
	first, err := cmd.IndexErr(0)
	if err != nil {
		return mongoerr.New(mongoerr.InvalidBSON, "invalid command document")
	}
	name := first.Key()
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
	for _, n := range req(request{user: u, db: db, name: name, cmd: cmd}) {
		if !u.canAny(n.actions, n.res) {
			return mongoerr.New(mongoerr.Unauthorized, "not authorized on %s to execute command %s", db, bsonText(cmd))
		}
	}
	if name == "killAllSessionsByPattern" && impersonates(cmd) && !u.Can(ActionImpersonate, ClusterResource()) {
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

// AuthorizedForDB reports whether the user holds any privilege that reaches database db or one
// of its collections: what listDatabases shows a user without listDatabases
// (isAuthorizedForAnyActionOnAnyResourceInDB).
func (u *User) AuthorizedForDB(db string) bool {
	for _, p := range u.privs {
		switch p.pattern.kind {
		case patAnyResource, patCollection:
			return true
		case patAnyNormal:
			if db != "local" && db != "config" {
				return true
			}
		case patDB, patExactNS:
			if p.pattern.db == db {
				return true
			}
		}
	}
	return false
}

func onCluster(actions ...string) requirement {
	return func(request) []need { return []need{{actions, ClusterResource()}} }
}

func onDB(actions ...string) requirement {
	return func(r request) []need { return []need{{actions, DBResource(r.db)}} }
}

// onNS needs every action on the collection the command names first; onNSAnyOf needs one of them.
func onNS(actions ...string) requirement {
	return func(r request) []need {
		res := nsOf(r.db, r.cmd.Index(0).Value())
		out := make([]need, len(actions))
		for i, a := range actions {
			out[i] = need{[]string{a}, res}
		}
		return out
	}
}

func onNSAnyOf(actions ...string) requirement {
	return func(r request) []need { return []need{{actions, nsOf(r.db, r.cmd.Index(0).Value())}} }
}

// nsOf is the collection a command's first value names, or the database when it names none
// (aggregate: 1, a collection UUID).
func nsOf(db string, v bsoncore.Value) Resource {
	if coll, ok := v.StringValueOK(); ok && coll != "" {
		return NSResource(db, coll)
	}
	return DBResource(db)
}

func getMoreNeeds(r request) []need {
	return []need{{[]string{"find"}, nsOf(r.db, r.cmd.Lookup("collection"))}}
}

// writeNeeds is a write's action, plus bypassDocumentValidation when the command asks for it.
func writeNeeds(action string) requirement {
	return func(r request) []need {
		res := nsOf(r.db, r.cmd.Index(0).Value())
		out := []need{{[]string{action}, res}}
		if bypass, _ := r.cmd.Lookup("bypassDocumentValidation").BooleanOK(); bypass {
			out = append(out, need{[]string{"bypassDocumentValidation"}, res})
		}
		return out
	}
}

// updateNeeds: update, and insert when any statement upserts.
func updateNeeds(r request) []need {
	out := writeNeeds("update")(r)
	if arr, ok := r.cmd.Lookup("updates").ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			if d, ok := v.DocumentOK(); ok {
				if up, _ := d.Lookup("upsert").BooleanOK(); up {
					return append(out, need{[]string{"insert"}, out[0].res})
				}
			}
		}
	}
	return out
}

func findAndModifyNeeds(r request) []need {
	res := nsOf(r.db, r.cmd.Index(0).Value())
	if remove, _ := r.cmd.Lookup("remove").BooleanOK(); remove {
		return []need{{[]string{"find"}, res}, {[]string{"remove"}, res}}
	}
	out := append([]need{{[]string{"find"}, res}}, writeNeeds("update")(r)...)
	if up, _ := r.cmd.Lookup("upsert").BooleanOK(); up {
		out = append(out, need{[]string{"insert"}, res})
	}
	return out
}

// bulkWriteNeeds: each operation's action on the namespace its nsInfo entry names.
func bulkWriteNeeds(r request) []need {
	var nss []Resource
	if arr, ok := r.cmd.Lookup("nsInfo").ArrayOK(); ok {
		vals, _ := arr.Values()
		for _, v := range vals {
			d, _ := v.DocumentOK()
			ns, _ := d.Lookup("ns").StringValueOK()
			db, coll := splitNS(ns)
			nss = append(nss, NSResource(db, coll))
		}
	}
	var out []need
	ops, _ := r.cmd.Lookup("ops").ArrayOK()
	vals, _ := ops.Values()
	for _, v := range vals {
		op, ok := v.DocumentOK()
		if !ok {
			continue
		}
		first, err := op.IndexErr(0)
		if err != nil {
			continue
		}
		i, ok := first.Value().AsInt64OK()
		if !ok || i < 0 || i >= int64(len(nss)) {
			continue // malformed: the command itself rejects it
		}
		switch first.Key() {
		case "insert":
			out = append(out, need{[]string{"insert"}, nss[i]})
		case "update":
			out = append(out, need{[]string{"update"}, nss[i]})
			if up, _ := op.Lookup("upsert").BooleanOK(); up {
				out = append(out, need{[]string{"insert"}, nss[i]})
			}
		case "delete":
			out = append(out, need{[]string{"remove"}, nss[i]})
		}
	}
	return out
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
func listCollectionsNeeds(r request) []need {
	authorized, _ := r.cmd.Lookup("authorizedCollections").BooleanOK()
	nameOnly, _ := r.cmd.Lookup("nameOnly").BooleanOK()
	if authorized && nameOnly {
		return nil
	}
	return []need{{[]string{"listCollections"}, DBResource(r.db)}}
}

// listDatabasesNeeds: listDatabases on the cluster only when authorizedDatabases is false;
// otherwise a user without it sees the databases AuthorizedForDB allows.
func listDatabasesNeeds(r request) []need {
	if v, ok := r.cmd.Lookup("authorizedDatabases").BooleanOK(); ok && !v {
		return []need{{[]string{"listDatabases"}, ClusterResource()}}
	}
	return nil
}

func currentOpNeeds(r request) []need {
	if own, _ := r.cmd.Lookup("$ownOps").BooleanOK(); own {
		return nil
	}
	return []need{{[]string{"inprog"}, ClusterResource()}}
}

// explainNeeds: the explained command's privileges.
func explainNeeds(r request) []need {
	inner, ok := r.cmd.Index(0).Value().DocumentOK()
	if !ok {
		return nil // explain refuses it itself
	}
	first, err := inner.IndexErr(0)
	if err != nil {
		return nil
	}
	req, ok := requirements[first.Key()]
	if !ok || first.Key() == "explain" {
		return onCluster(ActionAnyAction)(r)
	}
	return req(request{user: r.user, db: r.db, name: first.Key(), cmd: inner})
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
