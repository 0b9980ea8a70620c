package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
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
	if err := c.writableColl(); err != nil {
		return err
	}
	if err := r.admit(c, []pendingWrite{{raw: raw}}); err != nil {
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
	u, err := r.parseUpdate(st, "update.updates", "q", "u")
	if err != nil {
		return stmtResult{}, err
	}
	return r.applyUpdate(r.db, coll, u)
}

// updateStmt is one parsed update statement (of update, bulkWrite, or $merge).
type updateStmt struct {
	q             querySpec
	query         bson.Raw
	update        *query.Update
	multi, upsert bool
}

// parseUpdate reads an update statement whose filter and update are the fields fk and uk:
// also multi, upsert, arrayFilters, collation, c (constants), hint and sort.
func (r *request) parseUpdate(st bsoncore.Document, parent, fk, uk string) (*updateStmt, error) {
	q, err := requiredDocField(st, parent, fk)
	if err != nil {
		return nil, err
	}
	uv, err := st.LookupErr(uk)
	if err != nil {
		return nil, missingField(parent + "." + uk)
	}
	env, err := r.stmtEnv(st, parent)
	if err != nil {
		return nil, err
	}
	u := &updateStmt{query: q, multi: failpoint.Truthy(st.Lookup("multi"), false), upsert: failpoint.Truthy(st.Lookup("upsert"), false)}
	if u.q.filter, err = env.Filter(q); err != nil {
		return nil, err
	}
	filters, err := arrayFiltersField(st, parent)
	if err != nil {
		return nil, err
	}
	if u.update, err = env.Update(rawValue(uv), filters); err != nil {
		return nil, err
	}
	if u.multi && u.update.IsReplacement() {
		return nil, mongoerr.New(mongoerr.FailedToParse, "multi update is not supported for replacement-style update")
	}
	if err := u.q.sortArg(env, st, parent); err != nil {
		return nil, err
	}
	if len(u.q.sort) > 5 && u.multi {
		return nil, mongoerr.New(mongoerr.FailedToParse, "Cannot specify sort with multi=true")
	}
	u.q.hint = hintArg(st)
	return u, nil
}

// arrayFiltersField reads a statement's optional arrayFilters.
func arrayFiltersField(st bsoncore.Document, parent string) ([]bson.Raw, error) {
	v, err := st.LookupErr("arrayFilters")
	if err != nil {
		return nil, nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, mongoerr.WrongType(parent+".arrayFilters", v.Type, "array")
	}
	vals, _ := arr.Values()
	out := make([]bson.Raw, len(vals))
	for i, e := range vals {
		d, ok := e.DocumentOK()
		if !ok {
			return nil, mongoerr.WrongType(parent+".arrayFilters."+arrayKey(i), e.Type, "object")
		}
		out[i] = bson.Raw(d)
	}
	return out, nil
}

// applyUpdate is one update statement.
func (r *request) applyUpdate(db, coll string, u *updateStmt) (stmtResult, error) {
	var res stmtResult
	err := r.write(func(s *store) error {
		res = stmtResult{}
		c := s.coll(db, coll, r.txn)
		if err := c.writableColl(); err != nil {
			return err
		}
		targets, err := r.targets(s, c, u.q, !u.multi)
		if err != nil {
			return err
		}
		for _, d := range targets {
			if err := s.writable(d, r.txn, r.now()); err != nil {
				return err
			}
		}
		// Compute and check every new version before writing any, so a failing document
		// changes nothing.
		news := make([]bson.Raw, len(targets))
		var writes []pendingWrite
		for i, d := range targets {
			out, modified, err := u.update.ApplyMatched(visible(d, r.txn), u.q.filter)
			if err != nil {
				return err
			}
			if modified {
				news[i] = out
				writes = append(writes, pendingWrite{d, out})
			}
		}
		if err := r.admit(c, writes); err != nil {
			return err
		}
		for i, d := range targets {
			if news[i] != nil {
				s.putUpdate(c, d, news[i], r.txn, u.update.IsReplacement())
				res.nModified++
			}
		}
		res.n = int32(len(targets))
		if len(targets) == 0 && u.upsert {
			doc, err := u.update.Upsert(u.query)
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

// targets is what a write statement acts on: every document q matches, or (one) the first in
// q's sort order. Callers hold store.mu exclusively.
func (r *request) targets(s *store, c *collection, q querySpec, one bool) ([]*doc, error) {
	a, err := c.plan(q)
	if err != nil {
		return nil, err
	}
	limit := 0
	if one && (len(q.sort) <= 5 || a.sorted) {
		limit = 1
	}
	docs, err := c.execute(s, a, q.filter, r.txn, limit, &scanStats{})
	if err != nil || !one || len(docs) <= 1 {
		return docs, err
	}
	query.SortBy(q.sorter, docs, func(d *doc) []byte { return visible(d, r.txn) })
	return docs[:1], nil
}

func cmdDelete(r *request) error { return r.countedWrite("deletes", r.deleteOne) }

func (r *request) deleteOne(coll string, st bsoncore.Document) (stmtResult, error) {
	lv, err := st.LookupErr("limit")
	if err != nil {
		if _, qerr := st.LookupErr("q"); qerr != nil {
			return stmtResult{}, missingField("delete.deletes.q")
		}
		return stmtResult{}, missingField("delete.deletes.limit")
	}
	limit, ok := lv.AsInt64OK()
	if !ok || limit != 0 && limit != 1 {
		return stmtResult{}, mongoerr.New(mongoerr.FailedToParse, "The limit field in delete objects must be 0 or 1. Got %s", lv)
	}
	q, err := r.parseDelete(st, "delete.deletes", "q")
	if err != nil {
		return stmtResult{}, err
	}
	return r.applyDelete(r.db, coll, q, limit == 0)
}

// parseDelete reads a delete statement whose filter is the field fk: also collation and hint.
func (r *request) parseDelete(st bsoncore.Document, parent, fk string) (querySpec, error) {
	q, err := requiredDocField(st, parent, fk)
	if err != nil {
		return querySpec{}, err
	}
	env, err := r.stmtEnv(st, parent)
	if err != nil {
		return querySpec{}, err
	}
	f, err := env.Filter(q)
	return querySpec{filter: f, hint: hintArg(st)}, err
}

// applyDelete is one delete statement: the first document q matches, or all (multi).
func (r *request) applyDelete(db, coll string, q querySpec, multi bool) (stmtResult, error) {
	var res stmtResult
	err := r.write(func(s *store) error {
		c := s.coll(db, coll, r.txn)
		if err := c.writableColl(); err != nil {
			return err
		}
		targets, err := r.targets(s, c, q, !multi)
		if err != nil {
			return err
		}
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
