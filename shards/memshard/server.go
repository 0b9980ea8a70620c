package memshard

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

const (
	// idleTimeout bounds every read: a client silent this long is gone. mongod has no idle
	// limit; an hour is far beyond any pool's idle time.
	idleTimeout  = time.Hour
	writeTimeout = 30 * time.Second
)

// errCloseConnection asks the serving loop to drop the connection (failCommand closeConnection).
var errCloseConnection = errors.New("fail point closed the connection")

// conn is one client connection; only its own goroutine touches it after accept.
type conn struct {
	m         *Member
	nc        net.Conn
	br        *bufio.Reader
	id        int64
	log       zerolog.Logger
	stop      <-chan struct{} // the member's stop channel when the connection was accepted
	processID bson.ObjectID   // the member process incarnation the connection belongs to

	helloSeen bool   // the handshake hello happened (client metadata is accepted once)
	appName   string // client metadata application.name, for failCommand appName

	auth *auth.Conversation // authentication state (auth.go), made on first use

	client clientState // what $currentOp and killOp see of the connection (ops.go)
}

func (m *Member) accept(ln net.Listener, stop chan struct{}) {
	defer m.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-stop:
			default:
				m.log.Error().Err(err).Msg("accept failed; member stops listening")
			}
			return
		}
		id := m.connIDs.Add(1)
		c := &conn{m: m, nc: nc, br: bufio.NewReader(nc), id: id, stop: stop,
			log: m.log.With().Int64("conn", id).Str("remote", nc.RemoteAddr().String()).Logger()}
		m.mu.Lock()
		if m.ln != ln { // stopped meanwhile
			m.mu.Unlock()
			_ = nc.Close()
			return
		}
		c.processID = m.processID
		m.conns[c] = struct{}{}
		m.wg.Add(1)
		m.mu.Unlock()
		m.connCount.Add(1)
		go c.serve()
	}
}

func (c *conn) serve() {
	defer c.m.wg.Done()
	defer func() {
		_ = c.nc.Close()
		c.m.mu.Lock()
		delete(c.m.conns, c)
		c.m.mu.Unlock()
		c.m.connCount.Add(-1)
	}()
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
		frame, err := wire.ReadFrame(c.br, nil) // fresh buffer: stored documents may alias it
		if err == nil {
			err = c.handle(frame)
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, wire.ErrBadFrame):
			c.log.Warn().Err(err).Msg("closing connection: malformed message")
		case errors.Is(err, errCloseConnection):
			c.log.Debug().Msg("closing connection: fail point")
		default:
			c.log.Debug().Err(err).Msg("connection closed")
		}
		return
	}
}

// handle answers one frame; an error closes the connection.
func (c *conn) handle(frame []byte) error {
	h, err := wire.ParseHeader(frame)
	if err != nil {
		return err
	}
	comp := wiremessage.CompressorID(wire.CompressorNoop)
	if h.OpCode == wire.OpCompressed {
		if frame, comp, err = wire.Decompress(frame); err != nil {
			return err
		}
		if h, err = wire.ParseHeader(frame); err != nil {
			return err
		}
	}
	switch h.OpCode {
	case wire.OpMsg:
		msg, err := wire.ParseMsg(frame)
		if err != nil {
			c.replyBadFrame(h, err, comp)
			return err
		}
		return c.handleMsg(msg, comp)
	case wire.OpQuery:
		q, err := wire.ParseQuery(frame)
		if err != nil {
			c.replyBadFrame(h, err, comp)
			return err
		}
		return c.handleQuery(q, comp)
	}
	return fmt.Errorf("%w: unsupported opcode %d", wire.ErrBadFrame, h.OpCode)
}

// replyBadFrame tells the client in mongod's words why its message is refused; the connection
// closes right after, so a failed write does not matter.
func (c *conn) replyBadFrame(h wire.Header, err error, comp wiremessage.CompressorID) {
	r := c.newRequest(nil, nil)
	idx, out := bsoncore.AppendDocumentStart(nil)
	r.out = out
	reply := c.m.finish(r, idx, err)
	if h.OpCode == wire.OpQuery {
		_ = c.write(wire.AppendReply(nil, c.m.reqIDs.Add(1), h.RequestID, reply), comp)
		return
	}
	_, _ = c.writeMsg(h.RequestID, 0, reply, comp)
}

func (c *conn) handleMsg(msg wire.Msg, comp wiremessage.CompressorID) error {
	r := c.newRequest(msg.Body, msg.Sequences)
	r.db, _ = msg.Body.Lookup("$db").StringValueOK()
	r.exhaust = msg.Flags&wire.ExhaustAllowed != 0
	c.record(r)
	reply, err := c.m.execute(r)
	if err != nil {
		return err
	}
	if msg.Flags&wire.MoreToCome != 0 {
		return nil // the client asked for no reply (unacknowledged write)
	}
	var flags wiremessage.MsgFlag
	if r.stream {
		flags = wire.MoreToCome
	}
	id, err := c.writeMsg(msg.Header.RequestID, flags, reply, comp)
	if err != nil || !r.stream {
		return err
	}
	return c.streamHello(r, id, comp)
}

// handleQuery answers OP_QUERY, which servers since 5.1 accept only for hello/isMaster.
func (c *conn) handleQuery(q wire.Query, comp wiremessage.CompressorID) error {
	r := c.newRequest(q.Command(), nil)
	r.db, r.opQuery = q.Database(), true
	reply, err := c.m.execute(r)
	if err != nil {
		return err
	}
	return c.write(wire.AppendReply(nil, c.m.reqIDs.Add(1), q.Header.RequestID, reply), comp)
}

func (c *conn) writeMsg(responseTo int32, flags wiremessage.MsgFlag, body []byte, comp wiremessage.CompressorID) (int32, error) {
	id := c.m.reqIDs.Add(1)
	return id, c.write(wire.AppendMsg(make([]byte, 0, len(body)+21), id, responseTo, flags, body), comp)
}

// write sends a frame, compressed like the request was.
func (c *conn) write(frame []byte, comp wiremessage.CompressorID) error {
	frame, err := wire.Compress(frame, comp)
	if err != nil {
		return err
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err = c.nc.Write(frame)
	return err
}

// request is one command being executed.
type request struct {
	m       *Member
	c       *conn
	cmd     command
	name    string
	db      string
	body    bsoncore.Document
	seqs    []wire.Sequence
	start   time.Time
	opQuery bool // arrived as OP_QUERY
	exhaust bool // OP_MSG exhaustAllowed

	snapshotRead bool           // readConcern snapshot outside a transaction
	readAt       bson.Timestamp // its (or a starting transaction's) atClusterTime, zero: now; then the time it read at

	op    sessionid.OpInfo
	txn   *txn        // the transaction a statement runs in
	retry *sessionTxn // the checked-out record of a retryable write

	out    []byte // the reply document under construction (open)
	opTime bson.Timestamp

	stream    bool             // hello: reply with moreToCome and keep streaming
	awaitFrom *topologyVersion // hello streaming: wait for a change after this version
	sent      topologyVersion  // hello: the version the reply reported

	env *query.Env // the command's query environment (queryenv.go), once built

	fpLabels []string          // fail point errorLabels (used as given, even empty)
	wce      bsoncore.Document // fail point writeConcernError
}

func (c *conn) newRequest(body bsoncore.Document, seqs []wire.Sequence) *request {
	return &request{m: c.m, c: c, body: body, seqs: seqs, start: time.Now()}
}

// Command flags: where a command may run and how it treats session fields.
type cmdFlags uint16

const (
	cRead      cmdFlags = 1 << iota // reads data: a secondary needs a non-primary read preference
	cWrite                          // primary only
	cAdmin                          // admin database only
	cNoAuth                         // needs no auth in mongod: session fields are ignored, txnNumber refused
	cNoAttach                       // session commands: lsid validated, not attached (vivified)
	cRetryable                      // a retryable write: txnNumber allowed outside transactions
	cTxn                            // allowed inside a multi-document transaction
	cTest                           // exists only with test commands enabled
	cSnapshot                       // accepts readConcern level snapshot outside transactions
)

type command struct {
	run   func(*request) error
	flags cmdFlags
}

// commands is the dispatch table.
var commands = map[string]command{
	"hello": {cmdHello, cNoAuth}, "isMaster": {cmdHello, cNoAuth}, "ismaster": {cmdHello, cNoAuth},
	"buildInfo": {cmdBuildInfo, cNoAuth}, "buildinfo": {cmdBuildInfo, cNoAuth},
	"ping":         {cmdPing, cNoAuth},
	"getParameter": {cmdGetParameter, cAdmin},
	"serverStatus": {cmdServerStatus, 0},
	"hostInfo":     {cmdHostInfo, 0},
	"getLog":       {cmdGetLog, cAdmin},

	"connectionStatus": {cmdConnectionStatus, cNoAuth},
	"saslStart":        {cmdSaslStart, cNoAuth},
	"saslContinue":     {cmdSaslContinue, cNoAuth},

	"startSession":             {cmdStartSession, cNoAttach},
	"endSessions":              {cmdEndSessions, cNoAttach},
	"refreshSessions":          {cmdRefreshSessions, cNoAttach},
	"killSessions":             {cmdKillSessions, cNoAttach},
	"killAllSessions":          {cmdKillSessions, cNoAttach},
	"killAllSessionsByPattern": {cmdKillSessions, cNoAttach},

	"insert":        {cmdInsert, cWrite | cRetryable | cTxn},
	"update":        {cmdUpdate, cWrite | cRetryable | cTxn},
	"delete":        {cmdDelete, cWrite | cRetryable | cTxn},
	"findAndModify": {cmdFindAndModify, cWrite | cRetryable | cTxn},
	"bulkWrite":     {cmdBulkWrite, cWrite | cRetryable | cTxn | cAdmin},
	"find":          {cmdFind, cRead | cTxn | cSnapshot},
	"count":         {cmdCount, cRead},
	"distinct":      {cmdDistinct, cRead | cTxn | cSnapshot},
	"aggregate":     {cmdAggregateOrCurrentOp, cRead | cTxn | cSnapshot},
	"explain":       {cmdExplain, cRead},
	"getMore":       {cmdGetMore, cTxn},
	"killCursors":   {cmdKillCursors, cTxn},

	"create":          {cmdCreate, cWrite | cTxn},
	"drop":            {cmdDrop, cWrite},
	"dropDatabase":    {cmdDropDatabase, cWrite},
	"listCollections": {cmdListCollections, cRead},
	"listDatabases":   {cmdListDatabases, cRead | cAdmin},
	"createIndexes":   {cmdCreateIndexes, cWrite | cTxn},
	"listIndexes":     {cmdListIndexes, cRead},
	"dropIndexes":     {cmdDropIndexes, cWrite},

	"collMod":          {cmdCollMod, cWrite},
	"renameCollection": {cmdRenameCollection, cWrite | cAdmin},

	"commitTransaction": {cmdEndTransaction, cWrite | cAdmin | cTxn},
	"abortTransaction":  {cmdEndTransaction, cWrite | cAdmin | cTxn},

	"configureFailPoint": {cmdConfigureFailPoint, cAdmin | cTest},

	"currentOp": {cmdCurrentOp, cAdmin}, "killOp": {cmdKillOp, cAdmin},
	"dbStats": {cmdDBStats, 0}, "dbstats": {cmdDBStats, 0}, "collStats": {cmdCollStats, 0}, "collstats": {cmdCollStats, 0},
	"dataSize": {cmdDataSize, 0}, "datasize": {cmdDataSize, 0},

	"appendOplogNote": {cmdAppendOplogNote, cWrite | cAdmin},
}

// execute runs a request and returns the whole reply document; an error means close the
// connection instead of replying.
func (m *Member) execute(r *request) ([]byte, error) {
	r.name = wire.CommandName(r.body)
	m.countCommand(r.name)
	r.beginOp() // in progress until its reply is built (ops.go)
	defer r.endOp()
	idx, out := bsoncore.AppendDocumentStart(make([]byte, 0, 512))
	r.out = out
	err := m.dispatch(r)
	if errors.Is(err, errCloseConnection) {
		return nil, err
	}
	return m.finish(r, idx, err), nil
}

func (m *Member) dispatch(r *request) error {
	if r.opQuery && !isHello(r.name) {
		return mongoerr.New(mongoerr.UnsupportedOpQueryCommand, "Unsupported OP_QUERY command: %s", r.name)
	}
	if r.db == "" {
		return mongoerr.New(codeMissingDB, "OP_MSG requests require a $db argument")
	}
	cmd, known := commands[r.name]
	if !known || cmd.flags&cTest != 0 && !m.rs.opts.testCommands {
		return mongoerr.New(mongoerr.CommandNotFound, "no such command: '%s'", r.name)
	}
	r.cmd = cmd
	if cmd.flags&cAdmin != 0 && r.db != "admin" {
		return mongoerr.New(mongoerr.Unauthorized, "%s may only be run against the admin database.", r.name)
	}
	if err := r.authorize(); err != nil {
		return err
	}
	if err := r.gossipIn(); err != nil {
		return err
	}
	if cmd.flags&cNoAuth != 0 {
		// initializeOperationSessionInfo ignores session info of commands that need no auth.
		if _, err := r.body.LookupErr("txnNumber"); err == nil {
			return mongoerr.New(mongoerr.TxnNumberNotAllowed, "It is illegal to provide a txnNumber for this command")
		}
		if _, err := r.body.LookupErr("autocommit"); err == nil {
			return mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "This command is not supported in transactions")
		}
		if err := r.evaluateFailCommand(); err != nil {
			return err
		}
		return cmd.run(r)
	}
	op, err := sessionid.ParseOpInfo(r.body, r.caller(), r.mayImpersonate())
	if err != nil {
		return err
	}
	r.op = op
	if op.HasLSID && cmd.flags&cNoAttach == 0 {
		m.sessions.vivify(m, op.LSID)
	}
	// After the session fields, as in mongod, so injected errors get the usual labels.
	if err := r.evaluateFailCommand(); err != nil {
		return err
	}
	if err := r.readConcern(); err != nil {
		return err
	}
	if op.HasTxnNumber {
		if op.Autocommit && cmd.flags&cTxn == 0 {
			return mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "Cannot run '%s' in a multi-document transaction.", r.name)
		}
		if !op.Autocommit && cmd.flags&cRetryable == 0 {
			return mongoerr.New(mongoerr.NotARetryableWriteCommand,
				"txnNumber may only be provided for multi-document transactions and retryable write commands. autocommit:false was not provided, and %s is not a retryable write command.", r.name)
		}
	} else if isCommitOrAbort(r.name) {
		return mongoerr.New(mongoerr.InvalidOptions, "%s must be run within a transaction", r.name)
	}
	if err := m.checkState(r); err != nil {
		return err
	}
	if op.HasTxnNumber {
		err = r.runWithTxnNumber(cmd)
	} else {
		err = cmd.run(r)
	}
	if err == nil && cmd.flags&cWrite != 0 && r.wce == nil {
		r.wce = r.unsatisfiableWriteConcern()
	}
	return err
}

// unsatisfiableWriteConcern is mongod's writeConcernError (after applying the write) for a w
// larger than the set.
func (r *request) unsatisfiableWriteConcern() bsoncore.Document {
	w, ok := r.body.Lookup("writeConcern", "w").AsInt64OK()
	if !ok || w <= int64(len(r.m.rs.members)) {
		return nil
	}
	c := mongoerr.UnsatisfiableWriteConcern
	return bsoncore.NewDocumentBuilder().AppendInt32("code", int32(c)).AppendString("codeName", c.Name()).
		AppendString("errmsg", "Not enough data-bearing nodes").Build()
}

// codeMissingDB is the bare assertion mongod raises for an OP_MSG without $db.
const codeMissingDB mongoerr.Code = 40571

func isHello(name string) bool { return name == "hello" || name == "isMaster" || name == "ismaster" }

// checkState refuses writes on a secondary and primary-only reads there.
func (m *Member) checkState(r *request) error {
	f := r.cmd.flags
	if f&(cRead|cWrite) == 0 && !r.op.HasTxnNumber || m.isPrimary() {
		return nil
	}
	if f&cWrite != 0 || r.op.HasTxnNumber {
		return mongoerr.New(mongoerr.NotWritablePrimary, "not primary")
	}
	if mode, ok := r.body.Lookup("$readPreference", "mode").StringValueOK(); !ok || mode == "primary" {
		return mongoerr.New(mongoerr.NotPrimaryNoSecondaryOk, "not primary and secondaryOk=false")
	}
	return nil
}

func (m *Member) isPrimary() bool { return m.rs.topology().primary == m.idx }

// finish closes the reply: ok (or the error), labels, and the cluster time fields.
func (m *Member) finish(r *request, idx int32, err error) []byte {
	dst := r.out
	if err == nil {
		dst = bsoncore.AppendDoubleElement(dst, "ok", 1)
		if r.wce != nil {
			dst = bsoncore.AppendDocumentElement(dst, "writeConcernError", r.wce)
			code, _ := r.wce.Lookup("code").AsInt64OK()
			if labels := mongoerr.WriteConcernErrorLabels(mongoerr.Code(code), r.labelContext(true)); len(labels) > 0 {
				dst = appendStrings(dst, "errorLabels", labels)
			}
		}
	} else {
		dst = dst[:idx+4] // drop whatever the handler appended
		e := *mongoerr.As(err)
		e.Labels = slices.Clone(e.Labels)
		if r.fpLabels != nil {
			e.Labels = r.fpLabels
		} else {
			e.AddServerLabels(r.labelContext(r.wce != nil))
		}
		dst = e.AppendFields(dst)
		if isStateChange(e.Code) { // 4.4+ servers tell drivers which topology the error belongs to
			dst = appendTopologyVersion(dst, r.c.processID, m.rs.topology().counter)
		}
	}
	ct := m.rs.clock.now()
	op := r.opTime
	if op.IsZero() {
		op = ct
	}
	dst = r.appendClusterTime(dst, ct)
	dst = bsoncore.AppendTimestampElement(dst, "operationTime", op.T, op.I)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func isStateChange(c mongoerr.Code) bool {
	switch c {
	case mongoerr.NotWritablePrimary, mongoerr.NotPrimaryNoSecondaryOk, mongoerr.NotPrimaryOrSecondary,
		mongoerr.PrimarySteppedDown, mongoerr.InterruptedDueToReplStateChange, mongoerr.ShutdownInProgress,
		mongoerr.InterruptedAtShutdown:
		return true
	}
	return false
}

func appendStrings(dst []byte, key string, vals []string) []byte {
	idx, dst := bsoncore.AppendArrayElementStart(dst, key)
	for i, v := range vals {
		dst = bsoncore.AppendStringElement(dst, arrayKey(i), v)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return dst
}

var smallKeys = func() (k [256]string) {
	for i := range k {
		k[i] = fmt.Sprint(i)
	}
	return k
}()

// arrayKey is the element key of index i in a BSON array.
func arrayKey(i int) string {
	if i < len(smallKeys) {
		return smallKeys[i]
	}
	return fmt.Sprint(i)
}
