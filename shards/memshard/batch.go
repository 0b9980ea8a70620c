package memshard

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The write batch machinery shared by insert, update, delete and bulkWrite: statements run one
// by one, retried statements answered from their record, write errors collected.

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
	if err := checkBatch(len(stmts)); err != nil {
		return "", nil, err
	}
	// A write to a view fails as a command, before any statement runs.
	return coll, stmts, r.read(coll, func(c *collection, _ *txn) error { return c.writableColl() })
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
