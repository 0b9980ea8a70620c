package memshard

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// cmdBulkWrite is mongod 8.0's bulkWrite (what drivers' client.BulkWrite sends): insert, update
// and delete operations on any namespaces of nsInfo, one result per operation in a cursor.
func cmdBulkWrite(r *request) error {
	ops, err := r.statements("ops")
	if err != nil {
		return err
	}
	if err := checkBatch(len(ops)); err != nil {
		return err
	}
	infos, err := r.statements("nsInfo")
	if err != nil {
		return err
	}
	namespaces := make([][2]string, len(infos))
	for i, info := range infos {
		ns, _ := info.Lookup("ns").StringValueOK()
		db, coll, ok := strings.Cut(ns, ".")
		if !ok || db == "" || coll == "" {
			return mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s'", ns)
		}
		namespaces[i] = [2]string{db, coll}
	}
	batchSize := -1
	if cur, ok := r.body.Lookup("cursor").DocumentOK(); ok {
		if batchSize, err = intField(cur, "bulkWrite.cursor", "batchSize", -1); err != nil {
			return err
		}
	}
	results := make([]bson.Raw, len(ops))
	var nInserted, nMatched, nModified, nUpserted, nDeleted int32
	errs, err := r.runStatements(ops, func(op bsoncore.Document) (stmtResult, error) {
		return r.bulkOp(op, namespaces)
	}, func(i int, res stmtResult) {
		b := bsoncore.NewDocumentBuilder().AppendInt32("ok", 1).AppendInt32("idx", int32(i)).AppendInt32("n", res.n)
		switch kind := ops[i].Index(0).Key(); {
		case kind == "insert":
			nInserted += res.n
		case kind == "delete":
			nDeleted += res.n
		case res.upserted.Type != 0:
			nUpserted++
			b.AppendInt32("nModified", 0).AppendDocument("upserted", bsoncore.NewDocumentBuilder().
				AppendValue("_id", bsoncore.Value{Type: bsoncore.Type(res.upserted.Type), Data: res.upserted.Value}).Build())
		default:
			nMatched, nModified = nMatched+res.n, nModified+res.nModified
			b.AppendInt32("nModified", res.nModified)
		}
		if !r.boolArg("errorsOnly", false) {
			results[i] = bson.Raw(b.Build())
		}
	})
	if err != nil {
		return err
	}
	for _, we := range errs {
		idx, d := bsoncore.AppendDocumentStart(nil)
		d = bsoncore.AppendInt32Element(d, "ok", 0)
		d = bsoncore.AppendInt32Element(d, "idx", int32(we.index))
		d = bsoncore.AppendInt32Element(d, "code", int32(we.err.Code))
		d = bsoncore.AppendStringElement(d, "codeName", we.err.Code.Name())
		d = bsoncore.AppendStringElement(d, "errmsg", we.err.Msg)
		if elems, err := we.err.Extra.Elements(); err == nil {
			for _, el := range elems {
				d = append(d, el...)
			}
		}
		d = bsoncore.AppendInt32Element(d, "n", 0)
		results[we.index], _ = bsoncore.AppendDocumentEnd(d, idx)
	}
	var batch []bson.Raw
	for _, res := range results {
		if res != nil {
			batch = append(batch, res)
		}
	}
	r.replyCursor("admin.$cmd.bulkWrite", batch, batchSize, false)
	for _, f := range []struct {
		key string
		n   int32
	}{{"nErrors", int32(len(errs))}, {"nInserted", nInserted}, {"nMatched", nMatched}, {"nModified", nModified},
		{"nUpserted", nUpserted}, {"nDeleted", nDeleted}} {
		r.out = bsoncore.AppendInt32Element(r.out, f.key, f.n)
	}
	return nil
}

// bulkOp runs one bulkWrite operation: {insert: nsIndex, document}, {update: nsIndex, filter,
// updateMods, multi, upsert} or {delete: nsIndex, filter, multi}.
func (r *request) bulkOp(op bsoncore.Document, namespaces [][2]string) (stmtResult, error) {
	first, err := op.IndexErr(0)
	if err != nil {
		return stmtResult{}, mongoerr.New(mongoerr.FailedToParse, "empty bulkWrite operation")
	}
	i, ok := first.Value().AsInt64OK()
	if !ok || i < 0 || int(i) >= len(namespaces) {
		return stmtResult{}, mongoerr.New(mongoerr.BadValue, "BulkWrite ops entry has an invalid nsInfo index: %s", first.Value())
	}
	db, coll := namespaces[i][0], namespaces[i][1]
	switch first.Key() {
	case "insert":
		d, ok := op.Lookup("document").DocumentOK()
		if !ok {
			return stmtResult{}, missingField("bulkWrite.ops.document")
		}
		return r.insertOne(db, coll, d)
	case "update":
		u, err := r.parseUpdate(op, "bulkWrite.ops", "filter", "updateMods")
		if err != nil {
			return stmtResult{}, err
		}
		return r.applyUpdate(db, coll, u)
	case "delete":
		q, err := r.parseDelete(op, "bulkWrite.ops", "filter")
		if err != nil {
			return stmtResult{}, err
		}
		return r.applyDelete(db, coll, q, failpoint.Truthy(op.Lookup("multi"), false))
	}
	return stmtResult{}, mongoerr.New(mongoerr.FailedToParse, "Unrecognized bulkWrite operation: %s", first.Key())
}
