package sessionid

import (
	"slices"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// ListSpec is the argument of $listLocalSessions / $listSessions
// (src/mongo/db/pipeline/document_source_list_sessions.cpp): every user's sessions, or those of the
// listed uids (the caller's own when none is listed).
type ListSpec struct {
	AllUsers bool
	UIDs     []UID
}

const (
	specAllUsers seen = 1 << iota
	specUsers
	specPredicate
)

// ParseListSpec parses the stage argument v of stage ("$listLocalSessions" or "$listSessions"),
// with the strict ListSessionsSpec {allUsers, users: [{user, db}], $_internalPredicate}. {} means
// the caller. Whether the caller may list other users (listSessions privilege) is the router's
// check: it needs it when AllUsers or any uid differs from caller. $_internalPredicate is an
// internal filter; it is type-checked and otherwise ignored.
func ParseListSpec(stage string, v bsoncore.Value, caller UID) (ListSpec, error) {
	if v.Type != bsoncore.TypeEmbeddedDocument {
		return ListSpec{}, mongoerr.New(mongoerr.TypeMismatch, "%s options must be specified in an object, but found: %s",
			stage, mongoerr.TypeName(v.Type))
	}
	c := root(stage)
	doc, ok := v.DocumentOK()
	if !ok {
		return ListSpec{}, c.malformed()
	}
	elems, err := walk(c, doc)
	if err != nil {
		return ListSpec{}, err
	}
	var spec ListSpec
	var s seen
	users := 0
	listed := make(map[UID]struct{})
	for e, more := elems.next(); more; e, more = elems.next() {
		key, v := e.KeyBytes(), e.Value()
		switch string(key) {
		case "allUsers":
			fc := c.child("allUsers")
			ok, err := expect(fc, v, bsoncore.TypeBoolean)
			if err != nil {
				return ListSpec{}, err
			}
			if ok {
				if err := s.mark(specAllUsers, fc); err != nil {
					return ListSpec{}, err
				}
				spec.AllUsers, _ = v.BooleanOK()
			}
		case "users":
			fc := c.child("users")
			arr, ok, err := expectArray(fc, v)
			if err != nil {
				return ListSpec{}, err
			}
			if !ok {
				continue
			}
			if err := s.mark(specUsers, fc); err != nil {
				return ListSpec{}, err
			}
			err = eachObject(fc, arr, func(c ctx, doc bsoncore.Document) error {
				user, db, err := parseNameDB(c, doc, "user")
				if err != nil {
					return err
				}
				users++
				if uid := digest(user, db); !has(listed, uid) {
					listed[uid] = struct{}{}
					spec.UIDs = append(spec.UIDs, uid)
				}
				return nil
			})
			if err != nil {
				return ListSpec{}, err
			}
		case "$_internalPredicate":
			fc := c.child("$_internalPredicate")
			ok, err := expect(fc, v, bsoncore.TypeEmbeddedDocument)
			if err != nil {
				return ListSpec{}, err
			}
			if ok {
				if err := s.mark(specPredicate, fc); err != nil {
					return ListSpec{}, err
				}
			}
		default:
			return ListSpec{}, c.unknown(key)
		}
	}
	if spec.AllUsers && users > 0 {
		return ListSpec{}, mongoerr.New(mongoerr.UnsupportedFormat,
			"%s may not specify {allUsers:true} and {users:[...]} at the same time", stage)
	}
	switch {
	case spec.AllUsers:
		spec.UIDs = nil
	case users == 0:
		spec.UIDs = []UID{caller}
	}
	return spec, nil
}

func has(m map[UID]struct{}, uid UID) bool {
	_, ok := m[uid]
	return ok
}

// Matches reports whether a session owned by uid is listed.
func (s ListSpec) Matches(uid UID) bool {
	return s.AllUsers || slices.Contains(s.UIDs, uid)
}
