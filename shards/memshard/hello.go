package memshard

import (
	"encoding/binary"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// What memshard reports itself as: mongod 8.0.
const (
	serverVersion      = "8.0.4"
	maxWireVersion     = 25
	maxBSONObjectSize  = 16 * 1024 * 1024
	maxMessageSize     = 48_000_000
	maxWriteBatchSize  = 100_000
	refreshMillis      = 300_000
	maxSessionsDefault = 1_000_000
)

// Bare assertion codes of awaitable hello (src/mongo/db/repl/replication_info.cpp).
const (
	codeNegativeCounter  mongoerr.Code = 51758
	codeNegativeAwait    mongoerr.Code = 51759
	codeAwaitNeedsBoth   mongoerr.Code = 51760
	codeExhaustNeedsWait mongoerr.Code = 51763
)

type topologyVersion struct {
	processID bson.ObjectID
	counter   int64
}

// cmdHello answers hello / isMaster as a replica-set member, waiting first when the request is
// awaitable (topologyVersion + maxAwaitTimeMS) and nothing changed since the client's version.
func cmdHello(r *request) error {
	c := r.c
	if cl, ok := r.body.Lookup("client").DocumentOK(); ok {
		if c.helloSeen {
			return mongoerr.New(mongoerr.ClientMetadataCannotBeMutated, "The client metadata document may only be sent in the first hello")
		}
		c.appName, _ = cl.Lookup("application", "name").StringValueOK()
	}
	var compression []string
	arr, askedCompression := r.body.Lookup("compression").ArrayOK()
	if askedCompression && !c.helloSeen {
		compression = negotiateCompression(arr)
	}
	c.helloSeen = true

	from, wait, err := awaitArgs(r)
	if err != nil {
		return err
	}
	if from != nil {
		r.m.awaitChange(r, *from, wait)
		r.stream = r.exhaust
	}
	if askedCompression {
		r.out = appendStrings(r.out, "compression", compression)
	}
	r.out, r.sent = r.m.appendHello(r.out, c, r.name != "hello")
	if ok, _ := r.body.Lookup("helloOk").BooleanOK(); ok {
		r.out = bsoncore.AppendBooleanElement(r.out, "helloOk", true)
	}
	return r.appendAuthHello()
}

// negotiateCompression keeps the client's compressors memshard supports, in the client's order.
func negotiateCompression(arr bsoncore.Array) []string {
	vals, _ := arr.Values()
	var out []string
	for _, v := range vals {
		name, _ := v.StringValueOK()
		for _, c := range wire.CompressorNames {
			if c.Name == name {
				out = append(out, name)
			}
		}
	}
	return out
}

// awaitArgs validates the awaitable-hello fields; from is nil for a plain hello.
func awaitArgs(r *request) (from *topologyVersion, wait time.Duration, err error) {
	tvDoc, hasTV := r.body.Lookup("topologyVersion").DocumentOK()
	maxAwait, hasAwait := r.body.Lookup("maxAwaitTimeMS").AsInt64OK()
	switch {
	case r.awaitFrom != nil: // streaming: continue from what was last sent
		return r.awaitFrom, time.Duration(maxAwait) * time.Millisecond, nil
	case hasTV && !hasAwait:
		return nil, 0, mongoerr.New(codeAwaitNeedsBoth, "A request with a 'topologyVersion' must include 'maxAwaitTimeMS'")
	case hasAwait && !hasTV:
		return nil, 0, mongoerr.New(codeAwaitNeedsBoth, "A request with 'maxAwaitTimeMS' must include a 'topologyVersion'")
	case !hasTV && r.exhaust:
		return nil, 0, mongoerr.New(codeExhaustNeedsWait, "An isMaster request with exhaust must specify 'maxAwaitTimeMS'")
	case !hasTV:
		return nil, 0, nil
	case maxAwait < 0:
		return nil, 0, mongoerr.New(codeNegativeAwait, "maxAwaitTimeMS must be a non-negative integer")
	}
	pid, _ := tvDoc.Lookup("processId").ObjectIDOK()
	counter, _ := tvDoc.Lookup("counter").AsInt64OK()
	if counter < 0 {
		return nil, 0, mongoerr.New(codeNegativeCounter, "Topology version counter cannot be negative")
	}
	return &topologyVersion{processID: pid, counter: counter}, time.Duration(maxAwait) * time.Millisecond, nil
}

// awaitChange returns at once if the client's topology version is stale, else when the topology
// changes, wait passes or the member stops.
func (m *Member) awaitChange(r *request, from topologyVersion, wait time.Duration) {
	topo := m.rs.topology()
	if from.processID != r.c.processID || from.counter != topo.counter {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-topo.changed:
	case <-timer.C:
	case <-r.c.stop:
	}
}

// streamHello keeps answering an exhaust hello: each reply has moreToCome, answers the previous
// one and waits for a change after the version it last sent, until the connection or the member
// goes away.
func (c *conn) streamHello(r *request, prevID int32, comp wiremessage.CompressorID) error {
	for sent := r.sent; ; {
		next := c.newRequest(r.body, nil)
		next.db, next.exhaust, next.awaitFrom = r.db, true, &sent
		reply, err := c.m.execute(next)
		if err != nil {
			return err
		}
		select {
		case <-c.stop:
			return errCloseConnection
		default:
		}
		var flags wiremessage.MsgFlag
		if next.stream {
			flags = wire.MoreToCome
		}
		if prevID, err = c.writeMsg(prevID, flags, reply, comp); err != nil || !next.stream {
			return err
		}
		sent = next.sent
	}
}

// appendHello appends the replica-set member fields of hello and returns the topology version
// it reported.
func (m *Member) appendHello(dst []byte, c *conn, legacy bool) ([]byte, topologyVersion) {
	rs := m.rs
	topo := rs.topology()
	isPrimary := topo.primary == m.idx
	dst = appendTopologyVersion(dst, c.processID, topo.counter)
	dst = appendStrings(dst, "hosts", rs.Hosts())
	dst = bsoncore.AppendStringElement(dst, "setName", rs.name)
	dst = bsoncore.AppendInt32Element(dst, "setVersion", 1)
	if legacy {
		dst = bsoncore.AppendBooleanElement(dst, "ismaster", isPrimary)
	} else {
		dst = bsoncore.AppendBooleanElement(dst, "isWritablePrimary", isPrimary)
	}
	dst = bsoncore.AppendBooleanElement(dst, "secondary", !isPrimary)
	if topo.primary >= 0 {
		dst = bsoncore.AppendStringElement(dst, "primary", rs.members[topo.primary].host)
	}
	dst = bsoncore.AppendStringElement(dst, "me", m.host)
	if isPrimary {
		dst = bsoncore.AppendObjectIDElement(dst, "electionId", electionID(topo.term))
	}
	ts := rs.clock.now()
	wrote := int64(ts.T) * 1000
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "lastWrite")
	for _, k := range []string{"opTime", "majorityOpTime"} {
		oidx, d := bsoncore.AppendDocumentElementStart(dst, k)
		d = bsoncore.AppendTimestampElement(d, "ts", ts.T, ts.I)
		d = bsoncore.AppendInt64Element(d, "t", topo.term)
		dst, _ = bsoncore.AppendDocumentEnd(d, oidx)
	}
	dst = bsoncore.AppendDateTimeElement(dst, "lastWriteDate", wrote)
	dst = bsoncore.AppendDateTimeElement(dst, "majorityWriteDate", wrote)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	dst = bsoncore.AppendInt32Element(dst, "maxBsonObjectSize", maxBSONObjectSize)
	dst = bsoncore.AppendInt32Element(dst, "maxMessageSizeBytes", maxMessageSize)
	dst = bsoncore.AppendInt32Element(dst, "maxWriteBatchSize", maxWriteBatchSize)
	dst = bsoncore.AppendTimeElement(dst, "localTime", time.Now())
	dst = bsoncore.AppendInt32Element(dst, "logicalSessionTimeoutMinutes", int32(rs.opts.timeoutMinutes))
	dst = bsoncore.AppendInt64Element(dst, "connectionId", c.id)
	dst = bsoncore.AppendInt32Element(dst, "minWireVersion", 0)
	dst = bsoncore.AppendInt32Element(dst, "maxWireVersion", maxWireVersion)
	return bsoncore.AppendBooleanElement(dst, "readOnly", false), topologyVersion{c.processID, topo.counter}
}

func appendTopologyVersion(dst []byte, processID bson.ObjectID, counter int64) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, "topologyVersion")
	dst = bsoncore.AppendObjectIDElement(dst, "processId", processID)
	dst = bsoncore.AppendInt64Element(dst, "counter", counter)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// electionID is mongod's OID::fromTerm: 0x7fffffff then the term, so later terms sort higher.
func electionID(term int64) bson.ObjectID {
	var id bson.ObjectID
	binary.BigEndian.PutUint32(id[:4], 0x7fffffff)
	binary.BigEndian.PutUint64(id[4:], uint64(term))
	return id
}

func cmdPing(*request) error { return nil }

func cmdBuildInfo(r *request) error {
	r.out = bsoncore.AppendStringElement(r.out, "version", serverVersion)
	r.out = bsoncore.AppendStringElement(r.out, "gitVersion", "memshard")
	idx, out := bsoncore.AppendArrayElementStart(r.out, "versionArray")
	for i, n := range []int32{8, 0, 4, 0} {
		out = bsoncore.AppendInt32Element(out, arrayKey(i), n)
	}
	out, _ = bsoncore.AppendArrayEnd(out, idx)
	out = bsoncore.AppendInt32Element(out, "bits", 64)
	out = bsoncore.AppendBooleanElement(out, "debug", false)
	out = bsoncore.AppendInt32Element(out, "maxBsonObjectSize", maxBSONObjectSize)
	r.out = out
	return nil
}

// cmdGetParameter reports the parameters named in the command ('*': all), like mongod, which
// ignores names it does not know and fails only when none matched.
func cmdGetParameter(r *request) error {
	all := false
	if s, ok := r.body.Index(0).Value().StringValueOK(); ok && s == "*" {
		all = true
	}
	rs := r.m.rs
	params := []struct {
		name string
		add  func([]byte, string) []byte
	}{
		{"featureCompatibilityVersion", func(d []byte, k string) []byte {
			return bsoncore.AppendDocumentElement(d, k, bsoncore.NewDocumentBuilder().AppendString("version", "8.0").Build())
		}},
		{"localLogicalSessionTimeoutMinutes", func(d []byte, k string) []byte {
			return bsoncore.AppendInt32Element(d, k, int32(rs.opts.timeoutMinutes))
		}},
		{"logicalSessionRefreshMillis", func(d []byte, k string) []byte { return bsoncore.AppendInt32Element(d, k, refreshMillis) }},
		{"maxAcceptableLogicalClockDriftSecs", func(d []byte, k string) []byte { return bsoncore.AppendInt64Element(d, k, rs.opts.maxDriftSecs) }},
		{"maxSessions", func(d []byte, k string) []byte { return bsoncore.AppendInt32Element(d, k, maxSessionsDefault) }},
		{"transactionLifetimeLimitSeconds", func(d []byte, k string) []byte {
			return bsoncore.AppendInt32Element(d, k, int32(txnLifetime/time.Second))
		}},
		{"enableTestCommands", func(d []byte, k string) []byte { return bsoncore.AppendBooleanElement(d, k, rs.opts.testCommands) }},
	}
	found := false
	for _, p := range params {
		if _, err := r.body.LookupErr(p.name); all || err == nil {
			r.out, found = p.add(r.out, p.name), true
		}
	}
	if !found {
		return mongoerr.New(mongoerr.InvalidOptions, "no option found to get")
	}
	return nil
}

func cmdServerStatus(r *request) error {
	m := r.m
	m.mu.Lock()
	started := m.started
	m.mu.Unlock()
	up := time.Since(started)
	out := bsoncore.AppendStringElement(r.out, "host", m.host)
	out = bsoncore.AppendStringElement(out, "version", serverVersion)
	out = bsoncore.AppendStringElement(out, "process", "mongod")
	out = bsoncore.AppendInt64Element(out, "pid", int64(os.Getpid()))
	out = bsoncore.AppendDoubleElement(out, "uptime", up.Seconds())
	out = bsoncore.AppendInt64Element(out, "uptimeMillis", up.Milliseconds())
	out = bsoncore.AppendInt64Element(out, "uptimeEstimate", int64(up.Seconds()))
	out = bsoncore.AppendTimeElement(out, "localTime", time.Now())
	out = bsoncore.AppendDocumentElement(out, "connections", bsoncore.NewDocumentBuilder().
		AppendInt32("current", int32(m.connCount.Load())).
		AppendInt32("available", 1_000_000).
		AppendInt32("totalCreated", int32(m.connIDs.Load())).Build())
	out = bsoncore.AppendDocumentElement(out, "logicalSessionRecordCache", bsoncore.NewDocumentBuilder().
		AppendInt32("activeSessionsCount", int32(len(m.sessions.list(m.rs.now(), m)))).
		AppendInt32("sessionsCollectionJobCount", 0).
		AppendInt32("lastSessionsCollectionJobEntriesRefreshed", 0).
		AppendInt32("lastSessionsCollectionJobEntriesEnded", 0).
		AppendInt32("lastSessionsCollectionJobCursorsClosed", 0).
		AppendInt32("transactionReaperJobCount", 0).Build())
	r.out = out
	return nil
}

// cmdConnectionStatus reports who the connection logged in as and, with showPrivileges, what
// that user may do.
func cmdConnectionStatus(r *request) error {
	r.out = bsoncore.AppendDocumentElement(r.out, "authInfo", auth.AuthInfo(r.user(), r.boolArg("showPrivileges", false)))
	return nil
}

// cmdHostInfo describes the machine memshard runs on, in hostInfo's shape.
func cmdHostInfo(r *request) error {
	hostname, _ := os.Hostname()
	system := bsoncore.NewDocumentBuilder().AppendDateTime("currentTime", time.Now().UnixMilli()).
		AppendString("hostname", hostname).AppendInt32("cpuAddrSize", int32(strconv.IntSize)).
		AppendInt32("numCores", int32(runtime.NumCPU())).AppendString("cpuArch", runtime.GOARCH).
		AppendBoolean("numaEnabled", false).Build()
	osName := runtime.GOOS
	if len(osName) > 0 {
		osName = strings.ToUpper(osName[:1]) + osName[1:] // mongod reports "Linux", "Darwin", "Windows"
	}
	r.out = bsoncore.AppendDocumentElement(r.out, "system", system)
	r.out = bsoncore.AppendDocumentElement(r.out, "os", bsoncore.NewDocumentBuilder().AppendString("type", osName).Build())
	r.out = bsoncore.AppendDocumentElement(r.out, "extra", bsoncore.NewDocumentBuilder().Build())
	return nil
}

// ramLogs are the in-memory logs getLog serves; memshard keeps them empty.
var ramLogs = []string{"global", "startupWarnings"}

func cmdGetLog(r *request) error {
	v := r.body.Index(0).Value()
	name, ok := v.StringValueOK()
	switch {
	case !ok:
		return mongoerr.New(mongoerr.TypeMismatch, "Argument to getLog must be of type String; found %s of type %s",
			shellValue(rawValue(v)), mongoerr.TypeName(v.Type))
	case name == "*":
		r.out = appendStrings(r.out, "names", ramLogs)
	case slices.Contains(ramLogs, name):
		r.out = bsoncore.AppendInt64Element(r.out, "totalLinesWritten", 0)
		r.out = appendStrings(r.out, "log", nil)
	default:
		return mongoerr.New(mongoerr.OperationFailed, "no RamLog named: %s", name)
	}
	return nil
}
