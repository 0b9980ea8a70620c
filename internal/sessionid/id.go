// Package sessionid parses and builds logical session ids (lsid), user digests, kill patterns and
// the session fields of commands, with the exact error codes and messages of MongoDB's IDL parser
// (reference/mongodb-sessions.md §1, §3, §5, §6).
package sessionid

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// UID is a user digest: SHA-256 of "user@db" (BinData subtype 0, 32 bytes on the wire).
type UID [32]byte

// ID is a full logical session id {id, uid}. It is comparable and serves as a map key.
type ID struct {
	ID  [16]byte
	UID UID
}

// NoAuthUID is the digest of every session created without authentication: SHA-256("").
// It cannot collide with a user's digest because every full user name contains '@'.
var NoAuthUID UID = sha256.Sum256(nil)

// maxUserNameLength is kMaximumUserNameLengthForLogicalSessions; it bounds "user@db".
const maxUserNameLength = 10000

// UserDigest returns the uid of the authenticated user user@db; both empty gives NoAuthUID. A full
// name ("user@db") of 10,000 bytes or more is BadValue, as mongod checks the logged-in user's
// display-name length.
func UserDigest(user, db string) (UID, error) {
	if len(user)+1+len(db) >= maxUserNameLength {
		return UID{}, mongoerr.New(mongoerr.BadValue, "Username too long to use with logical sessions")
	}
	return digest(user, db), nil
}

// digest is getLogicalSessionUserDigestFor: the uid of a named user, without the length check
// (killAllSessions and $listSessions name users that need not be logged in, or even exist).
func digest(user, db string) UID {
	if user == "" && db == "" {
		return NoAuthUID
	}
	h := sha256.New()
	h.Write([]byte(user))
	h.Write([]byte{'@'})
	h.Write([]byte(db))
	var uid UID
	h.Sum(uid[:0])
	return uid
}

// NewID mints a session id owned by uid: a fresh random (v4) UUID, as startSession does.
func NewID(uid UID) ID {
	return ID{ID: uuid.New(), UID: uid}
}

// AppendDoc appends the full lsid document {id: BinData(4), uid: BinData(0)}.
func (id ID) AppendDoc(dst []byte) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendBinaryElement(dst, "id", bson.TypeBinaryUUID, id.ID[:])
	dst = bsoncore.AppendBinaryElement(dst, "uid", bson.TypeBinaryGeneric, id.UID[:])
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// AppendClientDoc appends {id: BinData(4)}: what clients see (the uid is never returned).
func (id ID) AppendClientDoc(dst []byte) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendBinaryElement(dst, "id", bson.TypeBinaryUUID, id.ID[:])
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// String formats the id as mongod prints a LogicalSessionId in messages:
// "<uuid> - <base64 uid> -  - " (the empty slots are txnNumber and txnUUID of child sessions).
func (id ID) String() string { return formatLSID(id.ID, id.UID, "", "") }

func formatLSID(id [16]byte, uid UID, txnNumber, txnUUID string) string {
	return uuid.UUID(id).String() + " - " + base64.StdEncoding.EncodeToString(uid[:]) + " - " +
		txnNumber + " - " + txnUUID
}
