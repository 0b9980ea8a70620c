// Package clustercursor holds the cursors the router returns to clients, as mongos's
// ClusterCursorManager does (src/mongo/s/query/exec/cluster_cursor_manager.cpp): every id is
// minted by this router; each cursor is bound to the user, session and transaction that opened
// it; one operation at a time checks it out; idle cursors are reaped; and the shard cursors
// behind a cursor are killed with it.
package clustercursor

import (
	crand "crypto/rand"
	"math/rand/v2"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// Remote is a shard cursor behind a router cursor: the member that holds it and its id there.
type Remote struct {
	Shard int
	Host  string
	ID    int64
}

// Binding is who and what a cursor belongs to. getMore must come from the same user, in the same
// session and the same transaction (cluster_find.cpp validateLSID, validateTxnNumber).
type Binding struct {
	Owner        sessionid.UID
	HasLSID      bool
	LSID         sessionid.ID
	HasTxnNumber bool
	TxnNumber    int64
}

// BindingOf binds to the session fields of a command and the user who sent it.
func BindingOf(op sessionid.OpInfo, owner sessionid.UID) Binding {
	return Binding{Owner: owner, HasLSID: op.HasLSID, LSID: op.LSID,
		HasTxnNumber: op.HasTxnNumber, TxnNumber: op.TxnNumber}
}

// Spec is what a cursor is registered with. It does not change afterwards, but for the Remotes
// of a merged change stream, which reopens a shard's cursor on the shard's new primary (Rebind).
type Spec struct {
	NS      string // "db.coll", as the cursor's replies name it
	Binding Binding
	// Remotes are the shard cursors behind this one; none for a cursor whose documents the
	// router holds itself (Queue). Guarded by Manager.mu once registered.
	Remotes []Remote
	// Keep, when set, filters every batch (the names a user may see).
	Keep func(bsoncore.Document) bool
	// NoTimeout exempts the cursor from reaping (noCursorTimeout).
	NoTimeout bool
	// ChangeStream: the router's own errors on it carry the change stream labels.
	ChangeStream bool
	// Merge is the state of a cursor the router merges from several shard cursors
	// (router/merge.go); it belongs to whoever has the cursor checked out.
	Merge any
	// Originating is the command that opened the cursor ($currentOp shows it).
	Originating bsoncore.Document
}

// Cursor is one router cursor. Its Spec never changes; Queue belongs to whoever has it checked
// out.
type Cursor struct {
	Spec
	id      int64
	created time.Time
	// Queue is what the router still has to return itself (documents that did not fit a batch,
	// or all of a cursor the router answers on its own).
	Queue []bsoncore.Document

	// Guarded by Manager.mu.
	lastUsed    time.Time
	pinned      bool
	killPending bool
	returned    int64
	batches     int64
}

// ID is the cursor's id, as the client knows it.
func (c *Cursor) ID() int64 { return c.id }

// Config says how a Manager times cursors out and reaches the shards.
type Config struct {
	// Timeout is how long a cursor outside any session may stay idle (cursorTimeoutMillis).
	// Cursors in a session live as long as their session, as on mongos
	// (enableTimeoutOfInactiveSessionCursors is off by default).
	Timeout time.Duration
	// KillRemotes kills shard cursors of namespace ns. It bounds itself with a deadline.
	KillRemotes func(ns string, remotes []Remote)
	// Forget is told when a cursor opened in a session is gone, so the session forgets it.
	Forget func(lsid sessionid.ID, id int64)
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Manager holds the router's cursors.
type Manager struct {
	cfg Config

	mu       sync.Mutex
	cursors  map[int64]*Cursor
	ids      *rand.Rand
	closed   bool
	timedOut int64
}

// New returns an empty manager.
func New(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KillRemotes == nil {
		cfg.KillRemotes = func(string, []Remote) {}
	}
	if cfg.Forget == nil {
		cfg.Forget = func(sessionid.ID, int64) {}
	}
	// Ids are unguessable, as mongod's and mongos's are: another client cannot name a cursor it
	// was not given, and another router's ids mean nothing here.
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	return &Manager{cfg: cfg, cursors: make(map[int64]*Cursor), ids: rand.New(rand.NewChaCha8(seed))}
}

// Register adds a cursor and returns its id: positive, never 0 (which means "no cursor"), and not
// in use.
func (m *Manager) Register(spec Spec) (int64, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		m.cfg.KillRemotes(spec.NS, spec.Remotes)
		return 0, mongoerr.New(mongoerr.ShutdownInProgress,
			"Cannot register new cursors as we are in the process of shutting down")
	}
	var id int64
	for id == 0 || m.cursors[id] != nil {
		id = m.ids.Int64()
	}
	m.cursors[id] = &Cursor{Spec: spec, id: id, created: now, lastUsed: now}
	m.mu.Unlock()
	return id, nil
}

// RegisterQueued registers a cursor over documents the router holds, with queue the ones not yet
// returned.
func (m *Manager) RegisterQueued(spec Spec, queue []bsoncore.Document) (int64, error) {
	id, err := m.Register(spec)
	if err == nil {
		m.mu.Lock()
		m.cursors[id].Queue = queue
		m.mu.Unlock()
	}
	return id, err
}

// CheckOut gives the cursor to the getMore of the caller bound by b on namespace ns, with
// mongos's checks in mongos's order: the cursor exists, it is the caller's, it is not in use, it
// was opened in the caller's session and transaction; and, as mongod checks it, it is a cursor
// of ns.
func (m *Manager) CheckOut(id int64, ns string, b Binding) (*Cursor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, mongoerr.New(mongoerr.ShutdownInProgress,
			"Cannot check out cursor as we are in the process of shutting down")
	}
	c := m.cursors[id]
	if c == nil {
		return nil, NotFound(id)
	}
	if c.Binding.Owner != b.Owner {
		return nil, mongoerr.New(mongoerr.Unauthorized,
			"cursor id %d was not created by the authenticated user :: caused by :: User not authorized to access cursor", id)
	}
	if c.pinned {
		return nil, mongoerr.New(mongoerr.CursorInUse, "Cursor already in use (id: %d).", id)
	}
	if err := checkSession(id, c.Binding, b); err != nil {
		return nil, err
	}
	if c.NS != ns {
		// getmore_cmd.cpp validateNamespace.
		return nil, mongoerr.New(mongoerr.Unauthorized,
			"Requested getMore on namespace '%s', but cursor belongs to a different namespace %s", ns, c.NS)
	}
	c.pinned = true
	return c, nil
}

// checkSession is cluster_find.cpp's validateLSID and validateTxnNumber.
func checkSession(id int64, have, got Binding) error {
	switch {
	case got.HasLSID && !have.HasLSID:
		return mongoerr.New(50799, "Cannot run getMore on cursor %d, which was not created in a session, in session %s", id, got.LSID)
	case !got.HasLSID && have.HasLSID:
		return mongoerr.New(50800, "Cannot run getMore on cursor %d, which was created in session %s, without an lsid", id, have.LSID)
	case got.HasLSID && got.LSID != have.LSID:
		return mongoerr.New(50801, "Cannot run getMore on cursor %d, which was created in session %s, in session %s", id, have.LSID, got.LSID)
	case got.HasTxnNumber && !have.HasTxnNumber:
		return mongoerr.New(50802, "Cannot run getMore on cursor %d, which was not created in a transaction, in transaction %d", id, got.TxnNumber)
	case !got.HasTxnNumber && have.HasTxnNumber:
		return mongoerr.New(50803, "Cannot run getMore on cursor %d, which was created in transaction %d, without a txnNumber", id, have.TxnNumber)
	case got.HasTxnNumber && got.TxnNumber != have.TxnNumber:
		return mongoerr.New(50804, "Cannot run getMore on cursor %d, which was created in transaction %d, in transaction %d", id, have.TxnNumber, got.TxnNumber)
	}
	return nil
}

// NotFound is the error for a cursor id this router does not hold.
func NotFound(id int64) error {
	return mongoerr.New(mongoerr.CursorNotFound, "Cursor not found (id: %d).", id)
}

// State is how a getMore leaves the cursor it checked out.
type State int

const (
	// Open: more may come.
	Open State = iota
	// Exhausted: every shard cursor behind it is finished, and so is the router's.
	Exhausted
	// Abandoned: the getMore failed; the cursor is destroyed and its shard cursors killed, as
	// mongos destroys a cursor whose getMore threw.
	Abandoned
)

// Return gives a checked-out cursor back with the batch it has just returned. killed reports
// that it was killed while checked out (the getMore was interrupted, as mongos interrupts the
// operation using a cursor it kills); it is then gone, and its shard cursors with it.
func (m *Manager) Return(c *Cursor, state State, batch int) (killed bool) {
	now := m.cfg.Now()
	m.mu.Lock()
	c.pinned = false
	c.lastUsed = now
	c.returned += int64(batch)
	c.batches++
	killed = c.killPending
	destroy := killed || state != Open || m.closed
	if destroy {
		delete(m.cursors, c.id)
	}
	m.mu.Unlock()
	if destroy {
		// A kill while checked out has killed the shard cursors already.
		if state == Abandoned && !killed {
			m.cfg.KillRemotes(c.NS, c.Remotes)
		}
		m.forget(c)
	}
	return killed
}

// Rebind replaces the shard cursors behind c, which the caller has checked out: a merged change
// stream reopened one on another member. killed reports that c was killed meanwhile; its old
// shard cursors are then being killed, and the caller must kill the new ones.
func (m *Manager) Rebind(c *Cursor, remotes []Remote) (killed bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.killPending || m.closed {
		return true
	}
	c.Remotes = remotes
	return false
}

// Killed is the error of a getMore whose cursor was killed while it ran.
func Killed() error {
	return mongoerr.New(mongoerr.CursorKilled, "operation was interrupted")
}

func (m *Manager) forget(c *Cursor) {
	if c.Binding.HasLSID {
		m.cfg.Forget(c.Binding.LSID, c.id)
	}
}

// Owner is the uid of the user who opened cursor id, for killCursors's authorization check; ok
// is false when this router holds no such cursor of namespace ns.
func (m *Manager) Owner(id int64, ns string) (owner sessionid.UID, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cursors[id]
	if c == nil || c.NS != ns {
		return sessionid.UID{}, false
	}
	return c.Binding.Owner, true
}

// Kill destroys the cursors with the given ids and kills their shard cursors, as killCursors
// does; killRemotes false leaves the shard cursors to the caller (a session kill that reaches
// every member kills them there). A cursor in use is marked and goes when its getMore returns,
// whose shard cursors are killed now so that a getMore awaiting data on a shard ends. Kill
// returns the ids it found.
func (m *Manager) Kill(ids []int64, killRemotes bool) (found []int64) {
	var hit, gone []*Cursor
	var remotes [][]Remote // hit's, read under the lock: a checked-out cursor may be rebound
	m.mu.Lock()
	for _, id := range ids {
		c := m.cursors[id]
		if c == nil || c.killPending {
			continue
		}
		found = append(found, id)
		hit = append(hit, c)
		remotes = append(remotes, c.Remotes)
		if c.pinned {
			c.killPending = true
			continue
		}
		delete(m.cursors, id)
		gone = append(gone, c)
	}
	m.mu.Unlock()
	for i, c := range hit {
		if killRemotes && len(remotes[i]) > 0 {
			m.cfg.KillRemotes(c.NS, remotes[i])
		}
	}
	for _, c := range gone {
		m.forget(c)
	}
	return found
}

// Reap kills the cursors outside any session that have been idle for longer than the timeout
// (killMortalCursorsInactiveSince) and returns how many.
func (m *Manager) Reap() int {
	cutoff := m.cfg.Now().Add(-m.cfg.Timeout)
	var ids []int64
	m.mu.Lock()
	for id, c := range m.cursors {
		if !c.NoTimeout && !c.pinned && !c.Binding.HasLSID && !c.lastUsed.After(cutoff) {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()
	n := len(m.Kill(ids, true))
	m.mu.Lock()
	m.timedOut += int64(n)
	m.mu.Unlock()
	return n
}

// Close kills every cursor and refuses new ones: the router is shutting down.
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	ids := make([]int64, 0, len(m.cursors))
	for id := range m.cursors {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	m.Kill(ids, true)
}
