package router

import (
	"bytes"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/currentop"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/router/clustercursor"
)

// The router's own operations, as mongos reports its own under $currentOp's localOps and kills
// them by number (killOp): each connection publishes the command it runs.

// opReport is a connection's command in progress, or its last user when idle.
type opReport struct {
	id         int32 // 0: idle
	start      time.Time
	body       bsoncore.Document // the command; valid while id is set
	user       *auth.User
	hasLSID    bool
	lsid       sessionid.ID
	appName    string
	clientMeta bsoncore.Document
}

// opState is the published half of a connection: what it runs, and whether killOp asked it to
// stop.
type opState struct {
	mu     sync.Mutex
	report opReport
	killed bool
}

// beginOp publishes the command r as the connection's operation in progress.
func (c *conn) beginOpReport(r *request) {
	id := c.s.nextOpID.Add(1) & math.MaxInt32
	if id == 0 {
		id = c.s.nextOpID.Add(1) & math.MaxInt32
	}
	var meta bsoncore.Document
	if c.clientMeta != nil {
		meta, _ = bsoncore.Element(c.clientMeta).Value().DocumentOK()
	}
	c.op.mu.Lock()
	c.op.report = opReport{id: id, start: r.start, body: r.Body, user: r.who.user, hasLSID: r.op.HasLSID,
		lsid: r.op.LSID, appName: c.appName, clientMeta: meta}
	c.op.killed = false
	c.op.mu.Unlock()
}

// endOpReport marks the connection idle; its buffers may be reused.
func (c *conn) endOpReport() {
	c.op.mu.Lock()
	c.op.report.id, c.op.report.body = 0, nil
	c.op.mu.Unlock()
}

// interrupted is the error of an operation killOp has killed: it stops at its next shard round
// trip, as a mongod operation stops at its next interrupt check.
func (c *conn) interrupted() error {
	c.op.mu.Lock()
	killed := c.op.killed
	c.op.mu.Unlock()
	if killed {
		return mongoerr.New(mongoerr.Interrupted, "operation was interrupted")
	}
	return nil
}

// killRouterOp marks the router's operation id killed (killOp with a number).
func (s *Server) killRouterOp(id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.op.mu.Lock()
		if c.op.report.id == id {
			c.op.killed = true
		}
		c.op.mu.Unlock()
	}
}

// parseLocalOpID reads a numeric op as KillOpCmdBase::parseOpId does.
func parseLocalOpID(v bsoncore.Value) (int32, error) {
	f, _ := v.AsFloat64OK()
	n, _ := v.AsInt64OK()
	if float64(n) != f {
		return 0, mongoerr.New(mongoerr.BadValue, `Expected field "op" to have a value exactly representable as a 64-bit integer, but found op: %v`, f)
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, mongoerr.New(26823, "invalid op : %d. Op ID cannot be represented with 32 bits", n)
	}
	return int32(n), nil
}

// routerOps are the router's operations that who may see: the commands in progress, with
// idleConnections the connections between commands, with idleCursors its idle cursors.
func (s *Server) routerOps(who identity, spec currentop.Spec) []bson.Raw {
	now := time.Now()
	host := s.hostPort()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var docs []bson.Raw
	for _, c := range conns {
		c.op.mu.Lock()
		rep := c.op.report
		rep.body = bytes.Clone(rep.body)
		c.op.mu.Unlock()
		if rep.id == 0 && !spec.IdleConnections || !spec.AllUsers && !who.sameUser(rep.user) {
			continue
		}
		docs = append(docs, c.appendOp(nil, host, rep, now, spec.TruncateOps))
	}
	if spec.IdleCursors {
		for _, cur := range s.cursors.Idle() {
			if spec.AllUsers || cur.Binding.Owner == who.uid {
				docs = append(docs, appendIdleCursor(nil, host, cur))
			}
		}
	}
	return docs
}

func (s *Server) hostPort() string {
	name, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(s.Addr())
	return net.JoinHostPort(name, port)
}

// sameUser: whether u is who's user (everyone is everyone without --auth).
func (id identity) sameUser(u *auth.User) bool {
	return !id.auth || id.user != nil && u != nil && id.user.Name == u.Name && id.user.DB == u.DB
}

// appendOp is one connection as mongos reports it (CurOp::reportState, Client info).
func (c *conn) appendOp(dst []byte, host string, rep opReport, now time.Time, truncate bool) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendStringElement(dst, "type", "op")
	dst = bsoncore.AppendStringElement(dst, "host", host)
	dst = bsoncore.AppendStringElement(dst, "desc", "conn"+strconv.FormatInt(c.id, 10))
	dst = bsoncore.AppendInt64Element(dst, "connectionId", c.id)
	dst = bsoncore.AppendStringElement(dst, "client", c.nc.RemoteAddr().String())
	if rep.appName != "" {
		dst = bsoncore.AppendStringElement(dst, "appName", rep.appName)
	}
	if rep.clientMeta != nil {
		dst = bsoncore.AppendDocumentElement(dst, "clientMetadata", rep.clientMeta)
	}
	dst = bsoncore.AppendBooleanElement(dst, "active", rep.id != 0)
	dst = bsoncore.AppendStringElement(dst, "currentOpTime", now.Format("2006-01-02T15:04:05.000-07:00"))
	if rep.user != nil {
		uidx, d := bsoncore.AppendArrayElementStart(dst, "effectiveUsers")
		d = bsoncore.AppendDocumentElement(d, "0", bsoncore.NewDocumentBuilder().
			AppendString("user", rep.user.Name).AppendString("db", rep.user.DB).Build())
		dst, _ = bsoncore.AppendArrayEnd(d, uidx)
	}
	dst = bsoncore.AppendBooleanElement(dst, "threaded", true)
	if rep.id == 0 {
		dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
		return dst
	}
	dst = bsoncore.AppendInt32Element(dst, "opid", rep.id)
	if rep.hasLSID {
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "lsid")
		dst = rep.lsid.AppendDoc(dst)
	}
	running := now.Sub(rep.start)
	dst = bsoncore.AppendInt64Element(dst, "secs_running", int64(running/time.Second))
	dst = bsoncore.AppendInt64Element(dst, "microsecs_running", running.Microseconds())
	name := string(bsonview.FirstKey(rep.body))
	dst = bsoncore.AppendStringElement(dst, "op", opType(name))
	dst = bsoncore.AppendStringElement(dst, "ns", opNamespace(rep.body))
	dst = appendOpCommand(dst, rep.body, truncate)
	dst = bsoncore.AppendInt64Element(dst, "numYields", 0)
	dst = bsoncore.AppendDocumentElement(dst, "locks", emptyDoc)
	dst = bsoncore.AppendBooleanElement(dst, "waitingForLock", false)
	dst = bsoncore.AppendDocumentElement(dst, "lockStats", emptyDoc)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

var emptyDoc = bsoncore.NewDocumentBuilder().Build()

// opType is currentOp's op of a command (logical_op.cpp): the CRUD commands by their kind.
func opType(name string) string {
	switch name {
	case "find":
		return "query"
	case "getMore":
		return "getmore"
	case "insert", "update":
		return name
	case "delete":
		return "remove"
	}
	return "command"
}

// opNamespace is db.coll for a command whose first field names a collection, db.$cmd otherwise.
func opNamespace(body bsoncore.Document) string {
	db, _ := body.Lookup("$db").StringValueOK()
	first, _ := body.IndexErr(0)
	if coll, ok := first.Value().StringValueOK(); ok && coll != "" {
		return db + "." + coll
	}
	return db + ".$cmd"
}

// truncateAt is mongod's limit on a reported command with truncateOps (1000 bytes).
const truncateAt = 1000

// appendOpCommand is currentOp's command: the body, or past 1000 bytes with truncateOps a string
// prefix of it, as mongod truncates it (CurOp::truncateAndSerializeGenericCursor).
func appendOpCommand(dst []byte, body bsoncore.Document, truncate bool) []byte {
	if !truncate || len(body) <= truncateAt {
		return bsoncore.AppendDocumentElement(dst, "command", body)
	}
	text := auth.BSONText(body)
	if len(text) > truncateAt {
		text = text[:truncateAt]
	}
	return bsoncore.AppendDocumentElement(dst, "command",
		bsoncore.NewDocumentBuilder().AppendString("$truncated", text).Build())
}

// appendIdleCursor is one idle router cursor as mongos reports it (GenericCursor).
func appendIdleCursor(dst []byte, host string, cur clustercursor.Idle) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendStringElement(dst, "type", "idleCursor")
	dst = bsoncore.AppendStringElement(dst, "host", host)
	dst = bsoncore.AppendStringElement(dst, "ns", cur.NS)
	if cur.Binding.HasLSID {
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "lsid")
		dst = cur.Binding.LSID.AppendDoc(dst)
	}
	cidx, dst := bsoncore.AppendDocumentElementStart(dst, "cursor")
	dst = bsoncore.AppendInt64Element(dst, "cursorId", cur.ID)
	dst = bsoncore.AppendDateTimeElement(dst, "createdDate", cur.Created.UnixMilli())
	dst = bsoncore.AppendDateTimeElement(dst, "lastAccessDate", cur.LastUsed.UnixMilli())
	dst = bsoncore.AppendInt64Element(dst, "nDocsReturned", cur.Returned)
	dst = bsoncore.AppendInt64Element(dst, "nBatchesReturned", cur.Batches)
	dst = bsoncore.AppendBooleanElement(dst, "noCursorTimeout", cur.NoTimeout)
	if cur.Originating != nil {
		dst = bsoncore.AppendDocumentElement(dst, "originatingCommand", cur.Originating)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, cidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
