package memshard

import (
	"bytes"
	"slices"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// sweepEvery bounds how often vivify looks for expired sessions; listing always does.
const sweepEvery = time.Minute

// sessionTable is a member's logical session cache. Unlike mongod, which expires sessions
// through the TTL index of config.system.sessions and applies endSessions at its next refresh,
// memshard expires lazily and ends at once: tests see the effect without waiting minutes.
type sessionTable struct {
	mu        sync.Mutex
	lastUse   map[sessionid.ID]time.Time
	lastSweep time.Time
}

type sessionRecord struct {
	id      sessionid.ID
	lastUse time.Time
}

func (t *sessionTable) init() { t.lastUse = map[sessionid.ID]time.Time{} }

func (t *sessionTable) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
}

// vivify adds the session or touches it.
func (t *sessionTable) vivify(m *Member, id sessionid.ID) {
	now := m.rs.now()
	t.mu.Lock()
	t.lastUse[id] = now
	sweep := now.Sub(t.lastSweep) >= sweepEvery
	t.mu.Unlock()
	if sweep {
		m.expireSessions(now)
	}
}

func (t *sessionTable) end(ids []sessionid.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		delete(t.lastUse, id)
	}
}

// list returns the live sessions in a stable order.
func (t *sessionTable) list(now time.Time, m *Member) []sessionRecord {
	m.expireSessions(now)
	t.mu.Lock()
	recs := make([]sessionRecord, 0, len(t.lastUse))
	for id, at := range t.lastUse {
		recs = append(recs, sessionRecord{id, at})
	}
	t.mu.Unlock()
	slices.SortFunc(recs, func(a, b sessionRecord) int { return bytes.Compare(a.id.ID[:], b.id.ID[:]) })
	return recs
}

// expireSessions drops sessions idle past the timeout and kills their cursors, as mongod's
// refresh does for sessions gone from the sessions collection.
func (m *Member) expireSessions(now time.Time) {
	timeout := m.rs.sessionTimeout()
	t := &m.sessions
	t.mu.Lock()
	t.lastSweep = now
	expired := map[sessionid.ID]struct{}{}
	for id, at := range t.lastUse {
		if now.Sub(at) > timeout {
			expired[id] = struct{}{}
			delete(t.lastUse, id)
		}
	}
	t.mu.Unlock()
	if len(expired) > 0 {
		m.cursors.kill(func(c *cursor) bool {
			_, gone := expired[c.lsid]
			return c.hasLSID && gone
		})
	}
	m.rs.txns.reap(m.rs.store, now, timeout)
}

func cmdStartSession(r *request) error {
	id := sessionid.NewID(r.caller())
	r.m.sessions.vivify(r.m, id)
	r.out = bsoncore.AppendHeader(r.out, bsoncore.TypeEmbeddedDocument, "id")
	r.out = id.AppendClientDoc(r.out)
	r.out = bsoncore.AppendInt32Element(r.out, "timeoutMinutes", int32(r.m.rs.opts.timeoutMinutes))
	return nil
}

// cmdEndSessions forgets the sessions; their cursors keep working
// (src/mongo/db/commands/end_sessions_command.cpp).
func cmdEndSessions(r *request) error {
	ids, err := sessionid.ParseList(r.body, r.caller(), r.mayImpersonate())
	if err != nil {
		return err
	}
	r.m.sessions.end(ids)
	return nil
}

func cmdRefreshSessions(r *request) error {
	ids, err := sessionid.ParseList(r.body, r.caller(), r.mayImpersonate())
	if err != nil {
		return err
	}
	for _, id := range ids {
		r.m.sessions.vivify(r.m, id)
	}
	return nil
}

// cmdKillSessions serves killSessions, killAllSessions and killAllSessionsByPattern: it aborts
// the selected sessions' transactions on this member and kills their cursors; the sessions
// themselves stay usable (src/mongo/db/kill_sessions_local.cpp).
func cmdKillSessions(r *request) error {
	p, err := sessionid.ParseKill(r.body, r.caller(), r.m.rs.opts.auth.on)
	if err != nil {
		return err
	}
	if p.None() {
		return nil
	}
	r.m.rs.txns.kill(r.m.rs.store, r.m, &p)
	r.m.cursors.kill(func(c *cursor) bool { return c.hasLSID && p.Matches(c.lsid) })
	return nil
}

// sessionDocs renders the session records spec selects as $listLocalSessions / $listSessions
// output: {_id: {id, uid}, lastUse}.
func (m *Member) sessionDocs(spec sessionid.ListSpec) []bson.Raw {
	var docs []bson.Raw
	for _, rec := range m.sessions.list(m.rs.now(), m) {
		if !spec.Matches(rec.id.UID) {
			continue
		}
		idx, d := bsoncore.AppendDocumentStart(nil)
		d = bsoncore.AppendHeader(d, bsoncore.TypeEmbeddedDocument, "_id")
		d = rec.id.AppendDoc(d)
		d = bsoncore.AppendTimeElement(d, "lastUse", rec.lastUse)
		d, _ = bsoncore.AppendDocumentEnd(d, idx)
		docs = append(docs, d)
	}
	return docs
}
