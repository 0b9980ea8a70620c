package router

import (
	"context"
	"errors"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/failpoint"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// errCloseConnection makes the connection loop close the client's connection without a reply
// (failCommand's closeConnection).
var errCloseConnection = errors.New("closed by the failCommand fail point")

// configureFailPoint sets the router's own failCommand fail point, which acts before routing, as
// a mongos's does. It exists only with test commands enabled.
func (c *conn) configureFailPoint(_ context.Context, r *request) (bsoncore.Document, error) {
	if !c.s.cfg.EnableTestCommands {
		return nil, noSuchCommand("configureFailPoint")
	}
	v, _ := bsonview.Lookup(r.Body, "configureFailPoint")
	p, parse := &c.s.failCommand, failpoint.ParseFailCommand
	switch name, _ := v.StringValueOK(); name {
	case "failCommand":
	case "failGetMoreAfterCursorCheckout":
		p, parse = &c.s.failGetMore, failpoint.ParseGetMoreAfterCheckout
	default:
		return nil, mongoerr.New(mongoerr.BadValue,
			"Unknown fail point: %s (mongos-lite has failCommand and failGetMoreAfterCursorCheckout)", v)
	}
	count, err := p.Configure(r.Body, parse)
	if err != nil {
		return nil, err
	}
	return bsoncore.NewDocumentBuilder().AppendInt64("count", count).AppendDouble("ok", 1).Build(), nil
}

func noSuchCommand(name string) error {
	return mongoerr.New(mongoerr.CommandNotFound, "no such command: '%s'", name)
}

// failCommand applies the fail point to a command about to run: it blocks, closes the
// connection, fails the command, or runs it and attaches a writeConcernError.
func (c *conn) failCommand(ctx context.Context, name []byte, r *request, run func() (bsoncore.Document, error)) (bsoncore.Document, error) {
	d, fired := c.s.failCommand.Fire(string(name), c.appName)
	if !fired {
		return run()
	}
	if d.Block > 0 {
		t := time.NewTimer(d.Block)
		select {
		case <-t.C:
		case <-c.s.closing:
			t.Stop()
			return nil, errCloseConnection
		case <-ctx.Done():
			t.Stop()
		}
	}
	labels := labelContext(name, r)
	switch {
	case d.CloseConnection:
		return nil, errCloseConnection
	case d.Code != 0:
		e := d.Error()
		if d.Labels == nil {
			e.AddServerLabels(labels)
		}
		return nil, e
	}
	reply, err := run()
	if err != nil || len(d.WriteConcernError) == 0 || outcome.ErrOf(reply) != nil {
		return reply, err
	}
	elems := [][]byte{bsoncore.AppendDocumentElement(nil, "writeConcernError", d.WriteConcernError)}
	code, _ := d.WriteConcernError.Lookup("code").AsInt64OK()
	wceLabels := d.Labels
	if wceLabels == nil {
		wceLabels = mongoerr.WriteConcernErrorLabels(mongoerr.Code(code), labels)
	}
	if len(wceLabels) > 0 {
		elems = append(elems, bsoncore.AppendArrayElement(nil, "errorLabels", stringArray(wceLabels)))
	}
	return withElements(reply, elems...), nil
}

func stringArray(ss []string) []byte {
	vals := make([]bsoncore.Value, len(ss))
	for i, s := range ss {
		vals[i] = bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, s)}
	}
	return bsoncore.BuildArray(nil, vals...)
}

// retryableWrites are the commands a driver retries with the same txnNumber.
var retryableWrites = map[string]bool{
	"insert": true, "update": true, "delete": true, "findAndModify": true, "bulkWrite": true,
}

// labelContext classifies a command for the error labels a server attaches.
func labelContext(name []byte, r *request) mongoerr.LabelContext {
	n := string(name)
	return mongoerr.LabelContext{
		InTransaction:  r.op.Autocommit,
		RetryableWrite: r.op.HasTxnNumber && !r.op.Autocommit && retryableWrites[n],
		CommitOrAbort:  n == "commitTransaction" || n == "abortTransaction",
	}
}
