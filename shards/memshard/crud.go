package memshard

import (
	"errors"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/shards/memshard/query"
)

func (r *request) now() time.Time { return r.m.rs.now() }

func (r *request) ns(coll string) string { return r.db + "." + coll }

// txnLive fails a statement of a transaction that was aborted meanwhile (kill, step down);
// callers hold store.mu.
func (r *request) txnLive() error {
	if r.txn != nil && r.txn.phase != txnInProgress {
		return txnAbortedError(r.txn.number)
	}
	return nil
}

// wrote reports a committed write's time as the reply's operationTime; callers hold store.mu.
func (r *request) wrote(s *store) {
	if r.txn == nil {
		r.opTime = unpack(s.seq)
	}
}

// matching returns the slots whose documents (as t sees them) match f, in natural order; only
// the first when one. An _id equality uses the index.
func (c *collection) matching(f *query.Filter, t *txn, one bool) []*doc {
	if c == nil {
		return nil
	}
	if id, ok := f.IDEquality(); ok {
		if d, v := c.lookup(id, t); v != nil && f.Match(v) {
			return []*doc{d}
		}
		return nil
	}
	var out []*doc
	for _, d := range c.docs {
		if v := visible(d, t); v != nil && f.Match(v) {
			out = append(out, d)
			if one {
				break
			}
		}
	}
	return out
}

// read runs fn with the store read-locked on the collection as the request sees it: in its
// transaction, at its snapshot read time, or latest (c is nil when the collection does not
// exist).
func (r *request) read(coll string, fn func(c *collection, view *txn) error) error {
	s := r.m.rs.store
	view := r.txn
	if r.snapshotRead {
		s.mu.Lock() // a snapshot read keeps history: it changes store state
		defer s.mu.Unlock()
		var err error
		if view, r.readAt, err = s.snapshotView(r.readAt); err != nil {
			return err
		}
	} else {
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	if err := r.txnLive(); err != nil {
		return err
	}
	return fn(s.coll(r.db, coll, view), view)
}

// write runs one write statement with the store locked, retrying while an open transaction
// blocks it.
func (r *request) write(fn func(s *store) error) error {
	return r.retryBlocked(func() error {
		s := r.m.rs.store
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := r.txnLive(); err != nil {
			return err
		}
		return fn(s)
	})
}

func cmdFind(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	f, _, err := r.filterArg("filter")
	if err != nil {
		return err
	}
	sorter, err := r.sortArg("sort")
	if err != nil {
		return err
	}
	proj, err := r.projectionArg("projection")
	if err != nil {
		return err
	}
	skip, err := r.intArg("skip", 0)
	if err != nil {
		return err
	}
	limit, err := r.intArg("limit", 0)
	if err != nil {
		return err
	}
	batchSize, err := r.intArg("batchSize", defaultFirstBatch)
	if err != nil {
		return err
	}
	returnKey, showRecordID := r.boolArg("returnKey", false), r.boolArg("showRecordId", false)
	var rows []found
	err = r.read(coll, func(c *collection, view *txn) error {
		for _, d := range c.matching(f, view, false) {
			rows = append(rows, found{visible(d, view), d.rid})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sorter != nil {
		query.SortBy(sorter, rows, func(x found) []byte { return x.doc })
	}
	rows = window(rows, skip, limit)
	idIndex := returnKey && r.usesIDIndex(f)
	docs := make([]bson.Raw, len(rows))
	for i, x := range rows {
		switch {
		case returnKey: // only the index key; mongod drops the record id with the document
			docs[i] = indexKey(x.doc, idIndex)
		case proj != nil:
			docs[i] = proj.Apply(x.doc)
		default:
			docs[i] = x.doc
		}
		if showRecordID && !returnKey {
			docs[i] = withRecordID(docs[i], x.rid)
		}
	}
	r.replyCursor(r.ns(coll), docs, batchSize, r.boolArg("singleBatch", false))
	return nil
}

// found is a document a read matched, with its record id.
type found struct {
	doc bson.Raw
	rid int64
}

// window applies skip and limit (0: none).
func window[T any](rows []T, skip, limit int) []T {
	rows = rows[min(skip, len(rows)):]
	if limit > 0 && limit < len(rows) {
		rows = rows[:limit]
	}
	return rows
}

// usesIDIndex reports whether mongod would read a find through the _id index (the only index
// memshard keeps): an _id equality, range or $in, or a sort on _id alone.
func (r *request) usesIDIndex(f *query.Filter) bool {
	if f.UsesIDIndex() {
		return true
	}
	spec, _, _ := r.docArg("sort")
	elems, _ := bsoncore.Document(spec).Elements()
	return len(elems) == 1 && elems[0].Key() == "_id"
}

// indexKey is returnKey's document: the _id index key, or nothing when no index was used.
func indexKey(doc bson.Raw, idIndex bool) bson.Raw {
	b := bsoncore.NewDocumentBuilder()
	if id, err := doc.LookupErr("_id"); err == nil && idIndex {
		b.AppendValue("_id", bsoncore.Value{Type: bsoncore.Type(id.Type), Data: id.Value})
	}
	return bson.Raw(b.Build())
}

// withRecordID is showRecordId's document: doc with $recordId (a long) last.
func withRecordID(doc bson.Raw, rid int64) bson.Raw {
	return bson.Raw(withElement(bsoncore.Document(doc), bsoncore.AppendInt64Element(nil, "$recordId", rid)))
}

// withElement is a copy of doc with the element elem added last.
func withElement(doc bsoncore.Document, elem []byte) bsoncore.Document {
	out := make([]byte, 0, len(doc)+len(elem))
	out = append(append(out, doc[:len(doc)-1]...), elem...)
	out = append(out, 0)
	bsoncore.UpdateLength(out, 0, int32(len(out)))
	return out
}

// writeError is one failed statement of a write batch.
type writeError struct {
	index int
	err   *mongoerr.Error
}

// statementError sorts a statement's error: most become writeErrors (ok: 1, as mongod), but in
// a transaction, or when the operation itself was interrupted, the command fails.
func (r *request) statementError(i int, err error, errs *[]writeError) error {
	var e *mongoerr.Error
	if !errors.As(err, &e) { // closeConnection
		return err
	}
	switch e.Code {
	case mongoerr.MaxTimeMSExpired, mongoerr.InterruptedAtShutdown, mongoerr.Interrupted,
		mongoerr.InterruptedDueToReplStateChange, mongoerr.NotWritablePrimary, mongoerr.NoSuchTransaction:
		return err
	}
	if r.txn != nil {
		return err
	}
	*errs = append(*errs, writeError{i, e})
	return nil
}

func appendWriteErrors(dst []byte, errs []writeError) []byte {
	if len(errs) == 0 {
		return dst
	}
	idx, dst := bsoncore.AppendArrayElementStart(dst, "writeErrors")
	for i, we := range errs {
		didx, d := bsoncore.AppendDocumentElementStart(dst, arrayKey(i))
		d = bsoncore.AppendInt32Element(d, "index", int32(we.index))
		d = bsoncore.AppendInt32Element(d, "code", int32(we.err.Code))
		if elems, err := we.err.Extra.Elements(); err == nil {
			for _, el := range elems {
				d = append(d, el...)
			}
		}
		d = bsoncore.AppendStringElement(d, "errmsg", we.err.Msg)
		dst, _ = bsoncore.AppendDocumentEnd(d, didx)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return dst
}

// runStatements runs a write batch statement by statement: retried statements of a retryable
// write answer from their record, the others run and are recorded; ordered stops at the first
// error.
func (r *request) runStatements(stmts []bsoncore.Document, run func(bsoncore.Document) (stmtResult, error),
	add func(i int, res stmtResult)) ([]writeError, error) {
	ordered := r.boolArg("ordered", true)
	var errs []writeError
	var retried []int32
	for i, st := range stmts {
		id := r.stmtID(i)
		if res, ok := r.executed(id); ok {
			retried = append(retried, id)
			add(i, res)
			continue
		}
		var res stmtResult
		err := r.retryableStatement(func() (err error) {
			if res, err = run(st); err == nil {
				r.record(id, res)
				add(i, res)
			}
			return err
		})
		if err != nil {
			if err := r.statementError(i, err, &errs); err != nil {
				return nil, err
			}
			if ordered {
				break
			}
		}
	}
	if len(retried) > 0 {
		idx, out := bsoncore.AppendArrayElementStart(r.out, "retriedStmtIds")
		for i, id := range retried {
			out = bsoncore.AppendInt32Element(out, arrayKey(i), id)
		}
		r.out, _ = bsoncore.AppendArrayEnd(out, idx)
	}
	return errs, nil
}

// writeBatch reads a write command's collection and its statements (documents, updates or
// deletes).
func (r *request) writeBatch(key string) (string, []bsoncore.Document, error) {
	coll, err := r.collName()
	if err != nil {
		return "", nil, err
	}
	stmts, err := r.statements(key)
	if err != nil {
		return "", nil, err
	}
	return coll, stmts, checkBatch(len(stmts))
}

// countedWrite runs insert's or delete's statements and replies n and writeErrors.
func (r *request) countedWrite(key string, run func(coll string, st bsoncore.Document) (stmtResult, error)) error {
	coll, stmts, err := r.writeBatch(key)
	if err != nil {
		return err
	}
	var n int32
	errs, err := r.runStatements(stmts, func(st bsoncore.Document) (stmtResult, error) {
		return run(coll, st)
	}, func(_ int, res stmtResult) { n += res.n })
	if err != nil {
		return err
	}
	r.out = bsoncore.AppendInt32Element(r.out, "n", n)
	r.out = appendWriteErrors(r.out, errs)
	return nil
}

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
				s.putUpdate(c, d, news[i], r.txn, u.IsReplacement())
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

// famArgs are the parsed arguments of findAndModify.
type famArgs struct {
	filter                    *query.Filter
	query                     bson.Raw
	sort                      *query.Sort
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
	if a.filter, a.query, err = r.filterArg("query"); err != nil {
		return err
	}
	if a.sort, err = r.sortArg("sort"); err != nil {
		return err
	}
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
		if a.update, err = query.NewUpdate(rawValue(uv)); err != nil {
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
	var target *doc
	if targets := c.matching(a.filter, r.txn, a.sort == nil); len(targets) > 0 {
		target = targets[0]
		if a.sort != nil {
			docs := make([]bson.Raw, len(targets))
			for i, d := range targets {
				docs[i] = visible(d, r.txn)
			}
			a.sort.Sort(docs)
			target = c.byID[query.IndexKey(docs[0].Lookup("_id"))]
		}
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
		out, modified, err := a.update.Apply(old)
		if err != nil {
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
		value = a.fields.Apply(value)
	}
	return bsoncore.AppendDocumentElement(reply, "value", value), nil
}

func cmdCount(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	f, _, err := r.filterArg("query")
	if err != nil {
		return err
	}
	skip, err := r.intArg("skip", 0)
	if err != nil {
		return err
	}
	limit := 0
	if v, ok := r.body.Lookup("limit").AsInt64OK(); ok {
		limit = int(min(max(v, -v), 1<<31-1)) // a negative limit counts like its absolute value
	}
	var n int
	err = r.read(coll, func(c *collection, view *txn) error {
		n = len(c.matching(f, view, false))
		return nil
	})
	if err != nil {
		return err
	}
	n = max(n-skip, 0)
	if limit > 0 {
		n = min(n, limit)
	}
	r.out = bsoncore.AppendInt32Element(r.out, "n", int32(n))
	return nil
}

// cmdDistinct returns the distinct values (array elements counted singly) in BSON order, as
// mongod's ordered value set does.
func cmdDistinct(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	key, err := r.stringArg("key", true)
	if err != nil {
		return err
	}
	f, _, err := r.filterArg("query")
	if err != nil {
		return err
	}
	path := strings.Split(key, ".")
	seen := map[string]bool{}
	var vals []bson.RawValue
	addVal := func(v bson.RawValue) {
		if k := query.IndexKey(v); !seen[k] {
			seen[k] = true
			vals = append(vals, v)
		}
	}
	err = r.read(coll, func(c *collection, view *txn) error {
		for _, d := range c.matching(f, view, false) {
			v, err := visible(d, view).LookupErr(path...)
			if err != nil {
				continue
			}
			if arr, ok := v.ArrayOK(); ok {
				elems, _ := arr.Values()
				for _, e := range elems {
					addVal(e)
				}
				continue
			}
			addVal(v)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sortValues(vals)
	idx, out := bsoncore.AppendArrayElementStart(r.out, "values")
	for i, v := range vals {
		out = bsoncore.AppendValueElement(out, arrayKey(i), bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
	}
	r.out, _ = bsoncore.AppendArrayEnd(out, idx)
	if r.snapshotRead {
		r.out = bsoncore.AppendTimestampElement(r.out, "atClusterTime", r.readAt.T, r.readAt.I)
	}
	return nil
}

func sortValues(vals []bson.RawValue) { slices.SortStableFunc(vals, query.Compare) }

func cmdAggregate(r *request) error {
	if r.boolArg("explain", false) {
		return r.explain(r, "queryPlanner")
	}
	specs, err := r.docsArg("pipeline")
	if err != nil {
		return err
	}
	stages := make([]bson.Raw, len(specs))
	for i, d := range specs {
		stages[i] = bson.Raw(d)
	}
	cur, ok := r.body.Lookup("cursor").DocumentOK()
	if !ok {
		return mongoerr.New(mongoerr.FailedToParse, "The 'cursor' option is required, except for aggregate with the explain argument")
	}
	batchSize, err := intField(cur, "aggregate.cursor", "batchSize", defaultFirstBatch)
	if err != nil {
		return err
	}
	target := r.body.Index(0).Value()
	coll, isColl := target.StringValueOK()
	first := ""
	if len(stages) > 0 {
		if el, err := stages[0].IndexErr(0); err == nil {
			first = el.Key()
		}
	}
	var docs []bson.Raw
	ns := r.ns(coll)
	switch {
	case first == "$changeStream":
		return r.openChangeStream(stages, batchSize)
	case first == "$listLocalSessions":
		if isColl {
			return mongoerr.New(mongoerr.InvalidNamespace, "$listLocalSessions must be run against the database with {aggregate: 1}, not a collection")
		}
		if docs, err = r.listSessions(first, stages[0]); err != nil {
			return err
		}
		stages, ns = stages[1:], r.db+".$cmd.aggregate"
	case first == "$listSessions":
		if r.db != "config" || coll != "system.sessions" {
			return mongoerr.New(mongoerr.InvalidNamespace, "$listSessions may only be run against config.system.sessions")
		}
		if docs, err = r.listSessions(first, stages[0]); err != nil {
			return err
		}
		stages = stages[1:]
	case !isColl:
		return mongoerr.New(mongoerr.InvalidNamespace, "{aggregate: 1} is not valid for '%s'; a collection is required.", first)
	default:
		if coll, err = r.collName(); err != nil {
			return err
		}
		if err := r.read(coll, func(c *collection, view *txn) error {
			if c != nil {
				docs = c.scan(view, nil)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	stages, out, err := splitWriteStage(r.db, stages)
	if err != nil {
		return err
	}
	p, err := query.NewPipeline(stages)
	if err != nil {
		return err
	}
	if docs, err = p.Run(docs); err != nil {
		return err
	}
	if out != nil {
		if err := r.runWriteStage(out, docs); err != nil {
			return err
		}
		docs = nil // $out and $merge answer an empty cursor
	}
	r.replyCursor(ns, docs, batchSize, false)
	return nil
}

func (r *request) listSessions(stage string, spec bson.Raw) ([]bson.Raw, error) {
	v := spec.Lookup(stage)
	ls, err := sessionid.ParseListSpec(stage, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}, r.caller())
	if err != nil {
		return nil, err
	}
	return r.m.sessionDocs(ls), nil
}
