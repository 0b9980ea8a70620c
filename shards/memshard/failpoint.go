package memshard

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// A member has three test fail points (internal/failpoint evaluates modes and activations):
//   - failCommand makes chosen commands fail, block, close the connection or carry a
//     writeConcernError;
//   - onPrimaryTransactionalWrite acts on each statement of a retryable write: it closes the
//     connection after the write (closeConnection, default true) and/or fails it before it
//     commits (failBeforeCommitExceptionCode). Drivers' retryable-write tests use it;
//   - failGetMoreAfterCursorCheckout fails a change stream getMore once it holds its cursor, so
//     the error carries the change stream labels (drivers' change stream tests use it).

// cmdConfigureFailPoint: {configureFailPoint: name, mode, data}; replies the number of times
// the previous configuration fired, like mongod's count.
func cmdConfigureFailPoint(r *request) error {
	name, _ := r.body.Index(0).Value().StringValueOK()
	var (
		p     *failpoint.Point
		parse failpoint.Parser
	)
	switch name {
	case "failCommand":
		p, parse = &r.m.fail, failpoint.ParseFailCommand
	case "onPrimaryTransactionalWrite":
		p, parse = &r.m.txnWriteFail, parseTxnWriteFail
	case "failGetMoreAfterCursorCheckout":
		p, parse = &r.m.getMoreFail, failpoint.ParseGetMoreAfterCheckout
	default:
		return mongoerr.New(mongoerr.BadValue, "Unknown fail point: %s", r.body.Index(0).Value())
	}
	prev, err := p.Configure(r.body, parse)
	if err != nil {
		return err
	}
	r.out = bsoncore.AppendInt64Element(r.out, "count", prev)
	return nil
}

// parseTxnWriteFail reads onPrimaryTransactionalWrite's data; it applies to every statement.
func parseTxnWriteFail(data bsoncore.Document) (failpoint.Data, error) {
	d := failpoint.Data{CloseConnection: failpoint.Truthy(data.Lookup("closeConnection"), true)}
	if c, ok := data.Lookup("failBeforeCommitExceptionCode").AsInt64OK(); ok {
		d.Code = mongoerr.Code(c)
	}
	return d, nil
}

// evaluateFailCommand applies failCommand before a command runs: block, then close the
// connection, fail with errorCode, or let the command run and attach the writeConcernError.
func (r *request) evaluateFailCommand() error {
	if r.name == "configureFailPoint" {
		return nil
	}
	d, ok := r.m.fail.Fire(r.name, r.c.appName)
	if !ok {
		return nil
	}
	if d.Block > 0 {
		t := time.NewTimer(d.Block)
		select {
		case <-t.C:
		case <-r.interrupted():
			t.Stop()
			return errInterrupted()
		case <-r.c.stop:
			t.Stop()
			return errCloseConnection
		}
	}
	switch {
	case d.CloseConnection:
		return errCloseConnection
	case d.Code != 0:
		r.fpLabels = d.Labels
		return d.Error()
	}
	r.wce = d.WriteConcernError
	return nil
}

// retryableStatement runs one statement of a retryable write under onPrimaryTransactionalWrite.
func (r *request) retryableStatement(run func() error) error {
	if r.retry == nil {
		return run()
	}
	d, ok := r.m.txnWriteFail.Fire(r.name, r.c.appName)
	switch {
	case !ok:
		return run()
	case d.Code != 0 && d.CloseConnection:
		return errCloseConnection
	case d.Code != 0:
		return mongoerr.New(d.Code, "Failing write for test due to failpoint")
	}
	if err := run(); err != nil {
		return err
	}
	if d.CloseConnection {
		return errCloseConnection
	}
	return nil
}
