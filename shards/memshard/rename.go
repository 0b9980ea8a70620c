package memshard

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// cmdRenameCollection is {renameCollection: "db.from", to: "db.to", dropTarget}, run on admin:
// the collection (documents, indexes and UUID) moves to its new name at once, replacing the
// target when dropTarget says so (mongod's rename_collection.cpp).
func cmdRenameCollection(r *request) error {
	v := r.body.Index(0).Value()
	from, ok := v.StringValueOK()
	if !ok {
		return mongoerr.WrongType("renameCollection.renameCollection", v.Type, "string")
	}
	to, err := r.stringArg("to", true)
	if err != nil {
		return err
	}
	fromDB, fromColl, ok := splitNS(from)
	if !ok {
		return mongoerr.New(mongoerr.InvalidNamespace, "Invalid source namespace: %s", from)
	}
	toDB, toColl, ok := splitNS(to)
	if !ok {
		return mongoerr.New(mongoerr.InvalidNamespace, "Invalid target namespace: %s", to)
	}
	if from == to {
		return mongoerr.New(mongoerr.IllegalOperation, "Can't rename a collection to itself")
	}
	dropTarget := r.boolArg("dropTarget", false)
	return r.write(func(s *store) error {
		c := s.coll(fromDB, fromColl, nil)
		if c == nil {
			return mongoerr.New(mongoerr.NamespaceNotFound, "Source collection %s does not exist", from)
		}
		target := s.dbs[toDB][toColl]
		if target != nil && target.pending == nil && !dropTarget {
			return mongoerr.New(mongoerr.NamespaceExists, "target namespace exists")
		}
		for _, x := range []*collection{c, target} {
			if err := x.busy(); err != nil {
				return err // mongod's rename waits for the transactions using either collection
			}
		}
		s.stamp()
		s.logRename(c, toDB, toColl, target)
		if target != nil {
			s.dropColl(target)
		}
		s.dropColl(c)
		c.db, c.name = toDB, toColl
		if s.dbs[toDB] == nil {
			s.dbs[toDB] = map[string]*collection{}
		}
		s.dbs[toDB][toColl] = c
		r.wrote(s)
		return nil
	})
}

// busy is the open transaction that created c or writes one of its documents, as an error that
// makes the statement wait for it; nil when none (or no collection).
func (c *collection) busy() error {
	if c == nil {
		return nil
	}
	if c.pending != nil {
		return &blockedError{c.pending}
	}
	for _, d := range c.docs {
		if d.lock != nil {
			return &blockedError{d.lock}
		}
	}
	return nil
}

func splitNS(ns string) (db, coll string, ok bool) {
	db, coll, ok = strings.Cut(ns, ".")
	return db, coll, ok && db != "" && coll != ""
}

// logRename records a rename: operationDescription is the oplog entry's o without
// renameCollection and stayTemp, to as {db, coll} and dropTarget the UUID of the collection it
// replaced (change_stream_event_transform.cpp). Callers hold mu exclusively and have stamped it.
func (s *store) logRename(c *collection, toDB, toColl string, target *collection) {
	desc := bsoncore.NewDocumentBuilder().AppendDocument("to",
		bsoncore.NewDocumentBuilder().AppendString("db", toDB).AppendString("coll", toColl).Build())
	if target != nil {
		desc.AppendBinary("dropTarget", bson.TypeBinaryUUID, target.cs.uuid)
	}
	e := catalogChange(opRename, c, bson.Raw(desc.Build()))
	e.to = [2]string{toDB, toColl}
	s.appendChange(e)
}
