package sessioncache

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// Record is one session as $listLocalSessions shows it.
type Record struct {
	ID      sessionid.ID
	LastUse time.Time
	User    string // "user@db" of the owner; "" without auth
}

// AppendDoc appends the record document {_id: {id, uid}, lastUse: Date, user?: "user@db"}, the
// in-memory LogicalSessionRecord of mongod (user is a plain string there, and absent without
// auth).
func (r Record) AppendDoc(dst []byte) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, "_id")
	dst = r.ID.AppendDoc(dst)
	dst = bsoncore.AppendDateTimeElement(dst, "lastUse", r.LastUse.UnixMilli())
	if r.User != "" {
		dst = bsoncore.AppendStringElement(dst, "user", r.User)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// List returns the sessions $listLocalSessions shows: those used since the last refresh (the
// mongos cache's active set), owned by a uid spec selects. Order is unspecified.
func (c *Cache) List(spec sessionid.ListSpec) []Record {
	var out []Record
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		for id, r := range s.m {
			if r.flags&flagActive != 0 && spec.Matches(id.UID) {
				out = append(out, Record{ID: id, LastUse: time.Unix(0, r.lastUse), User: c.owners.name(r.owner)})
			}
		}
		s.mu.Unlock()
	}
	return out
}
