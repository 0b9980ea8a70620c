package topology

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Routers agree on the routing metadata without help from the shards (docs/architecture.md,
// "Routers agree"). Each router:
//   - renews a lease in its config.mongos entry (leaseUntil) every poll interval, before it reads
//     the routing state (routingstate.go), and routes nothing once its last renewal is older
//     than the lease: a router cut off from the config shard stops rather than act on what it
//     may have missed;
//   - installs the state it read: the tables of the namespaces changed since are dropped, the
//     commands of a namespace under a critical section wait;
//   - waits for the writes sent with the views it replaced (Hold) to be answered, then
//     acknowledges the version in its entry (routingVersion).
//
// A change (Change) writes a critical section and a new version, then waits until every router
// with a live lease has acknowledged it, or its lease has expired. From then on no router acts on
// the old metadata: none starts a command on the namespace, and none has a write in flight that
// was targeted with it. The change runs, and ends its section with another version, which the
// routers read as they next need the namespace.

// Agreement is how often a router renews its lease and reads the routing state, and how long a
// lease lasts.
type Agreement struct {
	PollInterval time.Duration // default 100 ms: how long a change waits for a live router
	Lease        time.Duration // default 10 s: how long a router routes without the config shard
}

func (a Agreement) withDefaults() Agreement {
	if a.PollInterval <= 0 {
		a.PollInterval = 100 * time.Millisecond
	}
	if a.Lease <= 0 {
		a.Lease = 10 * time.Second
	}
	return a
}

// renewalsPerLease is how many times a lease is renewed over its length: a router reads the
// routing state every poll interval, but writes its lease less often.
const renewalsPerLease = 5

// Hold is a write's hold on the routing view it was targeted with (Acquire); a change of the
// metadata is acknowledged by this router only once every hold on an older view is released.
type Hold struct{ inflight atomic.Int64 }

// Release ends the hold; a nil Hold (nothing could be stale) is fine.
func (h *Hold) Release() {
	if h != nil {
		h.inflight.Add(-1)
	}
}

type agreement struct {
	pollEvery atomic.Int64 // Agreement.PollInterval, ns
	lease     atomic.Int64 // Agreement.Lease, ns
	placement *placement
	cache     *routingCache

	base       time.Time    // the monotonic origin of validUntil
	validUntil atomic.Int64 // ns after base until which the lease holds; 0: renew first
	polls      atomic.Int64 // completed polls, so waiters can tell a fresh one

	view atomic.Pointer[Hold] // the view writes hold now

	mu      sync.Mutex  // one poll at a time; guards what follows
	id      string      // the router's config.mongos _id; "" until Join: reads only
	entry   RouterEntry // what a lease's first write puts in a new config.mongos entry
	acked   int64       // the version acknowledged in config.mongos
	renewed time.Time   // when the last lease renewal began
	retired []*Hold     // replaced views whose writes may still be in flight

	heldMu sync.Mutex
	held   map[string]int // critical sections this process runs, by namespace
}

func newAgreement(p *placement, cache *routingCache) *agreement {
	a := &agreement{placement: p, cache: cache, base: time.Now(), held: map[string]int{}}
	a.configure(Agreement{})
	a.view.Store(&Hold{})
	return a
}

// Join makes the router a party to the agreement under its config.mongos entry (ReportRouter's,
// whose fields a lease's first write gives a new entry, so it always has mongos's shape): from
// its next poll on, it holds a lease and acknowledges versions, and changes wait for it. Until
// then it only reads the routing state.
func (c *Cluster[S]) Join(entry RouterEntry, cfg Agreement) {
	a := c.agree
	a.mu.Lock()
	defer a.mu.Unlock()
	a.id, a.entry = entry.ID, entry
	a.configure(cfg)
	a.validUntil.Store(0)
}

func (a *agreement) configure(cfg Agreement) {
	cfg = cfg.withDefaults()
	a.pollEvery.Store(int64(cfg.PollInterval))
	a.lease.Store(int64(cfg.Lease))
}

func (a *agreement) leaseTime() time.Duration    { return time.Duration(a.lease.Load()) }
func (a *agreement) pollInterval() time.Duration { return time.Duration(a.pollEvery.Load()) }

// Renew renews the router's lease and installs the routing state: the server runs it every
// poll interval.
func (c *Cluster[S]) Renew(ctx context.Context) error {
	return c.agree.refresh(ctx, always)
}

// PollInterval is how often Renew should run.
func (c *Cluster[S]) PollInterval() time.Duration { return c.agree.pollInterval() }

// Leave gives up the router's lease (at shutdown), so that changes stop waiting for it, and
// stops its routing.
func (c *Cluster[S]) Leave(ctx context.Context) error {
	a := c.agree
	a.mu.Lock()
	defer a.mu.Unlock()
	a.validUntil.Store(0)
	if a.id == "" {
		return nil
	}
	id := a.id
	a.id = ""
	return a.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", "mongos").
		AppendArray("updates", bsoncore.BuildArray(nil, docValue(bsoncore.NewDocumentBuilder().
			AppendDocument("q", bsoncore.NewDocumentBuilder().AppendString("_id", id).Build()).
			AppendDocument("u", bsoncore.NewDocumentBuilder().AppendDocument("$set", bsoncore.NewDocumentBuilder().
				AppendDateTime("leaseUntil", 0).Build()).Build()).Build()))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), false)
}

// current returns once the router holds a valid lease, renewing it first when needed.
func (a *agreement) current(ctx context.Context) error {
	if time.Since(a.base).Nanoseconds() < a.validUntil.Load() {
		return nil
	}
	return a.refresh(ctx, ifExpired)
}

// hold takes a hold on the current view.
func (a *agreement) hold() *Hold {
	for {
		v := a.view.Load()
		v.inflight.Add(1)
		if a.view.Load() == v {
			return v
		}
		v.inflight.Add(-1)
	}
}

// Modes of refresh besides a number of polls seen.
const (
	ifExpired = -1 // poll unless the lease is valid
	always    = -2 // poll, whatever polls completed meanwhile
)

// refresh polls, one poll at a time: always, unless the lease is valid (ifExpired), or unless a
// poll completed since the caller saw seen polls.
func (a *agreement) refresh(ctx context.Context, seen int64) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case seen == ifExpired && time.Since(a.base).Nanoseconds() < a.validUntil.Load(),
		seen >= 0 && a.polls.Load() != seen:
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.leaseTime()/2)
	defer cancel()
	if err := a.poll(ctx); err != nil {
		return mongoerr.New(mongoerr.HostUnreachable,
			"mongos-lite could not renew its routing lease on the config shard %s: %v", a.placement.config.Name(), err)
	}
	return nil
}

// poll renews the lease, reads and installs the routing state, waits for the writes of replaced
// views, and acknowledges the version (callers hold a.mu).
func (a *agreement) poll(ctx context.Context) error {
	start := time.Now()
	renew := a.id == "" // a router outside the agreement holds its "lease" by reading
	if a.id != "" && (a.renewed.IsZero() || start.Sub(a.renewed) >= a.leaseTime()/renewalsPerLease ||
		start.Sub(a.base).Nanoseconds() >= a.validUntil.Load()) {
		// Before the read: a change that a router's read misses finds its lease in config.mongos.
		if err := a.renewLease(ctx, start.Add(a.leaseTime())); err != nil {
			return err
		}
		a.renewed, renew = start, true
	}
	st, err := a.placement.readState(ctx)
	if err != nil {
		return err
	}
	if st, err = a.breakAbandoned(ctx, st); err != nil {
		return err
	}
	if moved, dbs, all := a.cache.install(st); moved {
		if all {
			a.placement.flush("")
		}
		for _, db := range dbs {
			a.placement.flush(db)
		}
		a.retired = append(a.retired, a.view.Swap(&Hold{}))
	}
	if err := a.drain(ctx); err != nil {
		return err
	}
	if a.id != "" && a.acked != st.Version {
		if err := a.acknowledge(ctx, st.Version); err != nil {
			return err
		}
	}
	a.acked = st.Version
	if renew {
		a.validUntil.Store(start.Add(a.leaseTime()).Sub(a.base).Nanoseconds())
	}
	a.polls.Add(1)
	return nil
}

// drain waits until no write holds a replaced view.
func (a *agreement) drain(ctx context.Context) error {
	wait := time.Millisecond
	for {
		a.retired = slices.DeleteFunc(a.retired, func(h *Hold) bool { return h.inflight.Load() == 0 })
		if len(a.retired) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

func (a *agreement) renewLease(ctx context.Context, until time.Time) error {
	return a.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", "mongos").
		AppendArray("updates", bsoncore.BuildArray(nil, docValue(bsoncore.NewDocumentBuilder().
			AppendDocument("q", bsoncore.NewDocumentBuilder().AppendString("_id", a.id).Build()).
			AppendDocument("u", bsoncore.NewDocumentBuilder().
				AppendDocument("$set", bsoncore.NewDocumentBuilder().
					AppendDateTime("leaseUntil", until.UnixMilli()).
					AppendInt64("routingVersion", a.acked).Build()).
				AppendDocument("$setOnInsert", a.newEntry()).Build()).
			AppendBoolean("upsert", true).Build()))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), false)
}

// newEntry is a new config.mongos entry's fields as ReportRouter writes them, pinged now.
func (a *agreement) newEntry() bsoncore.Document {
	e := a.entry
	e.Ping = time.Now()
	e.Up = e.Ping.Sub(e.Created)
	fields := e.fields()
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = append(dst, fields[4:len(fields)-1]...) // its elements
	dst = bsoncore.AppendDateTimeElement(dst, "created", e.Created.UnixMilli())
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func (a *agreement) acknowledge(ctx context.Context, version int64) error {
	return a.placement.write(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", "mongos").
		AppendArray("updates", bsoncore.BuildArray(nil, docValue(bsoncore.NewDocumentBuilder().
			AppendDocument("q", bsoncore.NewDocumentBuilder().AppendString("_id", a.id).Build()).
			AppendDocument("u", bsoncore.NewDocumentBuilder().AppendDocument("$set", bsoncore.NewDocumentBuilder().
				AppendInt64("routingVersion", version).Build()).Build()).Build()))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build(), false)
}

// waitUnblocked returns once no critical section covers db.coll, reading the routing state
// again every poll interval while one does.
func (a *agreement) waitUnblocked(ctx context.Context, cache *routingCache, db, coll string) error {
	for cache.blocked(db, coll) {
		seen := a.polls.Load()
		select {
		case <-ctx.Done():
			return mongoerr.New(mongoerr.MaxTimeMSExpired,
				"operation exceeded time limit waiting for a change of the routing metadata of %s to finish", nsOf(db, coll))
		case <-time.After(a.pollInterval()):
		}
		if err := a.refresh(ctx, seen); err != nil {
			return err
		}
	}
	return nil
}

// breakAbandoned ends the critical sections nobody runs any more: this router's own that it no
// longer holds (a change that could not end its section), and those of routers whose lease has
// expired (a router that stopped in the middle of a change). What such a change left behind is
// either complete (its metadata written) or not visible (shards' empty collections); the routers
// read the metadata afresh either way.
func (a *agreement) breakAbandoned(ctx context.Context, st routingState) (routingState, error) {
	if len(st.Sections) == 0 {
		return st, nil
	}
	var leases map[string]routerLease
	var stale []criticalSection
	now := time.Now()
	for _, s := range st.Sections {
		if s.Owner == a.id && a.id != "" {
			if !a.holds(s.NS) {
				stale = append(stale, s)
			}
			continue
		}
		if leases == nil {
			var err error
			if leases, err = a.placement.readLeases(ctx); err != nil {
				return st, err
			}
		}
		until := s.Since
		if l, ok := leases[s.Owner]; ok {
			until = l.until
		}
		if now.After(until.Add(a.leaseTime())) {
			stale = append(stale, s)
		}
	}
	if len(stale) == 0 {
		return st, nil
	}
	return a.placement.mutateState(ctx, func(cur routingState) (routingState, bool, error) {
		next := cur
		next.Sections = nil
		for _, s := range cur.Sections {
			if !slices.Contains(stale, s) {
				next.Sections = append(next.Sections, s)
			}
		}
		if len(next.Sections) == len(cur.Sections) {
			return cur, false, nil
		}
		for _, s := range stale {
			next = next.withChange(s.NS)
		}
		return next, true, nil
	})
}

func (a *agreement) holds(ns string) bool {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	return a.held[ns] > 0
}

func (a *agreement) markHeld(ns string, delta int) {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	a.held[ns] += delta
	if a.held[ns] <= 0 {
		delete(a.held, ns)
	}
}

func (a *agreement) routerID() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

// routerLease is a router's lease and acknowledged version, from its config.mongos entry.
type routerLease struct {
	until   time.Time
	version int64
}

// readLeases reads the config.mongos entries of the routers that took part in the agreement.
func (p *placement) readLeases(ctx context.Context) (map[string]routerLease, error) {
	docs, err := p.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", "mongos").
		AppendDocument("filter", bsoncore.NewDocumentBuilder().AppendDocument("leaseUntil",
			bsoncore.NewDocumentBuilder().AppendBoolean("$exists", true).Build()).Build()).
		AppendDocument("projection", bsoncore.NewDocumentBuilder().
			AppendInt32("leaseUntil", 1).AppendInt32("routingVersion", 1).Build()).
		AppendInt32("batchSize", 1<<20).
		AppendString("$db", "config").Build())
	if err != nil {
		return nil, err
	}
	out := make(map[string]routerLease, len(docs))
	for _, doc := range docs {
		id, _ := doc.Lookup("_id").StringValueOK()
		ms, _ := doc.Lookup("leaseUntil").DateTimeOK()
		version, _ := doc.Lookup("routingVersion").AsInt64OK()
		out[id] = routerLease{until: time.UnixMilli(ms), version: version}
	}
	return out, nil
}
