package sessionid

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// OpInfo holds the generic session fields of a command
// (src/mongo/db/session/logical_session_id.idl).
type OpInfo struct {
	HasLSID          bool
	LSID             ID
	HasTxnNumber     bool
	TxnNumber        int64
	Autocommit       bool // autocommit: false is present (the only value allowed)
	StartTransaction bool // startTransaction: true is present (the only value allowed)
}

const (
	osiLSID seen = 1 << iota
	osiTxnNumber
	osiTxnRetryCounter
	osiAutocommit
	osiStartTransaction
	osiCoordinator
)

// rawOpInfo is OperationSessionInfoFromClient as parsed, before the combination rules.
type rawOpInfo struct {
	lsid             rawLSID
	set              seen
	txnNumber        int64
	autocommit       bool
	startTransaction bool
}

// parseOpInfoFields is the IDL pass over the whole body (a non-strict struct: other fields are
// left alone); errors come in document order.
func parseOpInfoFields(body bsoncore.Document) (rawOpInfo, error) {
	c := root("OperationSessionInfo")
	var r rawOpInfo
	elems, err := walk(c, body)
	if err != nil {
		return r, err
	}
	for e, more := elems.next(); more; e, more = elems.next() {
		var name string
		var bit seen
		var want bsoncore.Type
		switch string(e.KeyBytes()) {
		case "lsid":
			name, bit, want = "lsid", osiLSID, bsoncore.TypeEmbeddedDocument
		case "txnNumber":
			name, bit, want = "txnNumber", osiTxnNumber, bsoncore.TypeInt64
		case "txnRetryCounter":
			name, bit, want = "txnRetryCounter", osiTxnRetryCounter, bsoncore.TypeInt32
		case "autocommit":
			name, bit, want = "autocommit", osiAutocommit, bsoncore.TypeBoolean
		case "startTransaction":
			name, bit, want = "startTransaction", osiStartTransaction, bsoncore.TypeBoolean
		case "coordinator":
			name, bit, want = "coordinator", osiCoordinator, bsoncore.TypeBoolean
		default:
			continue
		}
		fc, v := c.child(name), e.Value()
		ok, err := expect(fc, v, want)
		if err != nil {
			return r, err
		}
		if !ok {
			continue
		}
		if err := r.set.mark(bit, fc); err != nil {
			return r, err
		}
		switch bit {
		case osiLSID:
			doc, ok := v.DocumentOK()
			if !ok {
				return r, fc.malformed()
			}
			if r.lsid, err = parseLSIDDoc(fc, doc, false); err != nil {
				return r, err
			}
		case osiTxnNumber:
			r.txnNumber, _ = v.Int64OK()
		case osiAutocommit:
			r.autocommit, _ = v.BooleanOK()
		case osiStartTransaction:
			r.startTransaction, _ = v.BooleanOK()
		}
	}
	return r, nil
}

// ParseOpInfo parses and checks the session fields of a command body with the rules of mongod's
// initializeOperationSessionInfo (src/mongo/db/initialize_operation_session_info.cpp), in its
// order. The router is a mongos, so txnNumber is allowed; every client is external, so child
// sessions and txnRetryCounter are refused. The checks that depend on the command (263/50889 for
// commands that need no auth) are the caller's: OpInfo says whether autocommit and txnNumber were
// given.
func ParseOpInfo(body bsoncore.Document, caller UID, mayImpersonate bool) (OpInfo, error) {
	r, err := parseOpInfoFields(body)
	if err != nil {
		return OpInfo{}, err
	}
	has := func(bit seen) bool { return r.set&bit != 0 }
	var info OpInfo
	if has(osiLSID) {
		if info.LSID, err = r.lsid.ownedParent(caller, mayImpersonate); err != nil {
			return OpInfo{}, err
		}
		info.HasLSID = true
	} else if has(osiTxnNumber) {
		return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "Transaction number requires a session ID to also be specified")
	}
	if has(osiTxnNumber) {
		if r.txnNumber < 0 {
			return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "Transaction number cannot be negative")
		}
		if has(osiTxnRetryCounter) {
			return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "txnRetryCounter is only allowed for internal clients")
		}
		info.HasTxnNumber, info.TxnNumber = true, r.txnNumber
	} else if has(osiAutocommit) {
		return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "'autocommit' field requires a transaction number to also be specified")
	}
	if has(osiAutocommit) {
		if r.autocommit {
			return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "Specifying autocommit=true is not allowed.")
		}
		info.Autocommit = true
	} else if has(osiStartTransaction) {
		return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "'startTransaction' field requires 'autocommit' field to also be specified")
	}
	if has(osiStartTransaction) {
		if !r.startTransaction {
			return OpInfo{}, mongoerr.New(mongoerr.InvalidOptions, "Specifying startTransaction=false is not allowed.")
		}
		info.StartTransaction = true
	}
	return info, nil
}
