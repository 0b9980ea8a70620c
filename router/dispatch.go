package router

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// request is one client command as it flows through the router: the one parse that
// authorization, placement, session handling and forwarding all read.
type request struct {
	command.Command
	flags wiremessage.MsgFlag
	start time.Time // when its frame was read
	op    sessionid.OpInfo
	who   identity
	// keep, when set, filters every batch of the cursor the command opens (visible.go).
	keep func(bsoncore.Document) bool
}

type handler func(c *conn, ctx context.Context, r *request) (bsoncore.Document, error)

// handlers are the commands the router answers itself or routes specially; everything else goes
// to the database's primary shard. Filled in init to break the initialisation cycle through
// handlers that dispatch again.
var handlers map[string]handler

// handshake and authentication commands ignore session fields, as on mongod
// (src/mongo/db/initialize_operation_session_info.cpp).
var handshake = map[string]bool{"hello": true, "isMaster": true, "ismaster": true,
	"saslStart": true, "saslContinue": true, "authenticate": true}

func init() {
	handlers = map[string]handler{
		"hello": (*conn).hello, "isMaster": (*conn).hello, "ismaster": (*conn).hello,
		"ping":                     (*conn).ping,
		"buildInfo":                (*conn).buildInfo,
		"buildinfo":                (*conn).buildInfo,
		"getParameter":             (*conn).getParameter,
		"serverStatus":             (*conn).serverStatus,
		"connPoolStats":            (*conn).connPoolStats,
		"listShards":               (*conn).listShards,
		"isdbgrid":                 (*conn).isdbgrid,
		"whatsmyuri":               (*conn).whatsmyuri,
		"getMore":                  (*conn).getMore,
		"killCursors":              (*conn).killCursors,
		"currentOp":                (*conn).currentOpCommand,
		"killOp":                   (*conn).killOp,
		"checkMetadataConsistency": (*conn).checkMetadataConsistency,
		"listDatabases":            (*conn).listDatabases,
		"listCollections":          (*conn).listCollections,
		"dropDatabase":             (*conn).dropDatabase,
		"find":                     (*conn).find,
		"count":                    (*conn).countRouted,
		"explain":                  (*conn).explainRouted,
		"distinct":                 (*conn).distinctRouted,
		"aggregate":                (*conn).aggregate,
		"bulkWrite":                (*conn).bulkWrite,
		"insert":                   (*conn).insert,
		"update":                   (*conn).update,
		"delete":                   (*conn).delete,
		"findAndModify":            (*conn).findAndModify,
		"findandmodify":            (*conn).findAndModify,
		"createIndexes":            (*conn).createIndexes,
		"dropIndexes":              (*conn).dropIndexes,
		"deleteIndexes":            (*conn).dropIndexes,
		"listIndexes":              (*conn).listIndexes,
		"drop":                     (*conn).drop,
		"renameCollection":         (*conn).renameCollection,
		"shardCollection":          (*conn).shardCollection,
		"shardcollection":          (*conn).shardCollection,
		"enableSharding":           (*conn).enableSharding,
		"enablesharding":           (*conn).enableSharding,

		"startSession":             (*conn).startSession,
		"refreshSessions":          (*conn).refreshSessions,
		"endSessions":              (*conn).endSessions,
		"killSessions":             (*conn).killSessions,
		"killAllSessions":          (*conn).killSessions,
		"killAllSessionsByPattern": (*conn).killSessions,

		"commitTransaction":  (*conn).endTransaction,
		"abortTransaction":   (*conn).endTransaction,
		"configureFailPoint": (*conn).configureFailPoint,
		"saslStart":          (*conn).saslStart,
		"saslContinue":       (*conn).saslContinue,
		"authenticate":       (*conn).authenticate,
		"connectionStatus":   (*conn).connectionStatus,
		"logout":             (*conn).logout,
		"listCommands":       (*conn).listCommands,

		"balancerStatus":    (*conn).balancerStatus,
		"balancerStart":     (*conn).balancerStart,
		"balancerStop":      (*conn).balancerStop,
		"flushRouterConfig": (*conn).flushRouterConfig,
		"flushrouterconfig": (*conn).flushRouterConfig,
		"getShardMap":       (*conn).getShardMap,
		"getCmdLineOpts":    (*conn).getCmdLineOpts,
		"dbStats":           (*conn).dbStats,
		"dbstats":           (*conn).dbStats,
		"collStats":         (*conn).collStats,
		"collstats":         (*conn).collStats,
		"dataSize":          (*conn).dataSize,
		"datasize":          (*conn).dataSize,
	}
}

// knownNames are the command names metrics report by name: every handled command plus the
// common forwarded ones.
var knownNames = map[string]string{}

func init() {
	for name := range handlers {
		knownNames[name] = name
	}
	for _, name := range []string{"insert", "update", "delete", "findAndModify", "count", "distinct",
		"create", "drop", "createIndexes", "listIndexes", "dropIndexes", "listCollections",
		"commitTransaction", "abortTransaction", "explain", "collStats", "dbStats", "bulkWrite",
		"configureFailPoint", "saslStart", "saslContinue", "endSessions"} {
		knownNames[name] = name
	}
}

// createsData are the commands that may create data in their database, which is what places a
// database that has no primary shard yet. Nothing else places one: a read, a drop, a status
// probe or a write that matches nothing of a database that does not exist goes to the config
// shard, which has nothing of it either.
var createsData = map[string]func(r *request) bool{
	"insert":                  always,
	"create":                  always,
	"createIndexes":           always,
	"mapReduce":               always,
	"cloneCollectionAsCapped": always,
	"update":                  upserts,
	"findAndModify":           upserts,
}

func always(*request) bool { return true }

// upserts reports whether an update or findAndModify may insert (its statements were checked
// when it was authorized; an unreadable flag counts as an upsert).
func upserts(r *request) bool {
	if string(r.Name) == "findAndModify" {
		up, err := command.TrueValue(r.Body, "upsert", "findAndModify")
		return up || err != nil
	}
	found := false
	err := r.EachDoc("updates", func(st bsoncore.Document) error {
		up, err := command.TrueValue(st, "upsert", "update.updates")
		found = found || up
		return err
	})
	return found || err != nil
}

// places reports whether the command places its database when it has none.
func places(r *request) bool {
	f, ok := createsData[string(r.Name)]
	return ok && f(r)
}

// refused are replica-set administration commands: they concern one shard, and forwarding them
// to whichever shard a database lives on would act on the wrong set.
func refused(name []byte) bool {
	return bytes.HasPrefix(name, []byte("replSet")) || string(name) == "shutdown" ||
		string(name) == "fsync" || string(name) == "fsyncUnlock"
}

func (c *conn) dispatch(ctx context.Context, r *request) (bsoncore.Document, error) {
	name := r.Name
	who, err := c.identity()
	if err != nil {
		return nil, err
	}
	r.who = who
	if err := r.CheckGeneric(who.can); err != nil {
		return nil, err
	}
	if who.auth {
		if err := auth.Authorize(who.user, &r.Command); err != nil {
			return nil, err
		}
	}
	// As mongos, once the command is authorized: a causal chain begun through another router
	// must not reach a shard ahead of what this router gossips (clock.go).
	if err := c.s.clock.gossipIn(internedName(name), r.Body, c.clockSender()); err != nil {
		return nil, err
	}
	if !handshake[string(name)] {
		op, err := sessionid.ParseOpInfo(r.Body, who.uid, who.can(auth.ActionImpersonate))
		if err != nil {
			return nil, err
		}
		r.op = op
	}
	if err := r.CheckDuplicates(); err != nil {
		return nil, err
	}
	if !handshake[string(name)] {
		if r.op.HasLSID && !sessionCommands[string(name)] {
			if err := c.s.sessions.Vivify(r.op.LSID, who.owner()); err != nil {
				return nil, err
			}
		}
	}
	c.beginOpReport(r)
	defer c.endOpReport()
	if c.s.cfg.EnableTestCommands && string(name) != "configureFailPoint" {
		return c.failCommand(ctx, name, r, func() (bsoncore.Document, error) { return c.answer(ctx, name, r) })
	}
	return c.answer(ctx, name, r)
}

// answer routes the command and rewrites the shard state-change errors in what it produced, as
// mongos rewrites every reply it sends (cloak.go): one place for shard replies, errors and
// broadcasts alike. The router's own fail point acts outside it, so what it injects stays as
// configured, as on mongos.
func (c *conn) answer(ctx context.Context, name []byte, r *request) (bsoncore.Document, error) {
	body, err := c.route(ctx, name, r)
	if err != nil {
		var me *mongoerr.Error
		if errors.As(err, &me) {
			return nil, c.cloakError(me)
		}
		return nil, err
	}
	body = c.cloakReply(body)
	if r.op.Autocommit {
		if _, ok := bsonview.Lookup(body, "recoveryToken"); !ok {
			// Every reply to a statement of a transaction carries it, as on mongos, whatever
			// answered the statement: one shard, several merged, or the router.
			body = c.withRecoveryToken(body, c.recoveryShard(r))
		}
	}
	return body, nil
}

func (c *conn) route(ctx context.Context, name []byte, r *request) (bsoncore.Document, error) {
	if h, ok := handlers[string(name)]; ok {
		return h(c, ctx, r)
	}
	if refused(name) {
		return nil, mongoerr.New(mongoerr.CommandNotFound,
			"%s is not supported through mongos-lite: run it against the shard's replica set directly", name)
	}
	return c.forwardToPrimary(ctx, r, places(r))
}
