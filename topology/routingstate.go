package topology

import (
	"context"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The routing state is the one document of config.routingVersion on the config shard
// (docs/architecture.md, "Routers agree"):
//
//	{_id: "routing", version: NumberLong,
//	 criticalSections: [{ns, owner, reason, since}],
//	 changes: [{version, ns}]}
//
// version counts the changes of the routing metadata; every change of config.collections,
// config.chunks or a database's placement moves it, and changes names what each version changed
// (the latest maxChanges), so a router drops only those tables. A critical section is a change
// under way: every router holds back the commands of its namespace (a collection "db.coll" or a
// whole database "db") until it ends. The document is only ever replaced as a whole under the
// version it was read with, so concurrent changes from several routers serialise.

const (
	routingStateColl = "routingVersion"
	routingStateID   = "routing"
	maxChanges       = 64
)

type routingState struct {
	exists   bool
	Version  int64
	Sections []criticalSection
	Changes  []change // oldest first
}

// criticalSection is a change of NS's routing metadata under way, begun by the router Owner.
type criticalSection struct {
	NS     string
	Owner  string
	Reason string
	Since  time.Time
}

type change struct {
	Version int64
	NS      string
}

// covers reports whether s holds back commands on db.coll (coll empty: on the database itself).
func (s criticalSection) covers(db, coll string) bool {
	if !strings.HasPrefix(s.NS, db) {
		return false
	}
	rest := s.NS[len(db):]
	return rest == "" || coll != "" && len(rest) == len(coll)+1 && rest[0] == '.' && rest[1:] == coll
}

// conflicts reports whether sections on ns and on s.NS cannot run at once: the same collection,
// or the same database where one of them is the database's.
func (s criticalSection) conflicts(ns string) bool {
	db, coll, _ := strings.Cut(ns, ".")
	sdb, scoll, _ := strings.Cut(s.NS, ".")
	return db == sdb && (coll == "" || scoll == "" || coll == scoll)
}

// changedSince lists the namespaces changed after version v; complete is false when the log does
// not reach back to v (or the state went back, as after the config database was reset).
func (st routingState) changedSince(v int64) (nss []string, complete bool) {
	if st.Version == v {
		return nil, true
	}
	if st.Version < v || len(st.Changes) == 0 || st.Changes[0].Version > v+1 {
		return nil, false
	}
	for _, ch := range st.Changes {
		if ch.Version > v {
			nss = append(nss, ch.NS)
		}
	}
	return nss, true
}

// withChange is st one version later, with ns named as what changed.
func (st routingState) withChange(ns string) routingState {
	st.Version++
	changes := append(append([]change(nil), st.Changes...), change{Version: st.Version, NS: ns})
	if len(changes) > maxChanges {
		changes = changes[len(changes)-maxChanges:]
	}
	st.Changes = changes
	return st
}

func (st routingState) doc() bsoncore.Document {
	sections := make([]bsoncore.Value, len(st.Sections))
	for i, s := range st.Sections {
		sections[i] = docValue(bsoncore.NewDocumentBuilder().
			AppendString("ns", s.NS).
			AppendString("owner", s.Owner).
			AppendString("reason", s.Reason).
			AppendDateTime("since", s.Since.UnixMilli()).Build())
	}
	changes := make([]bsoncore.Value, len(st.Changes))
	for i, ch := range st.Changes {
		changes[i] = docValue(bsoncore.NewDocumentBuilder().
			AppendInt64("version", ch.Version).
			AppendString("ns", ch.NS).Build())
	}
	return bsoncore.NewDocumentBuilder().
		AppendString("_id", routingStateID).
		AppendInt64("version", st.Version).
		AppendArray("criticalSections", bsoncore.BuildArray(nil, sections...)).
		AppendArray("changes", bsoncore.BuildArray(nil, changes...)).Build()
}

func parseRoutingState(doc bsoncore.Document) routingState {
	st := routingState{exists: true}
	st.Version, _ = doc.Lookup("version").AsInt64OK()
	sections, _ := doc.Lookup("criticalSections").ArrayOK()
	vals, _ := sections.Values()
	for _, v := range vals {
		d, _ := v.DocumentOK()
		var s criticalSection
		s.NS, _ = d.Lookup("ns").StringValueOK()
		s.Owner, _ = d.Lookup("owner").StringValueOK()
		s.Reason, _ = d.Lookup("reason").StringValueOK()
		ms, _ := d.Lookup("since").DateTimeOK()
		s.Since = time.UnixMilli(ms)
		st.Sections = append(st.Sections, s)
	}
	changes, _ := doc.Lookup("changes").ArrayOK()
	vals, _ = changes.Values()
	for _, v := range vals {
		d, _ := v.DocumentOK()
		var ch change
		ch.Version, _ = d.Lookup("version").AsInt64OK()
		ch.NS, _ = d.Lookup("ns").StringValueOK()
		st.Changes = append(st.Changes, ch)
	}
	return st
}

// readState reads the routing state (the zero state when there is none yet).
func (p *placement) readState(ctx context.Context) (routingState, error) {
	docs, err := p.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", routingStateColl).
		AppendDocument("filter", bsoncore.NewDocumentBuilder().AppendString("_id", routingStateID).Build()).
		AppendInt32("limit", 1).
		AppendString("$db", "config").Build())
	if err != nil || len(docs) == 0 {
		return routingState{}, err
	}
	return parseRoutingState(docs[0]), nil
}

// writeState replaces old with next unless another router changed the state since old was read
// (then it reports false).
func (p *placement) writeState(ctx context.Context, old, next routingState) (bool, error) {
	if !old.exists {
		reply, err := p.command(ctx, bsoncore.NewDocumentBuilder().
			AppendString("insert", routingStateColl).
			AppendArray("documents", bsoncore.BuildArray(nil, docValue(next.doc()))).
			AppendDocument("writeConcern", majority).
			AppendString("$db", "config").Build())
		if err != nil {
			return false, err
		}
		return writeApplied(reply, p.config.Name())
	}
	reply, err := p.command(ctx, bsoncore.NewDocumentBuilder().
		AppendString("update", routingStateColl).
		AppendArray("updates", bsoncore.BuildArray(nil, docValue(bsoncore.NewDocumentBuilder().
			AppendDocument("q", bsoncore.NewDocumentBuilder().
				AppendString("_id", routingStateID).
				AppendInt64("version", old.Version).Build()).
			AppendDocument("u", next.doc()).Build()))).
		AppendDocument("writeConcern", majority).
		AppendString("$db", "config").Build())
	if err != nil {
		return false, err
	}
	return writeApplied(reply, p.config.Name())
}

// writeApplied reads a one-statement write's reply: applied when n is 1; a duplicate key (another
// router inserted first) is not applied; any other write error or a write concern error fails.
func writeApplied(reply bsoncore.Document, shard string) (bool, error) {
	if wce, ok := reply.Lookup("writeConcernError").DocumentOK(); ok {
		msg, _ := wce.Lookup("errmsg").StringValueOK()
		return false, mongoerr.New(mongoerr.WriteConcernFailed, "config.%s on the config shard %s: %s", routingStateColl, shard, msg)
	}
	errs, _ := reply.Lookup("writeErrors").ArrayOK()
	if first, err := errs.IndexErr(0); err == nil {
		we, _ := first.DocumentOK()
		code, _ := we.Lookup("code").AsInt64OK()
		if code == duplicateKey {
			return false, nil
		}
		msg, _ := we.Lookup("errmsg").StringValueOK()
		return false, mongoerr.New(mongoerr.Code(code), "config.%s on the config shard %s: %s", routingStateColl, shard, msg)
	}
	n, _ := reply.Lookup("n").AsInt64OK()
	return n == 1, nil
}

// mutateState applies fn to the current routing state and writes the result, again from a fresh
// read whenever another router wrote in between. fn returns ok false to leave the state as is.
func (p *placement) mutateState(ctx context.Context, fn func(routingState) (routingState, bool, error)) (routingState, error) {
	for {
		old, err := p.readState(ctx)
		if err != nil {
			return routingState{}, err
		}
		next, ok, err := fn(old)
		if err != nil || !ok {
			return old, err
		}
		applied, err := p.writeState(ctx, old, next)
		if err != nil {
			return routingState{}, err
		}
		if applied {
			next.exists = true
			return next, nil
		}
		if err := ctx.Err(); err != nil {
			return routingState{}, err
		}
	}
}
