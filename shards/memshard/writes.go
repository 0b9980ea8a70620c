package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards/memshard/query"
)

// The write statements: insert, update and delete.

func cmdInsert(r *request) error {
	return r.countedWrite("documents", func(coll string, d bsoncore.Document) (stmtResult, error) {
		return r.insertOne(r.db, coll, d)
	})
}

// insertOne is one insert statement.
func (r *request) insertOne(db, coll string, d bsoncore.Document) (stmtResult, error) {
	raw, id, err := withID(d)
	if err != nil {
		return stmtResult{}, err
	}
	return stmtResult{n: 1}, r.write(func(s *store) error {
		if err := r.insertDoc(s, db, coll, raw, id); err != nil {
			return err
		}
		r.wrote(s)
		return nil
	})
}

// insertDoc inserts into a collection, creating it if need be; callers hold store.mu exclusively.
func (r *request) insertDoc(s *store, db, coll string, raw bson.Raw, id bson.RawValue) error {
	c, err := s.ensureColl(db, coll, r.txn)
	if err != nil {
		return err
	}
	return s.insert(c, raw, id, r.txn, r.now())
}

// withID is the stored form of d (_id first) and its _id.
func withID(d bsoncore.Document) (bson.Raw, bson.RawValue, error) {
	raw, err := query.IDFirst(d)
	if err != nil {
		return nil, bson.RawValue{}, err
	}
	return raw, raw.Lookup("_id"), nil
}

func cmdUpdate(r *request) error {
	coll, stmts, err := r.writeBatch("updates")
	if err != nil {
		return err
	}
	var n, nModified int32
	var upserted []bson.RawValue
	var upsertedAt []int
	errs, err := r.runStatements(stmts, func(st bsoncore.Document) (stmtResult, error) {
		return r.updateOne(coll, st)
	}, func(i int, res stmtResult) {
		n, nModified = n+res.n, nModified+res.nModified
		if res.upserted.Type != 0 {
			upserted, upsertedAt = append(upserted, res.upserted), append(upsertedAt, i)
		}
	})
	if err != nil {
		return err
	}
	r.out = bsoncore.AppendInt32Element(r.out, "n", n)
	if len(upserted) > 0 {
		idx, out := bsoncore.AppendArrayElementStart(r.out, "upserted")
		for i, id := range upserted {
			didx, d := bsoncore.AppendDocumentElementStart(out, arrayKey(i))
			d = bsoncore.AppendInt32Element(d, "index", int32(upsertedAt[i]))
			d = bsoncore.AppendValueElement(d, "_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
			out, _ = bsoncore.AppendDocumentEnd(d, didx)
		}
		r.out, _ = bsoncore.AppendArrayEnd(out, idx)
	}
	r.out = bsoncore.AppendInt32Element(r.out, "nModified", nModified)
	r.out = appendWriteErrors(r.out, errs)
	return nil
}

func (r *request) updateOne(coll string, st bsoncore.Document) (stmtResult, error) {
	q, err := requiredDocField(st, "update.updates", "q")
	if err != nil {
		return stmtResult{}, err
	}
	uv, err := st.LookupErr("u")
	if err != nil {
		return stmtResult{}, missingField("update.updates.u")
	}
	return r.applyUpdate(r.db, coll, q, uv, failpoint.Truthy(st.Lookup("multi"), false), failpoint.Truthy(st.Lookup("upsert"), false))
}

// applyUpdate is one update statement: filter q, update (operators, replacement) uv.
func (r *request) applyUpdate(db, coll string, q bson.Raw, uv bsoncore.Value, multi, upsert bool) (stmtResult, error) {
	f, err := query.NewFilter(q)
	if err != nil {
		return stmtResult{}, err
	}
	u, err := query.NewUpdate(rawValue(uv))
	if err != nil {
		return stmtResult{}, err
	}
	if multi && u.IsReplacement() {
		return stmtResult{}, mongoerr.New(mongoerr.FailedToParse, "multi update is not supported for replacement-style update")
	}
	var res stmtResult
	err = r.write(func(s *store) error {
		res = stmtResult{}
		c := s.coll(db, coll, r.txn)
		targets := c.matching(f, r.txn, !multi)
		for _, d := range targets {
			if err := s.writable(d, r.txn, r.now()); err != nil {
				return err
			}
		}
		// Compute every new version before writing any, so a failing document changes nothing.
		news := make([]bson.Raw, len(targets))
		for i, d := range targets {
			out, modified, err := u.Apply(visible(d, r.txn))
			if err != nil {
				return err
			}
			if modified {
				news[i] = out
			}
		}
		for i, d := range targets {
			if news[i] != nil {
				s.put(c, d, news[i], r.txn)
				res.nModified++
			}
		}
		res.n = int32(len(targets))
		if len(targets) == 0 && upsert {
			doc, err := u.Upsert(q)
			if err != nil {
				return err
			}
			id := doc.Lookup("_id")
			if err := r.insertDoc(s, db, coll, doc, id); err != nil {
				return err
			}
			res.n, res.upserted = 1, id
		}
		if res.nModified > 0 || res.upserted.Type != 0 {
			r.wrote(s)
		}
		return nil
	})
	return res, err
}

func cmdDelete(r *request) error { return r.countedWrite("deletes", r.deleteOne) }

func (r *request) deleteOne(coll string, st bsoncore.Document) (stmtResult, error) {
	q, err := requiredDocField(st, "delete.deletes", "q")
	if err != nil {
		return stmtResult{}, err
	}
	lv, err := st.LookupErr("limit")
	if err != nil {
		return stmtResult{}, missingField("delete.deletes.limit")
	}
	limit, ok := lv.AsInt64OK()
	if !ok || limit != 0 && limit != 1 {
		return stmtResult{}, mongoerr.New(mongoerr.FailedToParse, "The limit field in delete objects must be 0 or 1. Got %s", lv)
	}
	return r.applyDelete(r.db, coll, q, limit == 0)
}

// applyDelete is one delete statement: the first document matching q, or all (multi).
func (r *request) applyDelete(db, coll string, q bson.Raw, multi bool) (stmtResult, error) {
	f, err := query.NewFilter(q)
	if err != nil {
		return stmtResult{}, err
	}
	var res stmtResult
	err = r.write(func(s *store) error {
		c := s.coll(db, coll, r.txn)
		targets := c.matching(f, r.txn, !multi)
		for _, d := range targets {
			if err := s.writable(d, r.txn, r.now()); err != nil {
				return err
			}
		}
		for _, d := range targets {
			s.put(c, d, nil, r.txn)
		}
		res = stmtResult{n: int32(len(targets))}
		if len(targets) > 0 {
			r.wrote(s)
		}
		return nil
	})
	return res, err
}
