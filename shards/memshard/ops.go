package memshard

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// The operations in progress on a member, as $currentOp lists them and killOp interrupts them
// (src/mongo/db/curop.cpp, src/mongo/db/client.cpp). A connection runs its commands one after
// another, so it has at most one operation at a time: the command from the moment execute starts
// it until its reply is built.

// opIDs is mongod's OperationId counter: an opid names one operation of the process.
var opIDs atomic.Int32

// clientState is what other goroutines may read of a connection (mongod's Client): written by the
// connection's own goroutine only, always with mu held; read by others with mu held.
type clientState struct {
	mu       sync.Mutex
	user     *auth.User        // who the connection is authenticated as, after its last command
	metadata bsoncore.Document // the client metadata of its first hello
	op       *curOp            // the command in progress, nil between commands
}

// curOp is one command in progress. Its fields are set when it starts; killed and killPending
// are guarded by the connection's clientState.mu.
type curOp struct {
	id    int32
	start time.Time
	db    string
	name  string
	flags cmdFlags
	body  bsoncore.Document // the command as received; the frame buffer is the request's own

	// Who runs it, as the command saw it when it started: the session fields and $audit are
	// read from body with these, only when a report asks.
	user           *auth.User
	caller         sessionid.UID
	mayImpersonate bool

	killed      chan struct{} // made on first use; closed by killOp
	killPending bool
	checkedOut  bool // it holds its session: $currentOp shows its transaction
}

// beginOp makes r the connection's operation in progress (and keeps the client metadata of the
// first hello, as mongod's ClientMetadata does); endOp ends it.
func (r *request) beginOp() {
	cs := &r.c.client
	op := &curOp{id: opIDs.Add(1), start: r.start, db: r.db, name: r.name, flags: commands[r.name].flags, body: r.body,
		user: r.user(), caller: r.caller(), mayImpersonate: r.mayImpersonate()}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if md, ok := r.body.Lookup("client").DocumentOK(); ok && isHello(r.name) && !r.c.helloSeen {
		cs.metadata = md
	}
	cs.op = op
}

// endOp ends the connection's operation in progress, after a statement of a multi-document
// transaction has left its mark for $currentOp's idle sessions.
func (r *request) endOp() {
	cs := &r.c.client
	if r.txn != nil {
		r.recordTxnStatement()
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.op = nil
	cs.user = r.user() // authentication commands change it
}

// interrupted is closed when killOp kills the operation r belongs to; a command that waits
// selects on it and then fails with errInterrupted.
func (r *request) interrupted() <-chan struct{} {
	cs := &r.c.client
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.op == nil {
		return nil
	}
	if cs.op.killed == nil {
		cs.op.killed = make(chan struct{})
	}
	return cs.op.killed
}

// errInterrupted is what a killed operation ends with (OperationContext::checkForInterrupt).
func errInterrupted() error {
	return mongoerr.New(mongoerr.Interrupted, "operation was interrupted")
}

// kill marks op killed and wakes it if it waits; callers hold the connection's clientState.mu.
func (op *curOp) kill() {
	if op.killPending {
		return
	}
	op.killPending = true
	if op.killed == nil {
		op.killed = make(chan struct{})
	}
	close(op.killed)
}

// eachClient calls fn with every connection of the member, in connection order, holding the
// connection's clientState.mu.
func (m *Member) eachClient(fn func(c *conn, cs *clientState)) {
	m.mu.Lock()
	conns := make([]*conn, 0, len(m.conns))
	for c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	slices.SortFunc(conns, func(a, b *conn) int { return cmp.Compare(a.id, b.id) })
	for _, c := range conns {
		cs := &c.client
		cs.mu.Lock()
		fn(c, cs)
		cs.mu.Unlock()
	}
}
