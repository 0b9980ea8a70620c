package sessionid

import (
	"bytes"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Patterns is what a kill command selects, as mongod's SessionKiller::Matcher sees it: everything,
// every session of some users, or some exact sessions.
type Patterns struct {
	All  bool
	UIDs map[UID]struct{}
	IDs  map[ID]struct{}
	// Impersonation is set when a killAllSessionsByPattern pattern carried users or roles: the
	// caller then needs the impersonate privilege (Unauthorized(13) "Not authorized to
	// impersonate in killAllSessionsByPattern"), which the router checks.
	Impersonation bool
}

// Matches reports whether the session id is selected.
func (p *Patterns) Matches(id ID) bool {
	if p.All {
		return true
	}
	if _, ok := p.UIDs[id.UID]; ok {
		return true
	}
	_, ok := p.IDs[id]
	return ok
}

// None reports whether p selects no session at all.
func (p *Patterns) None() bool { return !p.All && len(p.UIDs) == 0 && len(p.IDs) == 0 }

func (p *Patterns) addUID(uid UID) {
	if p.UIDs == nil {
		p.UIDs = make(map[UID]struct{})
	}
	p.UIDs[uid] = struct{}{}
}

func (p *Patterns) addID(id ID) {
	if p.IDs == nil {
		p.IDs = make(map[ID]struct{})
	}
	p.IDs[id] = struct{}{}
}

// killAll is the pattern set of a kill-all: it makes every other pattern irrelevant.
func killAll(impersonation bool) Patterns { return Patterns{All: true, Impersonation: impersonation} }

// ParseKill parses killSessions, killAllSessions or killAllSessionsByPattern (chosen by the body's
// first key) with the semantics of mongod's kill_sessions_command.cpp and
// kill_all_sessions_by_pattern_command.cpp. A killSessions uid other than the caller's is accepted
// only when auth is off (every privilege check passes then); use ParseKillAs when the caller holds
// killAnySession.
func ParseKill(body bsoncore.Document, caller UID, authEnabled bool) (Patterns, error) {
	return ParseKillAs(body, caller, authEnabled, !authEnabled)
}

// ParseKillAs is ParseKill where mayKillAny says whether the caller may name another user's
// session by uid in killSessions (killAnySession or impersonate on the cluster).
func ParseKillAs(body bsoncore.Document, caller UID, authEnabled, mayKillAny bool) (Patterns, error) {
	name, array, arr, err := commandArg(body)
	if err != nil {
		return Patterns{}, err
	}
	switch name {
	case "killSessions":
		ids, set, err := parseList(body, caller, mayKillAny)
		if err != nil {
			return Patterns{}, err
		}
		var p Patterns
		switch {
		case len(ids) > 0:
			p.IDs = set
		case authEnabled:
			// [] kills the caller's own sessions.
			p.addUID(caller)
		default:
			p.All = true
		}
		return p, nil
	case "killAllSessions":
		return parseKillAllSessions(array, arr)
	case "killAllSessionsByPattern":
		return parseKillByPattern(array, arr)
	}
	return Patterns{}, mongoerr.New(mongoerr.InternalError, "%q is not a kill command", name)
}

// parseKillAllSessions: [] kills all; otherwise every session of each {user, db}.
func parseKillAllSessions(c ctx, arr bsoncore.Array) (Patterns, error) {
	var p Patterns
	named := false
	err := eachObject(c, arr, func(c ctx, doc bsoncore.Document) error {
		named = true
		user, db, err := parseNameDB(c, doc, "user")
		if err != nil {
			return err
		}
		p.addUID(digest(user, db))
		return nil
	})
	if err != nil {
		return Patterns{}, err
	}
	if !named {
		return killAll(false), nil
	}
	return p, nil
}

const (
	nameField seen = 1 << iota
	dbField
)

// parseNameDB parses the strict structs KillAllSessionsUser {user, db} and KillAllSessionsRole
// {role, db}; name is "user" or "role".
func parseNameDB(c ctx, doc bsoncore.Document, name string) (string, string, error) {
	elems, err := walk(c, doc)
	if err != nil {
		return "", "", err
	}
	var s seen
	var nameValue, dbValue string
	for e, more := elems.next(); more; e, more = elems.next() {
		key, v := e.KeyBytes(), e.Value()
		var field string
		var bit seen
		var dst *string
		switch {
		case string(key) == name:
			field, bit, dst = name, nameField, &nameValue
		case string(key) == "db":
			field, bit, dst = "db", dbField, &dbValue
		default:
			return "", "", c.unknown(key)
		}
		fc := c.child(field)
		ok, err := expect(fc, v, bsoncore.TypeString)
		if err != nil {
			return "", "", err
		}
		if !ok {
			continue
		}
		if err := s.mark(bit, fc); err != nil {
			return "", "", err
		}
		*dst, _ = v.StringValueOK()
	}
	if s&nameField == 0 {
		return "", "", c.child(name).missing()
	}
	if s&dbField == 0 {
		return "", "", c.child("db").missing()
	}
	return nameValue, dbValue, nil
}

// killPattern is one parsed KillAllSessionsByPattern element.
type killPattern struct {
	lsid         rawLSID
	uid          UID
	hasLSID      bool
	hasUID       bool
	users        int
	impersonates bool // users or roles present
}

const (
	patLSID seen = 1 << iota
	patUID
	patUsers
	patRoles
)

// parseKillPattern parses the strict struct KillAllSessionsByPattern {lsid, uid, users, roles}.
func parseKillPattern(c ctx, doc bsoncore.Document) (killPattern, error) {
	var kp killPattern
	elems, err := walk(c, doc)
	if err != nil {
		return kp, err
	}
	var s seen
	for e, more := elems.next(); more; e, more = elems.next() {
		key, v := e.KeyBytes(), e.Value()
		switch string(key) {
		case "lsid":
			fc := c.child("lsid")
			ldoc, ok, err := expectDoc(fc, v)
			if err != nil {
				return kp, err
			}
			if !ok {
				continue
			}
			if err := s.mark(patLSID, fc); err != nil {
				return kp, err
			}
			// A full LogicalSessionId: uid required (40414 "...lsid.uid' is missing").
			if kp.lsid, err = parseLSIDDoc(fc, ldoc, true); err != nil {
				return kp, err
			}
			if kp.lsid.hasTxnUUID { // kill_sessions::validateLsid
				return kp, mongoerr.New(mongoerr.InvalidOptions, "Cannot kill a child session")
			}
			kp.hasLSID = true
		case "uid":
			ok, err := parseUID(c.child("uid"), v, patUID, &s, &kp.uid)
			if err != nil {
				return kp, err
			}
			kp.hasUID = kp.hasUID || ok
		case "users", "roles":
			field, bit, name := "users", patUsers, "user"
			if string(key) == "roles" {
				field, bit, name = "roles", patRoles, "role"
			}
			fc := c.child(field)
			arr, ok, err := expectArray(fc, v)
			if err != nil {
				return kp, err
			}
			if !ok {
				continue
			}
			if err := s.mark(bit, fc); err != nil {
				return kp, err
			}
			kp.impersonates = true
			err = eachObject(fc, arr, func(c ctx, doc bsoncore.Document) error {
				_, _, err := parseNameDB(c, doc, name)
				if bit == patUsers {
					kp.users++
				}
				return err
			})
			if err != nil {
				return kp, err
			}
		default:
			return kp, c.unknown(key)
		}
	}
	return kp, nil
}

// parseKillByPattern applies SessionKiller::Matcher: a pattern with uid selects that user's
// sessions, else one with lsid selects that session, else the pattern kills everything. users and
// roles are impersonation data for auditing, not filters. [] kills all.
//
// It walks the array twice rather than keep every parsed pattern: every parse error comes before
// the rules that read the patterns, and a client's list costs only the selection it makes.
func parseKillByPattern(c ctx, arr bsoncore.Array) (Patterns, error) {
	n := 0
	err := eachObject(c, arr, func(c ctx, doc bsoncore.Document) error {
		n++
		_, err := parseKillPattern(c, doc)
		return err
	})
	if err != nil {
		return Patterns{}, err
	}
	p := Patterns{IDs: make(map[ID]struct{}, n)}
	all := n == 0
	err = eachObject(c, arr, func(c ctx, doc bsoncore.Document) error {
		kp, _ := parseKillPattern(c, doc)
		if kp.users > 1 {
			return mongoerr.New(mongoerr.BadValue, "Too many users in impersonation data")
		}
		p.Impersonation = p.Impersonation || kp.impersonates
		switch {
		case kp.hasUID:
			p.addUID(kp.uid)
		case kp.hasLSID:
			// An lsid carrying txnNumber without txnUUID equals no parent session id: it
			// selects nothing.
			if !kp.lsid.hasTxnNumber {
				p.addID(ID{ID: kp.lsid.id, UID: kp.lsid.uid})
			}
		default:
			all = true
		}
		return nil
	})
	if err != nil {
		return Patterns{}, err
	}
	if all {
		return killAll(p.Impersonation), nil
	}
	if len(p.IDs) == 0 {
		p.IDs = nil
	}
	return p, nil
}

// MaxKillBatch bounds the patterns of one kill command a member receives: well under the 16 MB
// a member accepts in a command, however many sessions a client names.
const MaxKillBatch = 8 << 20

// KillCommands encodes p as killAllSessionsByPattern bodies {killAllSessionsByPattern: [...],
// $db: "admin"} that together select exactly p on a mongod: [] for All, else one {uid} pattern
// per uid and one full {lsid: {id, uid}} pattern per id not already covered by its uid, in a
// deterministic order, split so that no body's patterns pass maxBytes. Users/roles-only patterns
// are never sent: on a mongod they mean kill-all. Callers should not broadcast when p.None(); if
// they do, the body holds one pattern for the all-zero lsid, which no session has (no user name
// hashes to a zero digest), so it kills nothing instead of everything. The bodies are only read
// afterwards: one encoding serves every member.
func (p *Patterns) KillCommands(maxBytes int) []bsoncore.Document {
	var out []bsoncore.Document
	var dst []byte
	var idx, aidx int32
	n := 0
	// Each body gets its size up front (a pattern is at most ~100 bytes), so that building the
	// kill costs the router its encoding and no growth.
	left := 100*(len(p.UIDs)+len(p.IDs)) + 100
	open := func() {
		dst = make([]byte, 0, min(left, maxBytes+200))
		left -= cap(dst)
		idx, dst = bsoncore.AppendDocumentStart(dst)
		aidx, dst = bsoncore.AppendArrayElementStart(dst, "killAllSessionsByPattern")
		n = 0
	}
	closeBody := func() {
		dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
		dst = bsoncore.AppendStringElement(dst, "$db", "admin")
		dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
		out = append(out, dst)
	}
	// next starts a pattern element, in a new body when this one is full.
	next := func() (int32, []byte) {
		if n > 0 && len(dst) >= maxBytes {
			closeBody()
			open()
		}
		k := strconv.Itoa(n)
		n++
		return bsoncore.AppendDocumentElementStart(dst, k)
	}
	open()
	if !p.All {
		for _, uid := range sortedKeys(p.UIDs, func(a, b UID) int { return bytes.Compare(a[:], b[:]) }) {
			pidx, d := next()
			d = bsoncore.AppendBinaryElement(d, "uid", bson.TypeBinaryGeneric, uid[:])
			dst, _ = bsoncore.AppendDocumentEnd(d, pidx)
		}
		ids := sortedKeys(p.IDs, compareIDs)
		if p.None() {
			ids = []ID{{}}
		}
		for _, id := range ids {
			if _, covered := p.UIDs[id.UID]; covered {
				continue
			}
			pidx, d := next()
			d = bsoncore.AppendHeader(d, bsoncore.TypeEmbeddedDocument, "lsid")
			d = id.AppendDoc(d)
			dst, _ = bsoncore.AppendDocumentEnd(d, pidx)
		}
	}
	closeBody()
	return out
}

func compareIDs(a, b ID) int {
	if c := bytes.Compare(a.UID[:], b.UID[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// sortedKeys gives a deterministic order, so equal selections encode to equal bytes.
func sortedKeys[K comparable](m map[K]struct{}, cmp func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp)
	return keys
}
