package router

import (
	"context"
	"strconv"
	"sync"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/shards"
)

// cursorEntry records where a shard cursor lives, so getMore and killCursors reach the exact
// member that owns it (a secondary's cursor exists only on that secondary).
//
// Cursor ids are the shards' own: mongod draws them at random from 63 bits, so ids from
// different shards do not collide in practice, and passing them through spares rewriting every
// batch.
type cursorEntry struct {
	shard   int
	host    string
	ns      string // the cursor's namespace, as the shard named it
	lsid    sessionid.ID
	hasLSID bool
	// owner is the uid of the user who opened the cursor. The shards see every cursor as the
	// router's (its internal user), so the router checks ownership itself, as mongos does.
	owner sessionid.UID
	// keep, when set, filters every batch: the names a user may see (visible.go).
	keep func(bsoncore.Document) bool
}

type cursorRegistry struct {
	mu      sync.Mutex
	cursors map[int64]cursorEntry
}

func newCursorRegistry() *cursorRegistry {
	return &cursorRegistry{cursors: make(map[int64]cursorEntry)}
}

func (r *cursorRegistry) add(id int64, e cursorEntry) {
	r.mu.Lock()
	r.cursors[id] = e
	r.mu.Unlock()
}

func (r *cursorRegistry) get(id int64) (cursorEntry, bool) {
	r.mu.Lock()
	e, ok := r.cursors[id]
	r.mu.Unlock()
	return e, ok
}

// setFilter makes every later batch of cursor id pass through keep.
func (r *cursorRegistry) setFilter(id int64, keep func(bsoncore.Document) bool) {
	r.mu.Lock()
	if e, ok := r.cursors[id]; ok {
		e.keep = keep
		r.cursors[id] = e
	}
	r.mu.Unlock()
}

// remove forgets a cursor and returns what it was, so its session can forget it too.
func (r *cursorRegistry) remove(id int64) (cursorEntry, bool) {
	r.mu.Lock()
	e, ok := r.cursors[id]
	delete(r.cursors, id)
	r.mu.Unlock()
	return e, ok
}

// open counts registered cursors (serverStatus).
func (r *cursorRegistry) open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.cursors)
}

// trackCursor registers the cursor a reply opened.
func (c *conn) trackCursor(reply shards.Reply, shard int, host string, r *request) {
	if cur := reply.Status.Cursor; cur.ID != 0 {
		id := cur.ID
		c.s.cursors.add(id, cursorEntry{shard: shard, host: host, ns: string(cur.NS), lsid: r.op.LSID, hasLSID: r.op.HasLSID, owner: r.who.uid})
		if r.op.HasLSID {
			// Killing, ending or reaping the session drops the cursor from the registry.
			_ = c.s.sessions.AddCursor(r.op.LSID, id)
		}
	}
}

func cursorNotFound(id int64) error {
	return mongoerr.New(mongoerr.CursorNotFound, "cursor id %d not found", id)
}

// getMore goes to the member that owns the cursor; the registry forgets exhausted cursors.
func (c *conn) getMore(ctx context.Context, r *request) (bsoncore.Document, error) {
	v, _ := bsonview.Lookup(r.Body, "getMore")
	id, ok := v.Int64OK()
	if !ok {
		return nil, mongoerr.WrongType("getMore.getMore", v.Type, "long")
	}
	e, ok := c.s.cursors.get(id)
	if !ok {
		return nil, cursorNotFound(id)
	}
	if e.owner != r.who.uid {
		return nil, mongoerr.New(mongoerr.Unauthorized, "cursor id %d was not created by the authenticated user", id)
	}
	reply, _, err := c.exchange(ctx, e.shard, shards.Primary(), e.host, r)
	if err != nil {
		return nil, err
	}
	if st := reply.Status; st.Cursor.Present && st.Cursor.ID == 0 || st.Code == mongoerr.CursorNotFound {
		c.s.forgetCursor(id)
	}
	if e.keep != nil {
		return filterBatch(reply.Body, "nextBatch", e.keep), nil
	}
	return reply.Body, nil
}

// killCursors splits the ids by owning member, kills each group there, and merges the answers,
// as mongos's killCursors does (kill_cursors_common.h, cluster_cursor_manager.cpp): a cursor of
// another namespace than the one named is not found, whoever asks; killing another user's cursor
// needs killAnyCursor (auth_checks.cpp checkAuthForKillCursors); the router forgets a cursor only
// when its shard killed it or no longer has it.
func (c *conn) killCursors(ctx context.Context, r *request) (bsoncore.Document, error) {
	coll, ok := bsonview.Lookup(r.Body, "killCursors")
	if !ok || coll.Type != bsoncore.TypeString {
		return nil, mongoerr.WrongType("killCursors.killCursors", coll.Type, "string")
	}
	ns := string(r.DB) + "." + coll.StringValue()
	v, _ := bsonview.Lookup(r.Body, "cursors")
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, mongoerr.WrongType("killCursors.cursors", v.Type, "array")
	}
	vals, _ := arr.Values()
	type group struct {
		shard int
		ids   []int64
	}
	groups := map[string]*group{}
	var order []string
	var notFound []int64
	for _, cv := range vals {
		id, ok := cv.Int64OK()
		if !ok {
			return nil, mongoerr.New(mongoerr.TypeMismatch,
				"BSON field 'killCursors.cursors' contains an element of type '%s', expected type 'long'", mongoerr.TypeName(cv.Type))
		}
		e, ok := c.s.cursors.get(id)
		if !ok || e.ns != ns {
			notFound = append(notFound, id)
			continue
		}
		if err := r.who.mayKillCursor(e, r.DB, coll.StringValue()); err != nil {
			return nil, err
		}
		g := groups[e.host]
		if g == nil {
			g = &group{shard: e.shard}
			groups[e.host] = g
			order = append(order, e.host)
		}
		g.ids = append(g.ids, id)
	}
	merged := map[string][]int64{"cursorsNotFound": notFound}
	for _, host := range order {
		g := groups[host]
		sub := *r
		sub.Body = killCursorsBody(r.Body, g.ids)
		reply, _, err := c.exchange(ctx, g.shard, shards.Primary(), host, &sub)
		if err != nil {
			// The member is gone, and its cursors with it.
			for _, id := range g.ids {
				c.s.forgetCursor(id)
			}
			merged["cursorsUnknown"] = append(merged["cursorsUnknown"], g.ids...)
			continue
		}
		for _, field := range []string{"cursorsKilled", "cursorsNotFound", "cursorsAlive", "cursorsUnknown"} {
			ids, _ := reply.Body.Lookup(field).ArrayOK()
			idVals, _ := ids.Values()
			for _, iv := range idVals {
				id := iv.AsInt64()
				if field == "cursorsKilled" || field == "cursorsNotFound" {
					c.s.forgetCursor(id) // alive and unknown ones (another session's) live on
				}
				merged[field] = append(merged[field], id)
			}
		}
	}
	b := bsoncore.NewDocumentBuilder()
	for _, field := range []string{"cursorsKilled", "cursorsNotFound", "cursorsAlive", "cursorsUnknown"} {
		b.AppendArray(field, int64Array(merged[field]))
	}
	return b.AppendDouble("ok", 1).Build(), nil
}

// killCursorsBody is the client's killCursors command restricted to ids.
func killCursorsBody(body bsoncore.Document, ids []int64) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	bsonview.Each(body, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) == "cursors" {
			dst = bsoncore.AppendArrayElement(dst, "cursors", int64Array(ids))
		} else {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func int64Array(ids []int64) []byte {
	idx, arr := bsoncore.AppendArrayStart(nil)
	for i, id := range ids {
		arr = bsoncore.AppendInt64Element(arr, strconv.Itoa(i), id)
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, idx)
	return arr
}

// forgetCursor drops an exhausted or killed cursor from the registry and from its session.
func (s *Server) forgetCursor(id int64) {
	if e, ok := s.cursors.remove(id); ok && e.hasLSID {
		s.sessions.RemoveCursor(e.lsid, id)
	}
}
