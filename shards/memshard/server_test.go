package memshard

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

func TestHelloFields(t *testing.T) {
	rs := startSet(t, 3)
	hosts := rs.Hosts()
	for _, tc := range []struct {
		name, cmd, primaryKey string
		member                int
	}{
		{"hello on primary", "hello", "isWritablePrimary", 0},
		{"hello on secondary", "hello", "isWritablePrimary", 2},
		{"isMaster", "isMaster", "ismaster", 0},
		{"ismaster", "ismaster", "ismaster", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, hosts[tc.member])
			reply := mustOK(t, c.run(bson.D{{Key: tc.cmd, Value: 1}, {Key: "helloOk", Value: true}, {Key: "$db", Value: "admin"}}))
			isPrimary := tc.member == 0
			if got := reply.Lookup(tc.primaryKey).Boolean(); got != isPrimary {
				t.Errorf("%s = %v", tc.primaryKey, got)
			}
			if got := reply.Lookup("secondary").Boolean(); got == isPrimary {
				t.Errorf("secondary = %v", got)
			}
			checks := map[string]bson.RawValue{
				"setName": bsonValue(t, "rs0"), "primary": bsonValue(t, hosts[0]), "me": bsonValue(t, hosts[tc.member]),
				"minWireVersion": bsonValue(t, int32(0)), "maxWireVersion": bsonValue(t, int32(25)),
				"logicalSessionTimeoutMinutes": bsonValue(t, int32(30)), "maxBsonObjectSize": bsonValue(t, int32(16777216)),
				"maxMessageSizeBytes": bsonValue(t, int32(48000000)), "maxWriteBatchSize": bsonValue(t, int32(100000)),
				"helloOk": bsonValue(t, true),
			}
			for k, want := range checks {
				if got := reply.Lookup(k); !got.Equal(want) {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			if arr, ok := reply.Lookup("hosts").ArrayOK(); !ok || len(mustValues(t, arr)) != 3 {
				t.Errorf("hosts = %v", reply.Lookup("hosts"))
			}
			if _, ok := reply.Lookup("topologyVersion", "processId").ObjectIDOK(); !ok {
				t.Errorf("topologyVersion.processId missing: %s", reply)
			}
			if _, ok := reply.Lookup("topologyVersion", "counter").Int64OK(); !ok {
				t.Errorf("topologyVersion.counter not int64: %s", reply)
			}
			if _, ok := reply.Lookup("connectionId").AsInt64OK(); !ok {
				t.Errorf("connectionId missing")
			}
			if _, ok := reply.Lookup("electionId").ObjectIDOK(); ok != isPrimary {
				t.Errorf("electionId present = %v on primary = %v", ok, isPrimary)
			}
			checkClusterTime(t, reply)
		})
	}
}

func bsonValue(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, data, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: data}
}

func mustValues(t *testing.T, arr bson.RawArray) []bson.RawValue {
	t.Helper()
	vals, err := arr.Values()
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

// checkClusterTime checks the $clusterTime / operationTime shape of a reply.
func checkClusterTime(t *testing.T, reply bson.Raw) bson.Timestamp {
	t.Helper()
	ts, i, ok := reply.Lookup("$clusterTime", "clusterTime").TimestampOK()
	if !ok || ts == 0 {
		t.Fatalf("no $clusterTime in %s", reply)
	}
	if sub, hash, ok := reply.Lookup("$clusterTime", "signature", "hash").BinaryOK(); !ok || sub != 0 || len(hash) != 20 {
		t.Errorf("bad signature hash in %s", reply)
	}
	if _, ok := reply.Lookup("$clusterTime", "signature", "keyId").Int64OK(); !ok {
		t.Errorf("signature.keyId not int64 in %s", reply)
	}
	if _, _, ok := reply.Lookup("operationTime").TimestampOK(); !ok {
		t.Errorf("no operationTime in %s", reply)
	}
	return bson.Timestamp{T: ts, I: i}
}

func TestOpQuery(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	for _, tc := range []struct {
		name string
		cmd  bson.D
		code mongoerr.Code
		msg  string
	}{
		{"isMaster", bson.D{{Key: "isMaster", Value: 1}, {Key: "helloOk", Value: true}}, 0, ""},
		{"hello", bson.D{{Key: "hello", Value: 1}}, 0, ""},
		{"wrapped in $query", bson.D{{Key: "$query", Value: bson.D{{Key: "ismaster", Value: 1}}}}, 0, ""},
		{"find", bson.D{{Key: "find", Value: "c"}}, mongoerr.UnsupportedOpQueryCommand, "Unsupported OP_QUERY command: find"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.id++
			c.write(wire.AppendQuery(nil, c.id, "admin.$cmd", -1, marshal(t, tc.cmd)))
			_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			frame, err := wire.ReadFrame(c.nc, nil)
			if err != nil {
				t.Fatal(err)
			}
			reply, err := wire.ParseReply(frame)
			if err != nil || len(reply.Documents) != 1 || reply.Header.ResponseTo != c.id {
				t.Fatalf("bad OP_REPLY: %v %+v", err, reply)
			}
			doc := bson.Raw(reply.Documents[0])
			if tc.code != 0 {
				wantCode(t, doc, tc.code, tc.msg)
				return
			}
			mustOK(t, doc)
			key := "isWritablePrimary"
			if tc.name != "hello" {
				key = "ismaster"
			}
			if !doc.Lookup(key).Boolean() {
				t.Errorf("%s not true: %s", key, doc)
			}
		})
	}
}

func TestCommandErrors(t *testing.T) {
	rs := startSet(t, 2)
	primary := dialRaw(t, rs.Hosts()[0])
	secondary := dialRaw(t, rs.Hosts()[1])
	lsid := lsidDoc(newLSID())
	for _, tc := range []struct {
		name string
		c    *rawClient
		cmd  bson.D
		code mongoerr.Code
		msg  string
	}{
		{"unknown command", primary, bson.D{{Key: "frobnicate", Value: 1}, {Key: "$db", Value: "test"}},
			mongoerr.CommandNotFound, "no such command: 'frobnicate'"},
		{"missing $db", primary, bson.D{{Key: "ping", Value: 1}}, codeMissingDB, "OP_MSG requests require a $db argument"},
		{"admin only", primary, bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "off"}, {Key: "$db", Value: "test"}},
			mongoerr.Unauthorized, "configureFailPoint may only be run against the admin database."},
		{"write on secondary", secondary, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "$db", Value: "test"}},
			mongoerr.NotWritablePrimary, "not primary"},
		{"primary read on secondary", secondary, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}},
			mongoerr.NotPrimaryNoSecondaryOk, "not primary and secondaryOk=false"},
		{"txnNumber on hello", primary, bson.D{{Key: "hello", Value: 1}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "admin"}},
			mongoerr.TxnNumberNotAllowed, "It is illegal to provide a txnNumber for this command"},
		{"txnNumber on find", primary, bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "test"}},
			mongoerr.NotARetryableWriteCommand, "txnNumber may only be provided for multi-document transactions and retryable write commands. autocommit:false was not provided, and find is not a retryable write command."},
		{"txnNumber without lsid", primary, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "test"}},
			mongoerr.InvalidOptions, "Transaction number requires a session ID to also be specified"},
		{"bad lsid", primary, bson.D{{Key: "ping", Value: 1}, {Key: "lsid", Value: "x"}, {Key: "$db", Value: "admin"}}, 0, ""},
		{"lsid type", primary, bson.D{{Key: "find", Value: "c"}, {Key: "lsid", Value: "x"}, {Key: "$db", Value: "test"}},
			mongoerr.TypeMismatch, "BSON field 'OperationSessionInfo.lsid' is the wrong type 'string', expected type 'object'"},
		{"count in transaction", primary, bson.D{{Key: "count", Value: "c"}, {Key: "lsid", Value: lsid}, {Key: "txnNumber", Value: int64(1)},
			{Key: "autocommit", Value: false}, {Key: "startTransaction", Value: true}, {Key: "$db", Value: "test"}},
			mongoerr.OperationNotSupportedInTransaction, "Cannot run 'count' in a multi-document transaction."},
		{"getMore of unknown cursor", primary, bson.D{{Key: "getMore", Value: int64(42)}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}},
			mongoerr.CursorNotFound, "cursor id 42 not found"},
		{"getMore id not long", primary, bson.D{{Key: "getMore", Value: 42}, {Key: "collection", Value: "c"}, {Key: "$db", Value: "test"}},
			mongoerr.TypeMismatch, "BSON field 'getMore.getMore' is the wrong type 'int', expected type 'long'"},
		{"bad filter", primary, bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "a", Value: bson.D{{Key: "$bogus", Value: 1}}}}}, {Key: "$db", Value: "test"}},
			mongoerr.BadValue, "unknown operator: $bogus"},
		{"snapshot read concern on a write", primary, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}},
			{Key: "readConcern", Value: bson.D{{Key: "level", Value: "snapshot"}}}, {Key: "$db", Value: "test"}},
			mongoerr.InvalidOptions, `Command does not support read concern { level: "snapshot" }`},
		{"empty insert", primary, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{}}, {Key: "$db", Value: "test"}},
			mongoerr.InvalidLength, "Write batch sizes must be between 1 and 100000. Got 0 operations."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := tc.c.run(tc.cmd)
			if tc.code == 0 {
				mustOK(t, reply) // commands that need no auth ignore session fields
				return
			}
			wantCode(t, reply, tc.code, tc.msg)
			checkClusterTime(t, reply)
			if isStateChange(tc.code) {
				if _, ok := reply.Lookup("topologyVersion").DocumentOK(); !ok {
					t.Errorf("state change error without topologyVersion: %s", reply)
				}
			}
		})
	}
}

func TestMalformedFrameClosesConnection(t *testing.T) {
	rs := startSet(t, 1)
	hello := marshal(t, bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}})
	badFlags := wire.AppendMsg(nil, 1, 0, 0, hello)
	binary.LittleEndian.PutUint32(badFlags[16:], 1<<5) // an unknown required flag bit
	for _, tc := range []struct {
		name      string
		frame     []byte
		wantReply bool
	}{
		{"length below header", binary.LittleEndian.AppendUint32(nil, 4), false},
		{"length above limit", binary.LittleEndian.AppendUint32(nil, 50_000_000), false},
		{"unknown opcode", wiremessage.AppendHeader(nil, 16, 1, 0, 2004+7), false},
		{"unknown required flag", badFlags, true},
		{"body is not BSON", wire.SetLength(append(wiremessage.AppendMsgFlags(wiremessage.AppendHeader(nil, 0, 1, 0, wire.OpMsg), 0), 0, 9, 0, 0, 0, 1, 2, 3, 4, 5)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, rs.Hosts()[0])
			c.write(tc.frame)
			msg, err := c.recv(5 * time.Second)
			if tc.wantReply {
				if err != nil {
					t.Fatalf("want an error reply before the close, got %v", err)
				}
				if e := outcome.ErrOf(msg.Body); e == nil {
					t.Fatalf("want an error reply, got %s", bson.Raw(msg.Body))
				}
				_, err = c.recv(5 * time.Second)
			}
			if !errors.Is(err, io.EOF) && !isConnReset(err) {
				t.Fatalf("want the connection closed, got %v", err)
			}
		})
	}
	// The member still serves new connections.
	mustOK(t, dialRaw(t, rs.Hosts()[0]).run(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}}))
}

func isConnReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func TestCompression(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	reply := mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "compression", Value: bson.A{"lz4", "zlib", "zstd"}}, {Key: "$db", Value: "admin"}}))
	got := mustValues(t, reply.Lookup("compression").Array())
	if len(got) != 2 || got[0].StringValue() != "zlib" || got[1].StringValue() != "zstd" {
		t.Fatalf("compression = %v, want [zlib zstd]", got)
	}
	for _, comp := range []string{"snappy", "zlib", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			client := connect(t, rs.URI(), options.Client().SetCompressors([]string{comp}))
			coll := client.Database("comp").Collection(comp)
			docs := make([]any, 50)
			for i := range docs {
				docs[i] = bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: string(make([]byte, 500))}}
			}
			if _, err := coll.InsertMany(ctxT(t), docs); err != nil {
				t.Fatal(err)
			}
			n, err := coll.CountDocuments(ctxT(t), bson.D{})
			if err != nil || n != 50 {
				t.Fatalf("count = %d, %v", n, err)
			}
		})
	}
}

func TestAwaitableHello(t *testing.T) {
	rs := startSet(t, 2)
	c := dialRaw(t, rs.Hosts()[1])
	first := mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}))
	tv := first.Lookup("topologyVersion").Document()
	awaitable := bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv}, {Key: "maxAwaitTimeMS", Value: int64(30000)}, {Key: "$db", Value: "admin"}}

	// Nothing changes: the reply comes after maxAwaitTimeMS.
	start := time.Now()
	mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv}, {Key: "maxAwaitTimeMS", Value: int64(100)}, {Key: "$db", Value: "admin"}}))
	if waited := time.Since(start); waited < 90*time.Millisecond {
		t.Errorf("awaitable hello answered after %v, want about 100ms", waited)
	}

	// A step down answers at once.
	c.send(0, awaitable)
	if _, err := c.recv(100 * time.Millisecond); err == nil {
		t.Fatal("awaitable hello answered before anything changed")
	}
	if err := rs.StepDown(1); err != nil {
		t.Fatal(err)
	}
	msg, err := c.recv(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	reply := bson.Raw(msg.Body)
	if !reply.Lookup("isWritablePrimary").Boolean() {
		t.Fatalf("member 1 should be primary: %s", reply)
	}
	if got, was := reply.Lookup("topologyVersion", "counter").Int64(), tv.Lookup("counter").Int64(); got <= was {
		t.Fatalf("counter %d not above %d", got, was)
	}

	// Argument errors.
	for _, tc := range []struct {
		name string
		cmd  bson.D
		code mongoerr.Code
	}{
		{"tv without wait", bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv}, {Key: "$db", Value: "admin"}}, codeAwaitNeedsBoth},
		{"wait without tv", bson.D{{Key: "hello", Value: 1}, {Key: "maxAwaitTimeMS", Value: int64(1)}, {Key: "$db", Value: "admin"}}, codeAwaitNeedsBoth},
		{"negative wait", bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv}, {Key: "maxAwaitTimeMS", Value: int64(-1)}, {Key: "$db", Value: "admin"}}, codeNegativeAwait},
	} {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, c.run(tc.cmd), tc.code, "") })
	}
}

func TestExhaustHello(t *testing.T) {
	rs := startSet(t, 2)
	c := dialRaw(t, rs.Hosts()[0])
	first := mustOK(t, c.run(bson.D{{Key: "hello", Value: 1}, {Key: "$db", Value: "admin"}}))
	tv := first.Lookup("topologyVersion").Document()
	reqID := c.send(wire.ExhaustAllowed, bson.D{{Key: "hello", Value: 1}, {Key: "topologyVersion", Value: tv},
		{Key: "maxAwaitTimeMS", Value: int64(50)}, {Key: "$db", Value: "admin"}})
	prev := reqID
	for i := 0; i < 3; i++ { // streamed replies, each after maxAwaitTimeMS
		msg, err := c.recv(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Flags&wire.MoreToCome == 0 || msg.Header.ResponseTo != prev {
			t.Fatalf("reply %d: flags %v responseTo %d, want moreToCome answering %d", i, msg.Flags, msg.Header.ResponseTo, prev)
		}
		prev = msg.Header.RequestID
	}
	if err := rs.StepDown(1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a streamed hello showing the step down", func() bool {
		msg, err := c.recv(5 * time.Second)
		return err == nil && !bson.Raw(msg.Body).Lookup("isWritablePrimary").Boolean()
	})
}

func TestClusterTime(t *testing.T) {
	rs := startSet(t, 2)
	c := dialRaw(t, rs.Hosts()[0])
	before := checkClusterTime(t, mustOK(t, c.run(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})))
	reply := mustOK(t, c.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "$db", Value: "test"}}))
	after := checkClusterTime(t, reply)
	opT, opI, _ := reply.Lookup("operationTime").TimestampOK()
	if !after.After(before) || (bson.Timestamp{T: opT, I: opI}) != after {
		t.Fatalf("a write did not advance the clock: before %v after %v op %d/%d", before, after, opT, opI)
	}
	future := bson.Timestamp{T: after.T + 1000, I: 7}
	gossip := bson.D{{Key: "ping", Value: 1}, {Key: "$clusterTime", Value: bson.D{{Key: "clusterTime", Value: future},
		{Key: "signature", Value: bson.D{{Key: "hash", Value: bson.Binary{Data: make([]byte, 20)}}, {Key: "keyId", Value: int64(0)}}}}},
		{Key: "$db", Value: "admin"}}
	mustOK(t, c.run(gossip))
	// The clock is per set: the secondary reports the gossiped time too.
	got := checkClusterTime(t, mustOK(t, dialRaw(t, rs.Hosts()[1]).run(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})))
	if got != future {
		t.Fatalf("clusterTime %v, want the gossiped %v", got, future)
	}
}

func TestInfoCommands(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	for _, tc := range []struct {
		name  string
		cmd   bson.D
		check func(bson.Raw) bool
	}{
		{"buildInfo", bson.D{{Key: "buildInfo", Value: 1}, {Key: "$db", Value: "admin"}}, func(r bson.Raw) bool {
			return r.Lookup("version").StringValue() == "8.0.4" && len(mustValues(t, r.Lookup("versionArray").Array())) == 4
		}},
		{"ping", bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "x"}}, func(bson.Raw) bool { return true }},
		{"getParameter fcv", bson.D{{Key: "getParameter", Value: 1}, {Key: "featureCompatibilityVersion", Value: 1}, {Key: "$db", Value: "admin"}},
			func(r bson.Raw) bool {
				return r.Lookup("featureCompatibilityVersion", "version").StringValue() == "8.0" && r.Lookup("maxSessions").Type == 0
			}},
		{"getParameter *", bson.D{{Key: "getParameter", Value: "*"}, {Key: "$db", Value: "admin"}}, func(r bson.Raw) bool {
			return r.Lookup("localLogicalSessionTimeoutMinutes").Int32() == 30 && r.Lookup("maxSessions").Int32() == 1_000_000
		}},
		{"serverStatus", bson.D{{Key: "serverStatus", Value: 1}, {Key: "$db", Value: "admin"}}, func(r bson.Raw) bool {
			return r.Lookup("process").StringValue() == "mongod" && r.Lookup("host").StringValue() == rs.Hosts()[0] &&
				r.Lookup("connections", "current").Int32() >= 1 && r.Lookup("pid").Int64() == int64(os.Getpid()) &&
				r.Lookup("logicalSessionRecordCache", "activeSessionsCount").Type == bson.TypeInt32
		}},
		{"connectionStatus", bson.D{{Key: "connectionStatus", Value: 1}, {Key: "showPrivileges", Value: true}, {Key: "$db", Value: "test"}}, func(r bson.Raw) bool {
			return len(mustValues(t, r.Lookup("authInfo", "authenticatedUsers").Array())) == 0 &&
				r.Lookup("authInfo", "authenticatedUserPrivileges").Type == bson.TypeArray
		}},
		{"hostInfo", bson.D{{Key: "hostInfo", Value: 1}, {Key: "$db", Value: "admin"}}, func(r bson.Raw) bool {
			return r.Lookup("system", "numCores").Int32() >= 1 && r.Lookup("system", "currentTime").Type == bson.TypeDateTime &&
				r.Lookup("os", "type").StringValue() != ""
		}},
		{"getLog *", bson.D{{Key: "getLog", Value: "*"}, {Key: "$db", Value: "admin"}}, func(r bson.Raw) bool {
			return r.Lookup("names").String() == `["global","startupWarnings"]`
		}},
		{"getLog global", bson.D{{Key: "getLog", Value: "global"}, {Key: "$db", Value: "admin"}}, func(r bson.Raw) bool {
			return r.Lookup("log").Type == bson.TypeArray && r.Lookup("totalLinesWritten").Type == bson.TypeInt64
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if reply := mustOK(t, c.run(tc.cmd)); !tc.check(reply) {
				t.Fatalf("unexpected reply %s", reply)
			}
		})
	}
	wantCode(t, c.run(bson.D{{Key: "getParameter", Value: 1}, {Key: "nope", Value: 1}, {Key: "$db", Value: "admin"}}),
		mongoerr.InvalidOptions, "no option found to get")
	wantCode(t, c.run(bson.D{{Key: "getLog", Value: 5}, {Key: "$db", Value: "admin"}}),
		mongoerr.TypeMismatch, "Argument to getLog must be of type String; found 5 of type int")
	wantCode(t, c.run(bson.D{{Key: "getLog", Value: "global"}, {Key: "$db", Value: "test"}}), mongoerr.Unauthorized, "")
}

func TestUnsatisfiableWriteConcern(t *testing.T) {
	rs := startSet(t, 3)
	c := dialRaw(t, rs.Hosts()[0])
	for _, tc := range []struct {
		w       any
		wantWCE bool
	}{{3, false}, {"majority", false}, {4, true}} {
		reply := mustOK(t, c.run(bson.D{{Key: "insert", Value: "wc"}, {Key: "documents", Value: bson.A{bson.D{}}},
			{Key: "writeConcern", Value: bson.D{{Key: "w", Value: tc.w}}}, {Key: "$db", Value: "test"}}))
		if reply.Lookup("n").Int32() != 1 {
			t.Fatalf("w %v: the write was not applied: %s", tc.w, reply)
		}
		wce, has := reply.Lookup("writeConcernError").DocumentOK()
		if has != tc.wantWCE || has && (wce.Lookup("code").Int32() != 100 || wce.Lookup("codeName").StringValue() != "UnsatisfiableWriteConcern") {
			t.Fatalf("w %v: %s", tc.w, reply)
		}
	}
}
