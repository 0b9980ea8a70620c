package memshard

import (
	"bytes"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// What $currentOp says of transactions: the transaction of an operation that has checked out its
// session (TransactionParticipant::reportUnstashedState), and every multi-document transaction
// between its statements as an idle session (reportStashedState), with SingleTransactionStats'
// figures (src/mongo/db/transaction/transaction_participant.cpp, single_transaction_stats.cpp).

// txnActivity is what a transaction's statements leave for $currentOp; guarded by store.mu.
type txnActivity struct {
	readConcern bsoncore.Document // the readConcern of its first statement
	active      time.Duration     // how long its statements ran
	last        txnClient         // who ran its last statement (lastClientInfo)
}

type txnClient struct {
	host     string
	connID   int64
	metadata bsoncore.Document
}

// sessionCheckedOut marks r's operation as holding its session, from which point $currentOp
// shows its transaction.
func (r *request) sessionCheckedOut() {
	cs := &r.c.client
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.op != nil {
		cs.op.checkedOut = true
	}
}

// recordTxnStatement adds r, a statement of a multi-document transaction that has just run, to
// the transaction's activity.
func (r *request) recordTxnStatement() {
	client := txnClient{host: r.c.nc.RemoteAddr().String(), connID: r.c.id, metadata: r.c.client.op.metadata(r.c.client.metadata)}
	s := r.m.rs.store
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &r.txn.activity
	if r.op.StartTransaction {
		a.readConcern, _ = r.body.Lookup("readConcern").DocumentOK()
	}
	a.active += time.Since(r.start)
	a.last = client
}

// appendRunningTxn adds the transaction field of an operation that holds its session: the
// number alone for a retryable write, the whole report for a transaction statement.
func (rep *opReport) appendRunningTxn(d []byte, info sessionid.OpInfo, op *curOp) []byte {
	if !info.Autocommit {
		return bsoncore.AppendDocumentElement(d, "transaction", bsoncore.NewDocumentBuilder().
			AppendDocument("parameters", bsoncore.NewDocumentBuilder().AppendInt64("txnNumber", info.TxnNumber).Build()).Build())
	}
	rs := rep.m.rs
	rs.txns.mu.Lock()
	defer rs.txns.mu.Unlock()
	rs.store.mu.RLock()
	defer rs.store.mu.RUnlock()
	st := rs.txns.m[info.LSID]
	if st == nil || st.txn == nil || st.txn.number != info.TxnNumber {
		return d // not begun yet
	}
	return rep.appendTxnStats(d, st.txn, rep.now.Sub(op.start))
}

// appendTxnStats is SingleTransactionStats::report of t; running is how long its current
// statement has run (0 between statements). Callers hold store.mu.
func (rep *opReport) appendTxnStats(d []byte, t *txn, running time.Duration) []byte {
	a := &t.activity
	started := t.expires.Add(-txnLifetime)
	open := rep.m.rs.now().Sub(started)
	active := a.active + running
	idx, d := bsoncore.AppendDocumentElementStart(d, "transaction")
	pidx, d := bsoncore.AppendDocumentElementStart(d, "parameters")
	d = bsoncore.AppendInt64Element(d, "txnNumber", t.number)
	d = bsoncore.AppendInt32Element(d, "txnRetryCounter", 0)
	d = bsoncore.AppendBooleanElement(d, "autocommit", false)
	d = appendReadConcernInfo(d, a.readConcern)
	d, _ = bsoncore.AppendDocumentEnd(d, pidx)
	ts := unpack(t.snapshot)
	d = bsoncore.AppendTimestampElement(d, "readTimestamp", ts.T, ts.I)
	d = bsoncore.AppendStringElement(d, "startWallClockTime", isoLocal(started))
	d = bsoncore.AppendInt64Element(d, "timeOpenMicros", open.Microseconds())
	d = bsoncore.AppendInt64Element(d, "timeActiveMicros", active.Microseconds())
	d = bsoncore.AppendInt64Element(d, "timeInactiveMicros", max(open-active, 0).Microseconds())
	d = bsoncore.AppendStringElement(d, "expiryTime", isoLocal(t.expires))
	d, _ = bsoncore.AppendDocumentEnd(d, idx)
	return d
}

// appendReadConcernInfo is ReadConcernArgs::appendInfo: the level and times the client gave and
// where they came from; without any, the implicit default (local).
func appendReadConcernInfo(d []byte, rc bsoncore.Document) []byte {
	idx, d := bsoncore.AppendDocumentElementStart(d, "readConcern")
	provenance := "implicitDefault"
	if level, ok := rc.Lookup("level").StringValueOK(); ok {
		d = bsoncore.AppendStringElement(d, "level", level)
		provenance = "clientSupplied"
	} else {
		d = bsoncore.AppendStringElement(d, "level", "local")
	}
	for _, k := range []string{"afterClusterTime", "atClusterTime"} {
		if v, err := rc.LookupErr(k); err == nil {
			d = bsoncore.AppendValueElement(d, k, v)
			provenance = "clientSupplied"
		}
	}
	d = bsoncore.AppendStringElement(d, "provenance", provenance)
	d, _ = bsoncore.AppendDocumentEnd(d, idx)
	return d
}

// idleSessions are the member's multi-document transactions that no operation is running a
// statement of (busy), each as an idleSession document; a viewer sees only sessions of its own.
// mongod repeats waitingForLock (reportStashedState, then fillLockerInfo); memshard writes it once.
func (rep *opReport) idleSessions(busy map[sessionid.ID]bool) []bson.Raw {
	var viewerUID sessionid.UID
	if rep.viewer != nil {
		viewerUID, _ = sessionid.UserDigest(rep.viewer.user, rep.viewer.db)
	}
	rs := rep.m.rs
	rs.txns.mu.Lock()
	defer rs.txns.mu.Unlock()
	rs.store.mu.RLock()
	defer rs.store.mu.RUnlock()
	now := rs.now()
	type idle struct {
		id sessionid.ID
		t  *txn
	}
	var found []idle
	for id, st := range rs.txns.m {
		t := st.txn
		if t == nil || t.phase != txnInProgress || t.owner != rep.m || t.expired(now) || busy[id] ||
			rep.viewer != nil && id.UID != viewerUID {
			continue
		}
		found = append(found, idle{id, t})
	}
	slices.SortFunc(found, func(a, b idle) int { return bytes.Compare(a.id.ID[:], b.id.ID[:]) })
	docs := make([]bson.Raw, 0, len(found))
	for _, f := range found {
		last := f.t.activity.last
		md := last.metadata
		if md == nil {
			md = emptyDoc
		}
		appName, _ := md.Lookup("application", "name").StringValueOK()
		idx, d := bsoncore.AppendDocumentStart(nil)
		d = bsoncore.AppendStringElement(d, "type", "idleSession")
		d = bsoncore.AppendStringElement(d, "host", rep.m.host)
		d = bsoncore.AppendStringElement(d, "desc", "inactive transaction")
		d = bsoncore.AppendStringElement(d, "client", last.host)
		d = bsoncore.AppendInt64Element(d, "connectionId", last.connID)
		d = bsoncore.AppendStringElement(d, "appName", appName)
		d = bsoncore.AppendDocumentElement(d, "clientMetadata", md)
		d = bsoncore.AppendHeader(d, bsoncore.TypeEmbeddedDocument, "lsid")
		d = f.id.AppendDoc(d)
		d = rep.appendTxnStats(d, f.t, 0)
		d = bsoncore.AppendBooleanElement(d, "active", false)
		d = appendEmptyLocks(d)
		d, _ = bsoncore.AppendDocumentEnd(d, idx)
		docs = append(docs, d)
	}
	return docs
}
