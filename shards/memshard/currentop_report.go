package memshard

import (
	"math"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/currentop"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// $currentOp's documents, in mongod's shapes: one per connection with an operation in progress
// (and per idle connection on request), then the idle cursors, then the idle sessions
// (CommonProcessInterface::getCurrentOps, src/mongo/db/pipeline/process_interface/
// common_process_interface.cpp; CurOp::reportCurrentOpForClient and CurOp::reportState,
// src/mongo/db/curop.cpp).

// opReport is one $currentOp run on a member.
type opReport struct {
	m        *Member
	now      time.Time
	truncate bool
	// viewer is the only user whose operations, cursors and sessions a caller without allUsers
	// sees when auth is on; nil: everyone's.
	viewer *userName
}

// clientView is one connection as a report sees it, copied under its clientState.mu.
type clientView struct {
	c           *conn
	user        *auth.User
	metadata    bsoncore.Document
	op          *curOp
	killPending bool
	checkedOut  bool
}

// currentOps is $currentOp's output on r's member.
func (r *request) currentOps(spec currentop.Spec) []bson.Raw {
	rep := &opReport{m: r.m, now: time.Now(), truncate: spec.TruncateOps}
	if r.m.rs.opts.auth.on && !spec.AllUsers {
		name, _ := r.users().name() // an anonymous caller's empty name is nobody's
		rep.viewer = &name
	}
	var views []clientView
	r.m.eachClient(func(c *conn, cs *clientState) {
		v := clientView{c: c, user: cs.user, metadata: cs.metadata, op: cs.op}
		if cs.op != nil {
			v.killPending, v.checkedOut = cs.op.killPending, cs.op.checkedOut
		}
		views = append(views, v)
	})
	var docs []bson.Raw
	// Sessions an operation has checked out are not idle; one whose next statement has not yet
	// checked it out (waiting in failCommand, say) still is, as in mongod.
	busy := map[sessionid.ID]bool{}
	for _, v := range views {
		info := v.op.session()
		if info.HasLSID && v.checkedOut {
			busy[info.LSID] = true
		}
		if v.op == nil && !spec.IdleConnections {
			continue
		}
		users := v.op.users(v.user)
		if name, ok := users.name(); rep.viewer != nil && (!ok || name != *rep.viewer) {
			continue
		}
		docs = append(docs, rep.clientDoc(v, users, info))
	}
	if spec.IdleCursors {
		docs = append(docs, rep.idleCursors()...)
	}
	if spec.IdleSessions {
		docs = append(docs, rep.idleSessions(busy)...)
	}
	return docs
}

// session is the operation's session fields, as mongod attaches them to the operation: not for
// the commands that need no authentication or only name sessions (session commands).
func (op *curOp) session() sessionid.OpInfo {
	if op == nil || op.flags&(cNoAuth|cNoAttach) != 0 {
		return sessionid.OpInfo{}
	}
	info, err := sessionid.ParseOpInfo(op.body, op.caller, op.mayImpersonate)
	if err != nil {
		return sessionid.OpInfo{}
	}
	return info
}

// clientDoc is one connection's document: its client, then its operation if it has one.
func (rep *opReport) clientDoc(v clientView, users opUsers, info sessionid.OpInfo) bson.Raw {
	c, op := v.c, v.op
	idx, d := bsoncore.AppendDocumentStart(make([]byte, 0, 512))
	d = bsoncore.AppendStringElement(d, "type", "op")
	d = bsoncore.AppendStringElement(d, "host", rep.m.host)
	d = bsoncore.AppendStringElement(d, "desc", "conn"+strconv.FormatInt(c.id, 10))
	d = appendNumber(d, "connectionId", c.id)
	d = bsoncore.AppendStringElement(d, "client", c.nc.RemoteAddr().String())
	md := op.metadata(v.metadata)
	if name, _ := md.Lookup("application", "name").StringValueOK(); name != "" {
		d = bsoncore.AppendStringElement(d, "appName", name)
	}
	if md != nil {
		d = bsoncore.AppendDocumentElement(d, "clientMetadata", md)
	}
	d = bsoncore.AppendBooleanElement(d, "active", op != nil)
	d = bsoncore.AppendStringElement(d, "currentOpTime", isoLocal(rep.now))
	d = users.appendTo(d)
	d = bsoncore.AppendBooleanElement(d, "isFromUserConnection", true)
	d = bsoncore.AppendBooleanElement(d, "threaded", true)
	if op != nil {
		d = rep.appendOp(d, v, info)
	}
	d, _ = bsoncore.AppendDocumentEnd(d, idx)
	return d
}

// appendOp adds what CurOp::reportState and the transaction, lock and flow control reports say
// of an operation in progress. memshard takes no locks a report could show: they are empty.
func (rep *opReport) appendOp(d []byte, v clientView, info sessionid.OpInfo) []byte {
	op := v.op
	d = bsoncore.AppendInt32Element(d, "opid", op.id)
	if v.killPending {
		d = bsoncore.AppendBooleanElement(d, "killPending", true)
	}
	if info.HasLSID {
		d = bsoncore.AppendHeader(d, bsoncore.TypeEmbeddedDocument, "lsid")
		d = info.LSID.AppendDoc(d)
	}
	// An operation that began after the report took its time has run for no time yet.
	elapsed := max(rep.now.Sub(op.start), 0)
	d = bsoncore.AppendInt64Element(d, "secs_running", int64(elapsed/time.Second))
	d = bsoncore.AppendInt64Element(d, "microsecs_running", int64(elapsed/time.Microsecond))
	d = bsoncore.AppendStringElement(d, "op", logicalOp(op.name))
	// The namespace a command has until it acquires its collection (setGenericOpRequestDetails),
	// which is where memshard's commands wait.
	d = bsoncore.AppendStringElement(d, "ns", op.db+".$cmd")
	d = bsoncore.AppendBooleanElement(d, "redacted", false)
	d = appendCommand(d, "command", op.body, rep.truncate)
	d = bsoncore.AppendInt32Element(d, "numYields", 0)
	if v.checkedOut && info.HasTxnNumber {
		d = rep.appendRunningTxn(d, info, op)
	}
	d = appendEmptyLocks(d)
	d = bsoncore.AppendBooleanElement(d, "waitingForFlowControl", false)
	return bsoncore.AppendDocumentElement(d, "flowControlStats", emptyDoc)
}

var emptyDoc = bsoncore.NewDocumentBuilder().Build()

// appendEmptyLocks is fillLockerInfo of an operation that holds and awaits no lock.
func appendEmptyLocks(d []byte) []byte {
	d = bsoncore.AppendDocumentElement(d, "locks", emptyDoc)
	d = bsoncore.AppendBooleanElement(d, "waitingForLock", false)
	return bsoncore.AppendDocumentElement(d, "lockStats", emptyDoc)
}

// maxReportedCommand is the size over which a truncated report shows a command as a string.
const maxReportedCommand = 1000

// appendCommand appends the command as appendAsObjOrString does: whole, or when truncating and
// over 1000 bytes, {$truncated: <its text cut to 1000 bytes, ending "...">, comment}.
func appendCommand(d []byte, key string, cmd bsoncore.Document, truncate bool) []byte {
	if !truncate || len(cmd) <= maxReportedCommand {
		return bsoncore.AppendDocumentElement(d, key, cmd)
	}
	comment, hasComment := cmd.LookupErr("comment")
	text := auth.BSONText(withoutField(cmd, "comment"))
	if len(text) > maxReportedCommand {
		text = text[:maxReportedCommand-3] + "..."
	}
	idx, d := bsoncore.AppendDocumentElementStart(d, key)
	d = bsoncore.AppendStringElement(d, "$truncated", text)
	if hasComment == nil {
		d = bsoncore.AppendValueElement(d, "comment", comment)
	}
	d, _ = bsoncore.AppendDocumentEnd(d, idx)
	return d
}

// withoutField is a copy of doc without its top-level key fields.
func withoutField(doc bsoncore.Document, key string) bsoncore.Document {
	idx, out := bsoncore.AppendDocumentStart(nil)
	elems, _ := doc.Elements()
	for _, e := range elems {
		if e.Key() != key {
			out = append(out, e...)
		}
	}
	out, _ = bsoncore.AppendDocumentEnd(out, idx)
	return out
}

// logicalOp is Command::getLogicalOp as logicalOpToString prints it.
func logicalOp(name string) string {
	switch name {
	case "find":
		return "query"
	case "getMore":
		return "getmore"
	case "insert", "update", "bulkWrite":
		return name
	case "delete":
		return "remove"
	case "killCursors":
		return "killcursors"
	}
	return "command"
}

// appendNumber is BSONObjBuilder::appendNumber(long long): an int when it fits, else a long.
func appendNumber(d []byte, key string, n int64) []byte {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		return bsoncore.AppendInt32Element(d, key, int32(n))
	}
	return bsoncore.AppendInt64Element(d, key, n)
}

// isoLocal is dateToISOStringLocal: 2006-01-02T15:04:05.000+07:00 in the process's time zone.
func isoLocal(t time.Time) string { return t.Local().Format("2006-01-02T15:04:05.000-07:00") }
