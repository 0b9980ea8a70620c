package sessionid

import (
	"strconv"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// rawLSID is a parsed lsid document before ownership rules apply: LogicalSessionFromClient
// (uid optional) or LogicalSessionId (uid required), both strict IDL structs.
type rawLSID struct {
	id           [16]byte
	uid          UID
	hasUID       bool
	hasTxnNumber bool // lsid.txnNumber: internal (child sessions for retryable writes)
	hasTxnUUID   bool // lsid.txnUUID: marks a child session
	txnNumber    int64
	txnUUID      [16]byte
}

const (
	lsidID seen = 1 << iota
	lsidUID
	lsidTxnNumber
	lsidTxnUUID
)

// parseUUID is the IDL "uuid" type: binData subtype 4 (TypeMismatch otherwise), then exactly 16
// bytes (InvalidUUID otherwise, raised by UUID::parse).
func parseUUID(c ctx, v bsoncore.Value, bit seen, s *seen, dst *[16]byte) (bool, error) {
	data, ok, err := expectBinary(c, v, bson.TypeBinaryUUID)
	if !ok {
		return false, err
	}
	if err := s.mark(bit, c); err != nil {
		return false, err
	}
	if len(data) != len(dst) {
		return false, mongoerr.New(mongoerr.InvalidUUID, "uuid must be a 16-byte binary field with UUID (4) subtype")
	}
	copy(dst[:], data)
	return true, nil
}

// parseUID is the IDL "sha256Block" type: binData subtype 0, exactly 32 bytes.
func parseUID(c ctx, v bsoncore.Value, bit seen, s *seen, dst *UID) (bool, error) {
	data, ok, err := expectBinary(c, v, bson.TypeBinaryGeneric)
	if !ok {
		return false, err
	}
	if err := s.mark(bit, c); err != nil {
		return false, err
	}
	if len(data) != len(dst) {
		return false, mongoerr.New(mongoerr.UnsupportedFormat, "Unsupported SHA256Block hash length: %d", len(data))
	}
	copy(dst[:], data)
	return true, nil
}

// parseLSIDDoc parses the fields of an lsid document; c is the lsid's own path. Errors come in
// document order (type, duplicate, value), then missing fields in declaration order (id, uid).
func parseLSIDDoc(c ctx, doc bsoncore.Document, uidRequired bool) (rawLSID, error) {
	var r rawLSID
	elems, err := walk(c, doc)
	if err != nil {
		return r, err
	}
	var s seen
	for e, more := elems.next(); more; e, more = elems.next() {
		v := e.Value()
		switch key := e.KeyBytes(); string(key) {
		case "id":
			if _, err := parseUUID(c.child("id"), v, lsidID, &s, &r.id); err != nil {
				return r, err
			}
		case "uid":
			ok, err := parseUID(c.child("uid"), v, lsidUID, &s, &r.uid)
			if err != nil {
				return r, err
			}
			r.hasUID = r.hasUID || ok
		case "txnNumber":
			fc := c.child("txnNumber")
			ok, err := expect(fc, v, bsoncore.TypeInt64)
			if err != nil {
				return r, err
			}
			if ok {
				if err := s.mark(lsidTxnNumber, fc); err != nil {
					return r, err
				}
				r.hasTxnNumber = true
				r.txnNumber, _ = v.Int64OK()
			}
		case "txnUUID":
			ok, err := parseUUID(c.child("txnUUID"), v, lsidTxnUUID, &s, &r.txnUUID)
			if err != nil {
				return r, err
			}
			r.hasTxnUUID = r.hasTxnUUID || ok
		default:
			return r, c.unknown(key)
		}
	}
	if s&lsidID == 0 {
		return r, c.child("id").missing()
	}
	if uidRequired && s&lsidUID == 0 {
		return r, c.child("uid").missing()
	}
	return r, nil
}

// owned applies makeLogicalSessionId: txnNumber needs txnUUID; a uid other than the caller's
// needs a privilege (impersonate, or killAnySession for kills); a missing uid is the caller's.
func (r rawLSID) owned(caller UID, mayImpersonate bool) (ID, error) {
	if r.hasTxnNumber && !r.hasTxnUUID {
		return ID{}, mongoerr.New(mongoerr.InvalidOptions, "Cannot specify txnNumber in lsid without specifying txnUUID")
	}
	id := ID{ID: r.id, UID: caller}
	if r.hasUID {
		if r.uid != caller && !mayImpersonate {
			return ID{}, mongoerr.New(mongoerr.Unauthorized, "Unauthorized to set user digest in LogicalSessionId")
		}
		id.UID = r.uid
	}
	return id, nil
}

// Parse validates a client-supplied lsid value (LogicalSessionFromClient) found at path, e.g.
// "OperationSessionInfo.lsid", and resolves its owner: a missing uid is the caller's; another uid
// is accepted only if mayImpersonate, else Unauthorized(13). Child-session fields (txnUUID) are for
// internal clients only and are refused with InvalidOptions(72). MongoDB's parsers treat a null
// lsid as absent; that decision is the caller's, Parse reports it as the wrong type.
func Parse(v bsoncore.Value, path string, caller UID, mayImpersonate bool) (ID, error) {
	c := root(path)
	if v.Type != bsoncore.TypeEmbeddedDocument {
		return ID{}, c.wrongType(v.Type, bsoncore.TypeEmbeddedDocument)
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return ID{}, c.malformed()
	}
	r, err := parseLSIDDoc(c, doc, false)
	if err != nil {
		return ID{}, err
	}
	return r.ownedParent(caller, mayImpersonate)
}

// ownedParent is owned for a session attached to an operation: external clients may not use
// child sessions.
func (r rawLSID) ownedParent(caller UID, mayImpersonate bool) (ID, error) {
	id, err := r.owned(caller, mayImpersonate)
	if err != nil {
		return ID{}, err
	}
	if r.hasTxnUUID {
		return ID{}, mongoerr.New(mongoerr.InvalidOptions, "Internal sessions are only allowed for internal clients")
	}
	return id, nil
}

// String formats a parsed lsid, owned by uid, as mongod prints a (possibly child) LogicalSessionId.
func (r rawLSID) String(uid UID) string {
	var txnNumber, txnUUID string
	if r.hasTxnNumber {
		txnNumber = strconv.FormatInt(r.txnNumber, 10)
	}
	if r.hasTxnUUID {
		txnUUID = uuid.UUID(r.txnUUID).String()
	}
	return formatLSID(r.id, uid, txnNumber, txnUUID)
}
