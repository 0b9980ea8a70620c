// Package memshard runs in-process stand-ins for mongod replica sets: the shard for tests and for
// `mongos-lite demo`. It is infrastructure, not a database: documents live in memory, shared by
// the members of a set, while each member keeps its own cursors, session table and fail points,
// like separate mongod processes would.
//
// It speaks the wire protocol as a mongod 8.0 replica-set member (hello, awaitable and streamed;
// OP_QUERY handshake; OP_COMPRESSED) and serves CRUD, cursors, the session commands, retryable
// writes, transactions with snapshot isolation, snapshot reads, change streams over a capped
// history of the set's changes (changestream.go), $currentOp/currentOp/killOp over the
// operations in progress (ops.go, currentop.go), dbStats/collStats (statscmd.go), dataSize
// (datasize.go) and the
// failCommand, onPrimaryTransactionalWrite and failGetMoreAfterCursorCheckout fail points, with
// mongod's codes and messages. Where it
// deliberately differs: endSessions forgets a session at once and sessions expire lazily
// (mongod does both at its next refresh); secondary indexes are kept and planned (plan.go),
// hashed ones by mongod's hash, but text and geo indexes and TTL expiry are catalog entries only;
// there is no replication
// lag, elections happen only through StepDown/StartMember, and the stages and operators the
// query engine lacks are refused.
package memshard

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/clustertime"
	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

type setOptions struct {
	ports          []int
	now            func() time.Time
	timeoutMinutes int
	log            zerolog.Logger
	testCommands   bool
	auth           authOptions
	tls            tlsOptions
	oplogSize      int // bytes of change history kept (changestream.go)
	commandLog     func(Received)
	maxDriftSecs   int64 // maxAcceptableLogicalClockDriftSecs (clustertime.go)
}

// Option configures StartReplicaSet.
type Option func(*setOptions)

// WithPorts fixes the members' ports (one per member); the default is ephemeral ports.
func WithPorts(ports ...int) Option { return func(o *setOptions) { o.ports = ports } }

// WithClock injects the clock that session expiry and transaction lifetimes use.
func WithClock(now func() time.Time) Option { return func(o *setOptions) { o.now = now } }

// WithSessionTimeout sets logicalSessionTimeoutMinutes (default 30, as mongod).
func WithSessionTimeout(minutes int) Option {
	return func(o *setOptions) { o.timeoutMinutes = minutes }
}

// WithLogger sets the logger; the default discards everything.
func WithLogger(l zerolog.Logger) Option { return func(o *setOptions) { o.log = l } }

// WithTestCommands enables or disables test-only commands (configureFailPoint); mongod needs
// enableTestCommands for them, memshard enables them by default.
func WithTestCommands(enabled bool) Option { return func(o *setOptions) { o.testCommands = enabled } }

// ReplicaSet is one in-memory replica set.
type ReplicaSet struct {
	name    string
	opts    setOptions
	log     zerolog.Logger
	members []*Member
	store   *store
	clock   logicalClock
	txns    txnTable
	closing chan struct{} // closed by Close: wakes every waiter

	mu      sync.Mutex // guards primary, term, counter, changed, closed
	primary int
	term    int64
	counter int64         // topologyVersion counter, shared by the members
	changed chan struct{} // closed and replaced whenever the topology changes
	closed  bool
}

// Member is one member of a ReplicaSet: a listener on 127.0.0.1 and the per-process state.
type Member struct {
	rs   *ReplicaSet
	idx  int
	host string
	log  zerolog.Logger

	mu        sync.Mutex // guards the fields below
	ln        net.Listener
	conns     map[*conn]struct{}
	stop      chan struct{} // closed when the member stops
	processID bson.ObjectID
	started   time.Time
	wg        sync.WaitGroup // accept loop and connections

	connIDs   atomic.Int64
	connCount atomic.Int64
	reqIDs    atomic.Int32

	sessions     sessionTable
	cursors      cursorTable
	fail         failpoint.Point // failCommand
	txnWriteFail failpoint.Point // onPrimaryTransactionalWrite
	getMoreFail  failpoint.Point // failGetMoreAfterCursorCheckout
	counts       sync.Map        // command name -> *atomic.Int64
}

// StartReplicaSet starts a set of members on 127.0.0.1; member 0 starts as primary.
func StartReplicaSet(name string, members int, opts ...Option) (*ReplicaSet, error) {
	o := setOptions{now: time.Now, timeoutMinutes: 30, log: zerolog.Nop(), testCommands: true,
		maxDriftSecs: clustertime.DefaultMaxDriftSecs}
	for _, opt := range opts {
		opt(&o)
	}
	if name == "" || members < 1 {
		return nil, fmt.Errorf("memshard: need a set name and at least one member")
	}
	if o.ports != nil && len(o.ports) != members {
		return nil, fmt.Errorf("memshard: %d ports for %d members", len(o.ports), members)
	}
	if o.timeoutMinutes < 1 {
		return nil, fmt.Errorf("memshard: session timeout must be at least one minute")
	}
	if o.maxDriftSecs < 1 {
		return nil, fmt.Errorf("memshard: maxAcceptableLogicalClockDriftSecs must be at least 1")
	}
	if err := o.auth.init(o.log); err != nil {
		return nil, fmt.Errorf("memshard: %w", err)
	}
	rs := &ReplicaSet{
		name: name, opts: o, log: o.log.With().Str("replset", name).Logger(),
		closing: make(chan struct{}), changed: make(chan struct{}), term: 1,
	}
	rs.clock.gossip = newGossip(o)
	rs.store = newStore(&rs.clock, o.now)
	rs.store.changes.limit = o.oplogSize
	rs.txns.init()
	rs.clock.tick(o.now())
	for i := 0; i < members; i++ {
		port := 0
		if o.ports != nil {
			port = o.ports[i]
		}
		m := &Member{rs: rs, idx: i, host: "127.0.0.1:" + strconv.Itoa(port)}
		m.sessions.init()
		m.cursors.init()
		rs.members = append(rs.members, m)
		if err := m.start(); err != nil {
			_ = rs.Close()
			return nil, err
		}
	}
	return rs, nil
}

// Name is the replica set name.
func (rs *ReplicaSet) Name() string { return rs.name }

// Hosts lists "127.0.0.1:port" in member order.
func (rs *ReplicaSet) Hosts() []string {
	hosts := make([]string, len(rs.members))
	for i, m := range rs.members {
		hosts[i] = m.host
	}
	return hosts
}

// URI is a connection string for the whole set.
func (rs *ReplicaSet) URI() string {
	return "mongodb://" + strings.Join(rs.Hosts(), ",") + "/?replicaSet=" + rs.name
}

// Primary is the primary's member index, -1 if there is none.
func (rs *ReplicaSet) Primary() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.primary
}

// Member returns member i (nil if out of range).
func (rs *ReplicaSet) Member(i int) *Member {
	if i < 0 || i >= len(rs.members) {
		return nil
	}
	return rs.members[i]
}

func (rs *ReplicaSet) member(i int) (*Member, error) {
	if m := rs.Member(i); m != nil {
		return m, nil
	}
	return nil, fmt.Errorf("memshard: no member %d in %s", i, rs.name)
}

// StopMember takes member i down: listener and connections close, and what lived only in its
// process (cursors, session table, fail points, transactions it ran) is gone. A stopped primary
// leaves the set without a primary until StartMember or StepDown.
func (rs *ReplicaSet) StopMember(i int) error {
	m, err := rs.member(i)
	if err != nil {
		return err
	}
	if !m.shutdown() {
		return fmt.Errorf("memshard: member %d of %s is not running", i, rs.name)
	}
	rs.txns.abortOwnedBy(rs.store, m)
	m.cursors.clear()
	m.sessions.clear()
	m.fail.Off()
	m.txnWriteFail.Off()
	m.getMoreFail.Off()
	rs.mu.Lock()
	if rs.primary == i {
		rs.primary = -1
	}
	rs.topologyChangedLocked()
	rs.mu.Unlock()
	return nil
}

// StartMember restarts member i on the same port. If the set has no primary, it wins the election.
func (rs *ReplicaSet) StartMember(i int) error {
	m, err := rs.member(i)
	if err != nil {
		return err
	}
	if err := m.start(); err != nil {
		return err
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.primary == -1 {
		rs.primary = i
		rs.term++
	}
	rs.topologyChangedLocked()
	return nil
}

// StepDown makes newPrimary (a running member, or -1 for none) the primary. Transactions the old
// primary ran are aborted, every member's hello reflects the change and awaiting hellos answer.
func (rs *ReplicaSet) StepDown(newPrimary int) error {
	if newPrimary != -1 {
		m, err := rs.member(newPrimary)
		if err != nil {
			return err
		}
		if !m.running() {
			return fmt.Errorf("memshard: member %d of %s is not running", newPrimary, rs.name)
		}
	}
	rs.mu.Lock()
	old := rs.primary
	rs.primary = newPrimary
	if newPrimary != -1 {
		rs.term++
	}
	rs.topologyChangedLocked()
	rs.mu.Unlock()
	if old != -1 && old != newPrimary {
		rs.txns.abortOwnedBy(rs.store, rs.members[old])
	}
	return nil
}

// Close stops every member; no goroutine is left.
func (rs *ReplicaSet) Close() error {
	rs.mu.Lock()
	if rs.closed {
		rs.mu.Unlock()
		return nil
	}
	rs.closed = true
	close(rs.closing)
	rs.mu.Unlock()
	for _, m := range rs.members {
		m.shutdown()
	}
	return nil
}

// topologyChangedLocked bumps the topologyVersion counter and wakes awaiting hellos.
func (rs *ReplicaSet) topologyChangedLocked() {
	rs.counter++
	close(rs.changed)
	rs.changed = make(chan struct{})
}

// topology is a consistent snapshot of what hello reports.
type topology struct {
	primary int
	term    int64
	counter int64
	changed <-chan struct{}
}

func (rs *ReplicaSet) topology() topology {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return topology{primary: rs.primary, term: rs.term, counter: rs.counter, changed: rs.changed}
}

func (rs *ReplicaSet) now() time.Time { return rs.opts.now() }

func (rs *ReplicaSet) sessionTimeout() time.Duration {
	return time.Duration(rs.opts.timeoutMinutes) * time.Minute
}

// start listens on the member's address (the same port after a restart) and serves it.
func (m *Member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ln != nil {
		return fmt.Errorf("memshard: member %d of %s is already running", m.idx, m.rs.name)
	}
	select {
	case <-m.rs.closing:
		return errors.New("memshard: replica set is closed")
	default:
	}
	ln, err := net.Listen("tcp", m.host)
	if err != nil {
		return fmt.Errorf("memshard: member %d of %s: %w", m.idx, m.rs.name, err)
	}
	ln = m.rs.opts.tls.wrap(ln)
	if strings.HasSuffix(m.host, ":0") { // first start on an ephemeral port; restarts reuse it
		m.host = ln.Addr().String()
		m.log = m.rs.log.With().Str("member", m.host).Logger()
	} else if m.started.IsZero() {
		m.log = m.rs.log.With().Str("member", m.host).Logger()
	}
	m.ln, m.conns, m.stop = ln, map[*conn]struct{}{}, make(chan struct{})
	m.processID, m.started = bson.NewObjectID(), time.Now()
	m.wg.Add(1)
	go m.accept(ln, m.stop)
	return nil
}

func (m *Member) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ln != nil
}

// shutdown closes the listener and every connection and waits for their goroutines; false when
// the member was not running.
func (m *Member) shutdown() bool {
	m.mu.Lock()
	if m.ln == nil {
		m.mu.Unlock()
		return false
	}
	close(m.stop)
	_ = m.ln.Close()
	m.ln = nil
	for c := range m.conns {
		_ = c.nc.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return true
}

// Sessions lists the member's session table (expired sessions are dropped first).
func (m *Member) Sessions() []sessionid.ID {
	recs := m.sessions.list(m.rs.now(), m)
	ids := make([]sessionid.ID, len(recs))
	for i, r := range recs {
		ids[i] = r.id
	}
	return ids
}

// OpenCursors is the number of cursors open on the member.
func (m *Member) OpenCursors() int { return m.cursors.len() }

// CommandCount is how many times the member received command name.
func (m *Member) CommandCount(name string) int64 {
	if v, ok := m.counts.Load(name); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}

func (m *Member) countCommand(name string) {
	v, ok := m.counts.Load(name)
	if !ok {
		v, _ = m.counts.LoadOrStore(name, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// logicalClock is the set's cluster time: writes tick it, gossiped $clusterTime advances it
// (clustertime.go).
type logicalClock struct {
	mu     sync.Mutex
	cur    bson.Timestamp
	gossip clustertime.Gossip // set before the members start
}

func (c *logicalClock) now() bson.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// tick returns a fresh timestamp for a write.
func (c *logicalClock) tick(wall time.Time) bson.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	if secs := uint32(wall.Unix()); secs > c.cur.T {
		c.cur = bson.Timestamp{T: secs, I: 1}
	} else {
		c.cur.I++
	}
	return c.cur
}

func (c *logicalClock) advance(ts bson.Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts.After(c.cur) {
		c.cur = ts
	}
}
