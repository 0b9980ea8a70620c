package sessionid

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// argContexts returns the parse contexts MongoDB uses for the array argument of a session command:
// field is where a wrong type of the whole argument is reported, array is the context of its
// elements. endSessions and refreshSessions are IDL commands whose array context is named after
// the IDL command key ("refreshSessions.refreshSessionsFromClient.0", seen on real servers); the
// kill commands are parsed as IDL structs ("KillAllSessionsCmd.killAllSessions.0").
func argContexts(command string) (field, array ctx, ok bool) {
	switch command {
	case "endSessions":
		return root("endSessions.endSessions"), root("endSessions.endSessionsFromClient"), true
	case "refreshSessions":
		return root("refreshSessions.refreshSessions"), root("refreshSessions.refreshSessionsFromClient"), true
	case "killSessions":
		f := root("KillSessionsCmdFromClient.killSessions")
		return f, f, true
	case "killAllSessions":
		f := root("KillAllSessionsCmd.killAllSessions")
		return f, f, true
	case "killAllSessionsByPattern":
		f := root("KillAllSessionsByPatternCmd.killAllSessionsByPattern")
		return f, f, true
	}
	return ctx{}, ctx{}, false
}

// commandArg returns the command name (the body's first key), the contexts of its argument and
// the argument array. An absent (null) argument is a missing required field.
func commandArg(body bsoncore.Document) (name string, array ctx, arr bsoncore.Array, err error) {
	elems, err := walk(root("command"), body)
	if err != nil {
		return "", ctx{}, nil, err
	}
	first, ok := elems.next()
	if !ok {
		return "", ctx{}, nil, mongoerr.New(mongoerr.InternalError, "empty command document")
	}
	name = first.Key()
	field, array, ok := argContexts(name)
	if !ok {
		return "", ctx{}, nil, mongoerr.New(mongoerr.InternalError, "%q is not a session command", name)
	}
	arr, ok, err = expectArray(field, first.Value())
	if err != nil {
		return "", ctx{}, nil, err
	}
	if !ok {
		return "", ctx{}, nil, field.missing()
	}
	return name, array, arr, nil
}

// ParseList parses the array argument of endSessions, refreshSessions or killSessions (the body's
// first element) into full ids, without duplicates, in the order given. Messages are those of
// mongod's end_sessions_command.cpp, refresh_sessions_command.cpp and kill_sessions_command.cpp.
// Ownership as in Parse; a child session id (lsid.txnUUID) is folded into its parent by
// refreshSessions (as vivify does) and refused by endSessions and killSessions.
func ParseList(body bsoncore.Document, caller UID, mayImpersonate bool) ([]ID, error) {
	ids, _, err := parseList(body, caller, mayImpersonate)
	return ids, err
}

// parseList is ParseList, also returning the ids as a set. It walks the array twice rather than
// keep every parsed element: every parse error comes before any ownership error, as mongod parses
// the whole array before it builds an id, and a client's list costs the router only its ids.
func parseList(body bsoncore.Document, caller UID, mayImpersonate bool) ([]ID, map[ID]struct{}, error) {
	name, array, arr, err := commandArg(body)
	if err != nil {
		return nil, nil, err
	}
	switch name {
	case "endSessions", "refreshSessions", "killSessions":
	default:
		return nil, nil, mongoerr.New(mongoerr.InternalError, "%q does not take a list of session ids", name)
	}
	n := 0
	err = eachObject(array, arr, func(c ctx, doc bsoncore.Document) error {
		n++
		_, err := parseLSIDDoc(c, doc, false)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	ids := make([]ID, 0, n)
	set := make(map[ID]struct{}, n)
	var childErr error
	err = eachObject(array, arr, func(c ctx, doc bsoncore.Document) error {
		r, _ := parseLSIDDoc(c, doc, false)
		id, err := r.owned(caller, mayImpersonate)
		if err != nil {
			return err
		}
		if r.hasTxnUUID && childErr == nil {
			switch name {
			case "endSessions":
				childErr = mongoerr.New(mongoerr.InvalidOptions, "Cannot specify a child session id %s", r.String(id.UID))
			case "killSessions":
				childErr = mongoerr.New(mongoerr.InvalidOptions, "Cannot kill a child session")
			}
		}
		if _, dup := set[id]; !dup {
			set[id] = struct{}{}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if childErr != nil {
		return nil, nil, childErr
	}
	return ids, set, nil
}
