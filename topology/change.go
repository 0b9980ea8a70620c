package topology

import (
	"context"
	"slices"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Change is a change of a namespace's routing metadata under way: its critical section is held
// (agreement.go). Every router holds back the namespace's commands until End.
type Change struct {
	c       *agreement
	section criticalSection
}

// BeginChange takes ns's critical section (ns a collection "db.coll" or a database "db") for
// reason (the command, as sh.status() would name it), waiting while a conflicting change runs,
// and returns once every router with a live lease has acknowledged it: from then on none acts on
// ns's old metadata, and none has a write in flight that was targeted with it. The caller must
// End the change, whatever happens.
func (c *Cluster[S]) BeginChange(ctx context.Context, ns, reason string) (*Change, error) {
	a := c.agree
	if err := a.current(ctx); err != nil {
		return nil, err
	}
	section := criticalSection{NS: ns, Owner: a.routerID(), Reason: reason, Since: time.Now()}
	a.markHeld(ns, 1)
	for {
		var conflict *criticalSection
		st, err := a.placement.mutateState(ctx, func(st routingState) (routingState, bool, error) {
			conflict = nil
			for _, s := range st.Sections {
				if s.conflicts(ns) {
					conflict = &s
					return st, false, nil
				}
			}
			next := st.withChange(ns)
			next.Sections = append(slices.Clone(st.Sections), section)
			return next, true, nil
		})
		if err != nil {
			a.markHeld(ns, -1)
			return nil, err
		}
		if conflict == nil {
			ch := &Change{c: a, section: section}
			if err := a.refresh(ctx, always); err == nil {
				err = a.awaitAcks(ctx, st.Version)
			}
			if err != nil {
				ch.End(ctx)
				return nil, err
			}
			return ch, nil
		}
		seen := a.polls.Load()
		select {
		case <-ctx.Done():
			a.markHeld(ns, -1)
			return nil, mongoerr.New(mongoerr.LockBusy,
				"timed out waiting for %s of %s by router %s to finish before %s of %s could begin",
				conflict.Reason, conflict.NS, conflict.Owner, reason, ns)
		case <-time.After(a.pollInterval()):
		}
		// A poll breaks the section of a router that stopped in the middle of its change.
		if err := a.refresh(ctx, seen); err != nil {
			a.markHeld(ns, -1)
			return nil, err
		}
	}
}

// End ends the change's critical section with a new version, so the routers read ns's metadata
// afresh, and reads it at once in this router. A section End cannot remove (the config shard is
// unreachable) is broken by this router's next poll.
func (ch *Change) End(ctx context.Context) {
	a := ch.c
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.leaseTime())
	defer cancel()
	_, err := a.placement.mutateState(ctx, func(st routingState) (routingState, bool, error) {
		i := slices.Index(st.Sections, ch.section)
		if i < 0 {
			return st, false, nil
		}
		next := st.withChange(ch.section.NS)
		next.Sections = slices.Delete(slices.Clone(st.Sections), i, i+1)
		return next, true, nil
	})
	a.markHeld(ch.section.NS, -1)
	if err == nil {
		_ = a.refresh(ctx, always)
	}
}

// awaitAcks returns once every router in config.mongos has acknowledged version or lost its
// lease. A lease is lost when its end, by the router's clock, lies a whole lease in the past by
// this one's (clocks may disagree by less than a lease), or when the entry has not been renewed
// for a lease and a poll interval since this router first saw it (which needs no clocks to agree).
func (a *agreement) awaitAcks(ctx context.Context, version int64) error {
	type sighting struct {
		until time.Time
		at    time.Time
	}
	seen := map[string]sighting{}
	for {
		leases, err := a.placement.readLeases(ctx)
		if err != nil {
			return err
		}
		lease, now := a.leaseTime(), time.Now()
		pending := ""
		for id, l := range leases {
			if l.version >= version || now.After(l.until.Add(lease)) {
				continue
			}
			s, ok := seen[id]
			if !ok || !s.until.Equal(l.until) {
				seen[id] = sighting{until: l.until, at: now}
				pending = id
				continue
			}
			if now.Sub(s.at) <= lease+a.pollInterval() {
				pending = id
			}
		}
		if pending == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return mongoerr.New(mongoerr.MaxTimeMSExpired,
				"operation exceeded time limit waiting for router %s to acknowledge version %d of the routing metadata", pending, version)
		case <-time.After(min(a.pollInterval()/4, 50*time.Millisecond)):
		}
	}
}
