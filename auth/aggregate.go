package auth

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// maxPipelineDepth bounds the walk through nested pipelines ($lookup, $unionWith, $facet); BSON
// nesting is bounded anyway, this keeps a hostile command from costing a deep recursion.
const maxPipelineDepth = 20

// aggregateNeeds is an aggregate's privileges (LiteParsedPipeline::requiredPrivileges): find on
// the collection it reads, and what each stage needs: find on the collections $lookup,
// $graphLookup and $unionWith read, writes on the targets of $out and $merge, listSessions for
// $listLocalSessions / $listSessions over other users, inprog for $currentOp of all users.
// A collectionless aggregate (aggregate: 1) needs only its stages' privileges.
func aggregateNeeds(r request) []need {
	ns := nsOf(r.db, r.cmd.Index(0).Value())
	pipeline, _ := r.cmd.Lookup("pipeline").ArrayOK()
	bypass, _ := r.cmd.Lookup("bypassDocumentValidation").BooleanOK()
	w := pipelineWalk{user: r.user, db: r.db, bypass: bypass}
	if ns.Collection != "" && !w.startsWithSessionStage(pipeline) {
		w.add("find", ns)
	}
	w.walk(pipeline, 0)
	return w.needs
}

type pipelineWalk struct {
	user   *User
	db     string
	bypass bool
	needs  []need
}

func (w *pipelineWalk) add(action string, res Resource) {
	w.needs = append(w.needs, need{[]string{action}, res})
}

// startsWithSessionStage: $listSessions reads config.system.sessions through its own privilege,
// not find.
func (w *pipelineWalk) startsWithSessionStage(pipeline bsoncore.Array) bool {
	vals, _ := pipeline.Values()
	if len(vals) == 0 {
		return false
	}
	stage, _ := vals[0].DocumentOK()
	first, err := stage.IndexErr(0)
	return err == nil && (first.Key() == "$listSessions" || first.Key() == "$listLocalSessions")
}

func (w *pipelineWalk) walk(pipeline bsoncore.Array, depth int) {
	if depth > maxPipelineDepth {
		w.add(ActionAnyAction, ClusterResource())
		return
	}
	vals, _ := pipeline.Values()
	for _, v := range vals {
		stage, ok := v.DocumentOK()
		if !ok {
			continue // aggregate refuses it itself
		}
		first, err := stage.IndexErr(0)
		if err != nil {
			continue
		}
		w.stage(first.Key(), first.Value(), depth)
	}
}

func (w *pipelineWalk) stage(name string, arg bsoncore.Value, depth int) {
	spec, _ := arg.DocumentOK()
	switch name {
	case "$lookup", "$graphLookup":
		w.read(spec.Lookup("from"))
		if sub, ok := spec.Lookup("pipeline").ArrayOK(); ok {
			w.walk(sub, depth+1)
		}
	case "$unionWith":
		if _, ok := arg.StringValueOK(); ok {
			w.read(arg)
			return
		}
		w.read(spec.Lookup("coll"))
		if sub, ok := spec.Lookup("pipeline").ArrayOK(); ok {
			w.walk(sub, depth+1)
		}
	case "$facet":
		elems, _ := spec.Elements()
		for _, e := range elems {
			if sub, ok := e.Value().ArrayOK(); ok {
				w.walk(sub, depth+1)
			}
		}
	case "$out":
		w.write(arg, "db", "coll", "insert", "remove")
	case "$merge":
		if _, ok := arg.StringValueOK(); ok {
			w.write(arg, "", "", "insert", "update")
			return
		}
		w.write(spec.Lookup("into"), "db", "coll", "insert", "update")
	case "$listLocalSessions", "$listSessions":
		if w.listsOthers(spec) {
			w.add("listSessions", ClusterResource())
		}
	case "$currentOp":
		if all, _ := spec.Lookup("allUsers").BooleanOK(); all {
			w.add("inprog", ClusterResource())
		}
	case "$changeStream":
		w.add("changeStream", DBResource(w.db))
	}
}

// read needs find on the collection v names (a string, or {db, coll} for $lookup from).
func (w *pipelineWalk) read(v bsoncore.Value) {
	if coll, ok := v.StringValueOK(); ok && coll != "" {
		w.add("find", NSResource(w.db, coll))
		return
	}
	if d, ok := v.DocumentOK(); ok {
		db, _ := d.Lookup("db").StringValueOK()
		coll, _ := d.Lookup("coll").StringValueOK()
		if db == "" {
			db = w.db
		}
		w.add("find", NSResource(db, coll))
	}
}

// write needs actions on the target v names: a collection name, or a document with the
// database and collection under dbKey and collKey.
func (w *pipelineWalk) write(v bsoncore.Value, dbKey, collKey string, actions ...string) {
	db, coll := w.db, ""
	if s, ok := v.StringValueOK(); ok {
		coll = s
	} else if d, ok := v.DocumentOK(); ok {
		if s, ok := d.Lookup(dbKey).StringValueOK(); ok {
			db = s
		}
		coll, _ = d.Lookup(collKey).StringValueOK()
	}
	res := NSResource(db, coll)
	for _, a := range actions {
		w.add(a, res)
	}
	if w.bypass {
		w.add("bypassDocumentValidation", res)
	}
}

// listsOthers reports whether a $listLocalSessions / $listSessions spec reaches beyond the
// caller's own sessions: allUsers, or a user other than the caller.
func (w *pipelineWalk) listsOthers(spec bsoncore.Document) bool {
	if all, _ := spec.Lookup("allUsers").BooleanOK(); all {
		return true
	}
	users, _ := spec.Lookup("users").ArrayOK()
	vals, _ := users.Values()
	for _, v := range vals {
		d, _ := v.DocumentOK()
		name, _ := d.Lookup("user").StringValueOK()
		db, _ := d.Lookup("db").StringValueOK()
		if name != w.user.Name || db != w.user.DB {
			return true
		}
	}
	return false
}
