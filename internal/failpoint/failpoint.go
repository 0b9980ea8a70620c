// Package failpoint implements mongod's test fail points as the driver specification tests use
// them: configureFailPoint with modes off / alwaysOn / {times: n} / {skip: n}, and the
// failCommand data (failCommands, errorCode, errorLabels, closeConnection, blockConnection +
// blockTimeMS, writeConcernError, appName). The router and memshard both evaluate them.
package failpoint

import (
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Data is what an activated fail point does.
type Data struct {
	Commands          map[string]bool // failCommand: the commands it applies to
	AppName           string          // only connections whose client metadata has this appName
	Code              mongoerr.Code   // errorCode (or failBeforeCommitExceptionCode)
	Labels            []string        // non-nil: exactly these errorLabels (even none)
	CloseConnection   bool
	Block             time.Duration // blockConnection: hold the command this long first
	WriteConcernError bsoncore.Document
}

// Error is the command error the fail point injects.
func (d Data) Error() *mongoerr.Error {
	e := mongoerr.New(d.Code, "Failing command via 'failCommand' failpoint")
	if d.Labels != nil {
		e.Labels = append([]string{}, d.Labels...)
	}
	return e
}

// Point is one fail point. The zero value is off.
type Point struct {
	mu      sync.Mutex
	on      bool
	times   int64 // remaining activations; < 0: unlimited
	skip    int64 // matching events to let through first
	entered int64 // activations since the last configuration
	data    Data
}

// Parser reads a fail point's data document.
type Parser func(data bsoncore.Document) (Data, error)

// Configure applies {configureFailPoint: name, mode, data} and returns how many times the
// previous configuration fired (mongod's count).
func (p *Point) Configure(body bsoncore.Document, parse Parser) (int64, error) {
	on, times, skip, err := parseMode(body)
	if err != nil {
		return 0, err
	}
	var data Data
	if on {
		d, _ := body.Lookup("data").DocumentOK()
		if data, err = parse(d); err != nil {
			return 0, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.entered
	p.on, p.times, p.skip, p.entered, p.data = on, times, skip, 0, data
	return prev, nil
}

// Off turns the fail point off and forgets its activations, as configuring mode off does (and
// as a restarted process has it).
func (p *Point) Off() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on, p.times, p.skip, p.entered, p.data = false, 0, 0, 0, Data{}
}

// Fire decides whether the fail point acts on this command (by name and appName) and, if so,
// consumes one activation.
func (p *Point) Fire(command, appName string) (Data, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := &p.data
	if !p.on || d.Commands != nil && !d.Commands[command] || d.AppName != "" && d.AppName != appName {
		return Data{}, false
	}
	if p.skip > 0 {
		p.skip--
		return Data{}, false
	}
	if p.times > 0 {
		p.times--
		p.on = p.times > 0
	}
	p.entered++
	return *d, true
}

func parseMode(body bsoncore.Document) (on bool, times, skip int64, err error) {
	mode, lerr := body.LookupErr("mode")
	if lerr != nil {
		return false, 0, 0, mongoerr.New(mongoerr.IDLFailedToParse, "BSON field 'configureFailPoint.mode' is missing but a required field")
	}
	switch mode.Type {
	case bsoncore.TypeString:
		switch mode.StringValue() {
		case "off":
			return false, 0, 0, nil
		case "alwaysOn":
			return true, -1, 0, nil
		}
		return false, 0, 0, mongoerr.New(mongoerr.BadValue, "unknown mode: %s", mode.StringValue())
	case bsoncore.TypeEmbeddedDocument:
		doc := mode.Document()
		if n, ok := doc.Lookup("times").AsInt64OK(); ok && n >= 0 {
			return n > 0, n, 0, nil
		}
		if n, ok := doc.Lookup("skip").AsInt64OK(); ok && n >= 0 {
			return true, -1, n, nil
		}
		return false, 0, 0, mongoerr.New(mongoerr.BadValue, "mode must be 'off', 'alwaysOn', {times: n} or {skip: n}; got %s", mode)
	}
	return false, 0, 0, mongoerr.WrongType("configureFailPoint.mode", mode.Type, "string or object")
}

// ParseFailCommand reads failCommand's data.
func ParseFailCommand(data bsoncore.Document) (Data, error) {
	var d Data
	cmds, ok := data.Lookup("failCommands").ArrayOK()
	if !ok {
		return d, mongoerr.New(mongoerr.BadValue, "failCommand fail point needs 'data.failCommands' (an array of command names)")
	}
	d.Commands = map[string]bool{}
	vals, _ := cmds.Values()
	for _, v := range vals {
		name, ok := v.StringValueOK()
		if !ok {
			return d, mongoerr.WrongType("data.failCommands", v.Type, "string")
		}
		d.Commands[name] = true
	}
	if c, ok := data.Lookup("errorCode").AsInt64OK(); ok {
		d.Code = mongoerr.Code(c)
	}
	if arr, ok := data.Lookup("errorLabels").ArrayOK(); ok {
		d.Labels = []string{}
		vals, _ := arr.Values()
		for _, v := range vals {
			if s, ok := v.StringValueOK(); ok {
				d.Labels = append(d.Labels, s)
			}
		}
	}
	d.CloseConnection = Truthy(data.Lookup("closeConnection"), false)
	if Truthy(data.Lookup("blockConnection"), false) {
		ms, _ := data.Lookup("blockTimeMS").AsInt64OK()
		d.Block = time.Duration(max(ms, 0)) * time.Millisecond
	}
	if wce, ok := data.Lookup("writeConcernError").DocumentOK(); ok {
		d.WriteConcernError = append(bsoncore.Document(nil), wce...)
	}
	d.AppName, _ = data.Lookup("appName").StringValueOK()
	return d, nil
}

// ParseGetMoreAfterCheckout reads failGetMoreAfterCursorCheckout's data: a getMore that holds
// its cursor fails with errorCode (InternalError when absent) or closes the connection; appName
// filters as failCommand's does.
func ParseGetMoreAfterCheckout(data bsoncore.Document) (Data, error) {
	d := Data{Commands: map[string]bool{"getMore": true}, Code: mongoerr.InternalError,
		CloseConnection: Truthy(data.Lookup("closeConnection"), false)}
	if c, ok := data.Lookup("errorCode").AsInt64OK(); ok {
		d.Code = mongoerr.Code(c)
	}
	d.AppName, _ = data.Lookup("appName").StringValueOK()
	return d, nil
}

// GetMoreError is the error failGetMoreAfterCursorCheckout injects (cluster_find.cpp).
func (d Data) GetMoreError() *mongoerr.Error {
	return mongoerr.New(d.Code, "Hit the 'failGetMoreAfterCursorCheckout' failpoint")
}

// Truthy reads a boolean-ish field as the server does (bool, or a number ≠ 0); def when absent.
func Truthy(v bsoncore.Value, def bool) bool {
	if b, ok := v.BooleanOK(); ok {
		return b
	}
	if f, ok := v.AsFloat64OK(); ok {
		return f != 0
	}
	return def
}
