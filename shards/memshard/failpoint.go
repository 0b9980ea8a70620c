package memshard

import (
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// failPoint is one of a member's test fail points:
//   - failCommand makes chosen commands fail, block, close the connection or carry a
//     writeConcernError;
//   - onPrimaryTransactionalWrite acts on each statement of a retryable write: it closes the
//     connection after the write (closeConnection, default true) and/or fails it before it
//     commits (failBeforeCommitExceptionCode). Drivers' retryable-write tests use it.
type failPoint struct {
	mu sync.Mutex
	st failState
}

type failState struct {
	on      bool
	times   int64 // remaining activations; < 0: unlimited
	skip    int64 // matching events to let through first
	entered int64 // activations since it was last configured
	data    failData
}

type failData struct {
	commands  map[string]bool // failCommand only, as the appName filter
	appName   string
	code      mongoerr.Code // errorCode, or failBeforeCommitExceptionCode
	labels    []string      // non-nil: exactly these labels (even none)
	closeConn bool
	block     time.Duration
	wce       bsoncore.Document
}

func (f *failPoint) clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = failState{}
}

// cmdConfigureFailPoint: {configureFailPoint: name, mode, data}; replies the number of times
// the previous configuration fired, like mongod's count.
func cmdConfigureFailPoint(r *request) error {
	name, _ := r.body.Index(0).Value().StringValueOK()
	var f *failPoint
	parse := parseFailCommand
	switch name {
	case "failCommand":
		f = &r.m.fail
	case "onPrimaryTransactionalWrite":
		f, parse = &r.m.txnWriteFail, parseTxnWriteFail
	default:
		return mongoerr.New(mongoerr.BadValue, "Unknown fail point: %s", r.body.Index(0).Value())
	}
	st, err := parseMode(r.body)
	if err != nil {
		return err
	}
	if st.on {
		data, _ := r.body.Lookup("data").DocumentOK()
		if st.data, err = parse(data); err != nil {
			return err
		}
	}
	f.mu.Lock()
	prev := f.st.entered
	f.st = st
	f.mu.Unlock()
	r.out = bsoncore.AppendInt64Element(r.out, "count", prev)
	return nil
}

func parseMode(body bsoncore.Document) (failState, error) {
	var st failState
	mode, err := body.LookupErr("mode")
	if err != nil {
		return st, missingField("configureFailPoint.mode")
	}
	switch mode.Type {
	case bsoncore.TypeString:
		switch mode.StringValue() {
		case "off":
		case "alwaysOn":
			st.on, st.times = true, -1
		default:
			return st, mongoerr.New(mongoerr.BadValue, "unknown mode: %s", mode.StringValue())
		}
	case bsoncore.TypeEmbeddedDocument:
		doc := mode.Document()
		if n, ok := doc.Lookup("times").AsInt64OK(); ok && n >= 0 {
			st.on, st.times = n > 0, n
		} else if n, ok := doc.Lookup("skip").AsInt64OK(); ok && n >= 0 {
			st.on, st.times, st.skip = true, -1, n
		} else {
			return st, mongoerr.New(mongoerr.BadValue, "mode must be 'off', 'alwaysOn', {times: n} or {skip: n}; got %s", mode)
		}
	default:
		return st, wrongType("configureFailPoint.mode", mode.Type, "string or object")
	}
	return st, nil
}

func parseFailCommand(data bsoncore.Document) (failData, error) {
	var d failData
	cmds, ok := data.Lookup("failCommands").ArrayOK()
	if !ok {
		return d, mongoerr.New(mongoerr.BadValue, "failCommand fail point needs 'data.failCommands' (an array of command names)")
	}
	d.commands = map[string]bool{}
	vals, _ := cmds.Values()
	for _, v := range vals {
		name, ok := v.StringValueOK()
		if !ok {
			return d, wrongType("data.failCommands", v.Type, "string")
		}
		d.commands[name] = true
	}
	if c, ok := data.Lookup("errorCode").AsInt64OK(); ok {
		d.code = mongoerr.Code(c)
	}
	if arr, ok := data.Lookup("errorLabels").ArrayOK(); ok {
		d.labels = []string{}
		vals, _ := arr.Values()
		for _, v := range vals {
			if s, ok := v.StringValueOK(); ok {
				d.labels = append(d.labels, s)
			}
		}
	}
	d.closeConn = truthy(data.Lookup("closeConnection"), false)
	if truthy(data.Lookup("blockConnection"), false) {
		ms, _ := data.Lookup("blockTimeMS").AsInt64OK()
		d.block = time.Duration(max(ms, 0)) * time.Millisecond
	}
	if wce, ok := data.Lookup("writeConcernError").DocumentOK(); ok {
		d.wce = append(bsoncore.Document(nil), wce...)
	}
	d.appName, _ = data.Lookup("appName").StringValueOK()
	return d, nil
}

func parseTxnWriteFail(data bsoncore.Document) (failData, error) {
	d := failData{closeConn: truthy(data.Lookup("closeConnection"), true)}
	if c, ok := data.Lookup("failBeforeCommitExceptionCode").AsInt64OK(); ok {
		d.code = mongoerr.Code(c)
	}
	return d, nil
}

// fire decides whether the fail point acts now (on command name for failCommand) and consumes
// one activation.
func (f *failPoint) fire(r *request) (failData, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &f.st
	d := &st.data
	if !st.on || d.commands != nil && !d.commands[r.name] || d.appName != "" && d.appName != r.c.appName {
		return failData{}, false
	}
	if st.skip > 0 {
		st.skip--
		return failData{}, false
	}
	if st.times > 0 {
		st.times--
		st.on = st.times > 0
	}
	st.entered++
	return *d, true
}

// evaluate applies failCommand before a command runs: block, then close the connection, fail
// with errorCode, or let the command run and attach the writeConcernError.
func (f *failPoint) evaluate(r *request) error {
	if r.name == "configureFailPoint" {
		return nil
	}
	d, ok := f.fire(r)
	if !ok {
		return nil
	}
	if d.block > 0 {
		t := time.NewTimer(d.block)
		select {
		case <-t.C:
		case <-r.c.stop:
			t.Stop()
			return errCloseConnection
		}
	}
	switch {
	case d.closeConn:
		return errCloseConnection
	case d.code != 0:
		r.fpLabels = d.labels
		return mongoerr.New(d.code, "Failing command via 'failCommand' failpoint")
	}
	r.wce = d.wce
	return nil
}

// retryableStatement runs one statement of a retryable write under onPrimaryTransactionalWrite.
func (r *request) retryableStatement(run func() error) error {
	if r.retry == nil {
		return run()
	}
	d, ok := r.m.txnWriteFail.fire(r)
	switch {
	case !ok:
		return run()
	case d.code != 0 && d.closeConn:
		return errCloseConnection
	case d.code != 0:
		return mongoerr.New(d.code, "Failing write for test due to failpoint")
	}
	if err := run(); err != nil {
		return err
	}
	if d.closeConn {
		return errCloseConnection
	}
	return nil
}
