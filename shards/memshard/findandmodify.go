package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// findAndModify: one document found, then updated, replaced or removed, in one statement.

// famArgs are the parsed arguments of findAndModify.
type famArgs struct {
	q                         querySpec
	query                     bson.Raw
	fields                    *query.Projection
	update                    *query.Update
	remove, returnNew, upsert bool
}

func cmdFindAndModify(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	var a famArgs
	if a.q.filter, a.query, err = r.filterArg("query"); err != nil {
		return err
	}
	env, err := r.queryEnv()
	if err != nil {
		return err
	}
	if err := a.q.sortArg(env, r.body, r.name); err != nil {
		return err
	}
	a.q.hint = hintArg(r.body)
	if a.fields, err = r.projectionArg("fields"); err != nil {
		return err
	}
	a.remove, a.returnNew, a.upsert = r.boolArg("remove", false), r.boolArg("new", false), r.boolArg("upsert", false)
	uv, uerr := r.body.LookupErr("update")
	switch {
	case a.remove && uerr == nil:
		return mongoerr.New(mongoerr.FailedToParse, "Cannot specify both an update and remove=true")
	case !a.remove && uerr != nil:
		return mongoerr.New(mongoerr.FailedToParse, "Either an update or remove=true must be specified")
	case a.remove && a.upsert:
		return mongoerr.New(mongoerr.FailedToParse, "Cannot specify both upsert=true and remove=true ")
	case a.remove && a.returnNew:
		return mongoerr.New(mongoerr.FailedToParse, "Cannot specify both new=true and remove=true; 'remove' always returns the deleted document")
	case !a.remove:
		filters, err := arrayFiltersField(r.body, r.name)
		if err != nil {
			return err
		}
		if a.update, err = env.Update(rawValue(uv), filters); err != nil {
			return err
		}
	}
	stmt := r.stmtID(0)
	if res, ok := r.executed(stmt); ok {
		r.out = append(r.out, res.reply...)
		return nil
	}
	var reply []byte
	err = r.retryableStatement(func() error {
		err := r.write(func(s *store) (err error) {
			reply, err = r.findAndModify(s, coll, &a)
			return err
		})
		if err == nil {
			r.record(stmt, stmtResult{reply: reply})
		}
		return err
	})
	if err != nil {
		return err
	}
	r.out = append(r.out, reply...)
	return nil
}

// findAndModify runs the statement with the store locked and returns the reply's fields
// (lastErrorObject, value).
func (r *request) findAndModify(s *store, coll string, a *famArgs) ([]byte, error) {
	c := s.coll(r.db, coll, r.txn)
	if err := c.writableColl(); err != nil {
		return nil, err
	}
	targets, err := r.targets(s, c, a.q, true)
	if err != nil {
		return nil, err
	}
	var target *doc
	if len(targets) > 0 {
		target = targets[0]
	}
	var value bson.Raw
	leo := bsoncore.NewDocumentBuilder()
	switch {
	case target != nil:
		if err := s.writable(target, r.txn, r.now()); err != nil {
			return nil, err
		}
		old := visible(target, r.txn)
		value = old
		leo.AppendInt32("n", 1)
		if a.remove {
			s.put(c, target, nil, r.txn)
			r.wrote(s)
			break
		}
		leo.AppendBoolean("updatedExisting", true)
		out, modified, err := a.update.ApplyMatched(old, a.q.filter)
		if err != nil {
			return nil, err
		}
		if err := r.admit(c, []pendingWrite{{target, out}}); modified && err != nil {
			return nil, err
		}
		if modified {
			s.putUpdate(c, target, out, r.txn, a.update.IsReplacement())
			r.wrote(s)
		}
		if a.returnNew {
			value = out
		}
	case a.upsert:
		doc, err := a.update.Upsert(a.query)
		if err != nil {
			return nil, err
		}
		id := doc.Lookup("_id")
		if err := r.insertDoc(s, r.db, coll, doc, id); err != nil {
			return nil, err
		}
		r.wrote(s)
		leo.AppendInt32("n", 1).AppendBoolean("updatedExisting", false).
			AppendValue("upserted", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
		if a.returnNew {
			value = doc
		}
	default:
		leo.AppendInt32("n", 0)
		if !a.remove {
			leo.AppendBoolean("updatedExisting", false)
		}
	}
	reply := bsoncore.AppendDocumentElement(nil, "lastErrorObject", leo.Build())
	if value == nil {
		return bsoncore.AppendNullElement(reply, "value"), nil
	}
	if a.fields != nil {
		var err error
		if value, err = a.fields.Apply(value); err != nil {
			return nil, err
		}
	}
	return bsoncore.AppendDocumentElement(reply, "value", value), nil
}
