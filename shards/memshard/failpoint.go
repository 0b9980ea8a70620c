package memshard

import (
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// failPoint is a member's failCommand fail point (a test command): it makes chosen commands
// fail, block, close the connection or carry a writeConcernError.
type failPoint struct {
	mu sync.Mutex
	st failState
}

type failState struct {
	on      bool
	times   int64 // remaining activations; < 0: unlimited
	skip    int64 // matching commands to let through first
	entered int64 // activations since it was last configured
	data    failData
}

type failData struct {
	commands  map[string]bool
	code      mongoerr.Code
	labels    []string // non-nil: exactly these labels (even none)
	closeConn bool
	block     time.Duration
	wce       bsoncore.Document
	appName   string
}

func (fp *failPoint) clear() {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	fp.st = failState{}
}

// cmdConfigureFailPoint: {configureFailPoint: "failCommand", mode, data}; replies the number
// of times the previous configuration fired, like mongod's count.
func cmdConfigureFailPoint(r *request) error {
	if name, _ := r.body.Index(0).Value().StringValueOK(); name != "failCommand" {
		return mongoerr.New(mongoerr.BadValue, "Unknown fail point: %s", r.body.Index(0).Value())
	}
	var fp failState
	mode, err := r.body.LookupErr("mode")
	if err != nil {
		return missingField("configureFailPoint.mode")
	}
	switch mode.Type {
	case bsoncore.TypeString:
		switch mode.StringValue() {
		case "off":
		case "alwaysOn":
			fp.on, fp.times = true, -1
		default:
			return mongoerr.New(mongoerr.BadValue, "unknown mode: %s", mode.StringValue())
		}
	case bsoncore.TypeEmbeddedDocument:
		doc := mode.Document()
		if n, ok := doc.Lookup("times").AsInt64OK(); ok && n >= 0 {
			fp.on, fp.times = n > 0, n
		} else if n, ok := doc.Lookup("skip").AsInt64OK(); ok && n >= 0 {
			fp.on, fp.times, fp.skip = true, -1, n
		} else {
			return mongoerr.New(mongoerr.BadValue, "mode must be 'off', 'alwaysOn', {times: n} or {skip: n}; got %s", mode)
		}
	default:
		return wrongType("configureFailPoint.mode", mode.Type, "string or object")
	}
	if fp.on {
		if fp.data, err = parseFailData(r.body); err != nil {
			return err
		}
	}
	f := &r.m.fail
	f.mu.Lock()
	prev := f.st.entered
	f.st = fp
	f.mu.Unlock()
	r.out = bsoncore.AppendInt64Element(r.out, "count", prev)
	return nil
}

func parseFailData(body bsoncore.Document) (failData, error) {
	var d failData
	data, ok := body.Lookup("data").DocumentOK()
	if !ok {
		return d, mongoerr.New(mongoerr.BadValue, "failCommand fail point needs a 'data' document")
	}
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

// fire decides whether the fail point acts on this command and consumes one activation.
func (f *failPoint) fire(r *request) (failData, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp := &f.st
	if !fp.on || !fp.data.commands[r.name] || fp.data.appName != "" && fp.data.appName != r.c.appName {
		return failData{}, false
	}
	if fp.skip > 0 {
		fp.skip--
		return failData{}, false
	}
	if fp.times > 0 {
		fp.times--
		fp.on = fp.times > 0
	}
	fp.entered++
	return fp.data, true
}

// evaluate applies the fail point before a command runs: block, then close the connection,
// fail with errorCode, or let the command run and attach the writeConcernError.
func (fp *failPoint) evaluate(r *request) error {
	if r.name == "configureFailPoint" {
		return nil
	}
	d, ok := fp.fire(r)
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
