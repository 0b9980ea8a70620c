package auth

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// maxPipelineDepth bounds the walk through nested pipelines ($lookup, $unionWith, $facet); BSON
// nesting is bounded anyway, this keeps a hostile command from costing a deep recursion.
const maxPipelineDepth = 20

// aggregateNeeds is an aggregate's privileges (LiteParsedPipeline::requiredPrivileges): find on
// the collection it reads, and what each stage needs: find on the collections $lookup,
// $graphLookup and $unionWith read, writes on the targets of $out and $merge, listSessions for
// $listLocalSessions / $listSessions over other users, inprog for $currentOp of all users.
// A collectionless aggregate (aggregate: 1) needs only its stages' privileges.
//
// Every field the walk decides on is read strictly: a stage of more than one field, or a
// deciding field given twice, is refused (mongod's stage parsers refuse the first and read the
// last of the second, which would be a namespace or a flag nobody authorized).
func aggregateNeeds(r request) ([]need, error) {
	ns := r.target()
	bypass, err := command.TrueValue(r.body(), "bypassDocumentValidation", r.name)
	if err != nil {
		return nil, err
	}
	pv, _, err := command.UniqueField(r.body(), "pipeline", r.name)
	if err != nil {
		return nil, err
	}
	pipeline, _ := pv.ArrayOK()
	w := pipelineWalk{user: r.user, db: r.db, bypass: bypass}
	first, err := w.firstStage(pipeline)
	if err != nil {
		return nil, err
	}
	switch {
	case first == "$collStats":
		// An initial source that reads statistics, not documents (document_source_coll_stats.h).
		w.add("collStats", ns)
	case ns.Collection != "" && first != "$listSessions" && first != "$listLocalSessions":
		// $listSessions reads config.system.sessions through its own privilege, not find.
		w.add("find", ns)
	}
	if err := w.walk(pipeline, 0); err != nil {
		return nil, err
	}
	return w.needs, nil
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

// stageOf is a pipeline stage's name and argument; a stage document must hold exactly one field,
// as mongod requires ("A pipeline stage specification object must contain exactly one field.").
func stageOf(v bsoncore.Value) (string, bsoncore.Value, bool, error) {
	stage, ok := v.DocumentOK()
	if !ok {
		return "", bsoncore.Value{}, false, nil // aggregate refuses it itself
	}
	elems, err := stage.Elements()
	if err != nil || len(elems) != 1 {
		return "", bsoncore.Value{}, false, mongoerr.New(40323, "A pipeline stage specification object must contain exactly one field.")
	}
	return elems[0].Key(), elems[0].Value(), true, nil
}

func (w *pipelineWalk) firstStage(pipeline bsoncore.Array) (string, error) {
	vals, _ := pipeline.Values()
	if len(vals) == 0 {
		return "", nil
	}
	name, _, _, err := stageOf(vals[0])
	return name, err
}

func (w *pipelineWalk) walk(pipeline bsoncore.Array, depth int) error {
	if depth > maxPipelineDepth {
		w.add(ActionAnyAction, ClusterResource())
		return nil
	}
	vals, _ := pipeline.Values()
	for _, v := range vals {
		name, arg, ok, err := stageOf(v)
		if err != nil {
			return err
		}
		if ok {
			if err := w.stage(name, arg, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

// spec is a stage's argument document with strict field reads.
type spec struct {
	doc   bsoncore.Document
	stage string
}

func (s spec) field(key string) (bsoncore.Value, error) {
	v, _, err := command.UniqueField(s.doc, key, s.stage)
	return v, err
}

func (s spec) flag(key string) (bool, error) { return command.TrueValue(s.doc, key, s.stage) }

func (w *pipelineWalk) stage(name string, arg bsoncore.Value, depth int) error {
	doc, _ := arg.DocumentOK()
	s := spec{doc: doc, stage: name}
	switch name {
	case "$lookup", "$graphLookup":
		return w.readWithPipeline(s, "from", depth)
	case "$unionWith":
		if _, ok := arg.StringValueOK(); ok {
			w.read(arg)
			return nil
		}
		return w.readWithPipeline(s, "coll", depth)
	case "$facet":
		elems, _ := doc.Elements()
		for _, e := range elems {
			if _, _, err := command.UniqueField(doc, e.Key(), name); err != nil {
				return err
			}
			if sub, ok := e.Value().ArrayOK(); ok {
				if err := w.walk(sub, depth+1); err != nil {
					return err
				}
			}
		}
	case "$out":
		return w.write(arg, s, "db", "coll", "insert", "remove")
	case "$merge":
		if _, ok := arg.StringValueOK(); ok {
			return w.write(arg, s, "", "", "insert", "update")
		}
		into, err := s.field("into")
		if err != nil {
			return err
		}
		return w.write(into, spec{stage: "$merge.into"}, "db", "coll", "insert", "update")
	case "$listLocalSessions", "$listSessions":
		others, err := w.listsOthers(s)
		if others {
			w.add("listSessions", ClusterResource())
		}
		return err
	case "$currentOp":
		all, err := s.flag("allUsers")
		if all {
			w.add("inprog", ClusterResource())
		}
		return err
	case "$changeStream":
		w.add("changeStream", DBResource(w.db))
	case "$shardedDataDistribution":
		w.add("shardedDataDistribution", ClusterResource())
	}
	return nil
}

// readWithPipeline needs find on the collection under key, and walks the stage's sub-pipeline.
func (w *pipelineWalk) readWithPipeline(s spec, key string, depth int) error {
	from, err := s.field(key)
	if err != nil {
		return err
	}
	if err := w.readNS(from, s.stage+"."+key); err != nil {
		return err
	}
	sub, err := s.field("pipeline")
	if err != nil {
		return err
	}
	if arr, ok := sub.ArrayOK(); ok {
		return w.walk(arr, depth+1)
	}
	return nil
}

// readNS needs find on the collection v names: a string, or {db, coll} for $lookup from.
func (w *pipelineWalk) readNS(v bsoncore.Value, path string) error {
	if d, ok := v.DocumentOK(); ok {
		s := spec{doc: d, stage: path}
		dbv, err := s.field("db")
		if err != nil {
			return err
		}
		collv, err := s.field("coll")
		if err != nil {
			return err
		}
		db, _ := dbv.StringValueOK()
		coll, _ := collv.StringValueOK()
		if db == "" {
			db = w.db
		}
		w.add("find", NSResource(db, coll))
		return nil
	}
	w.read(v)
	return nil
}

// read needs find on the collection a string value names.
func (w *pipelineWalk) read(v bsoncore.Value) {
	if coll, ok := v.StringValueOK(); ok && coll != "" {
		w.add("find", NSResource(w.db, coll))
	}
}

// write needs actions on the target v names: a collection name, or a document with the
// database and collection under dbKey and collKey.
func (w *pipelineWalk) write(v bsoncore.Value, s spec, dbKey, collKey string, actions ...string) error {
	db, coll := w.db, ""
	if str, ok := v.StringValueOK(); ok {
		coll = str
	} else if d, ok := v.DocumentOK(); ok {
		target := spec{doc: d, stage: s.stage}
		dbv, err := target.field(dbKey)
		if err != nil {
			return err
		}
		if str, ok := dbv.StringValueOK(); ok {
			db = str
		}
		collv, err := target.field(collKey)
		if err != nil {
			return err
		}
		coll, _ = collv.StringValueOK()
	}
	res := NSResource(db, coll)
	for _, a := range actions {
		w.add(a, res)
	}
	if w.bypass {
		w.add("bypassDocumentValidation", res)
	}
	return nil
}

// listsOthers reports whether a $listLocalSessions / $listSessions spec reaches beyond the
// caller's own sessions: allUsers, or a user other than the caller.
func (w *pipelineWalk) listsOthers(s spec) (bool, error) {
	if all, err := s.flag("allUsers"); all || err != nil {
		return all, err
	}
	users, err := s.field("users")
	if err != nil {
		return false, err
	}
	arr, _ := users.ArrayOK()
	vals, _ := arr.Values()
	for _, v := range vals {
		d, _ := v.DocumentOK()
		u := spec{doc: d, stage: s.stage + ".users"}
		name, err := u.field("user")
		if err != nil {
			return false, err
		}
		db, err := u.field("db")
		if err != nil {
			return false, err
		}
		n, _ := name.StringValueOK()
		dn, _ := db.StringValueOK()
		if n != w.user.Name || dn != w.user.DB {
			return true, nil
		}
	}
	return false, nil
}
