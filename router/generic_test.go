package router

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// argSample is a valid client value of one generic argument, the fields it needs beside it,
// and the command that carries it (insert unless a read needs it).
type argSample struct {
	value any
	with  bson.D
	find  bool
}

func newUUID(t *testing.T) bson.Binary {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return bson.Binary{Subtype: 4, Data: b}
}

// argSamples has a sample for every argument of the table; a new argument without one fails the
// test, so the table and its test stay together.
func argSamples(t *testing.T, lsid bson.Binary) map[string]argSample {
	session := bson.D{{Key: "lsid", Value: bson.D{{Key: "id", Value: lsid}}}}
	txn := func(n int64) bson.D { return append(session[:1:1], bson.E{Key: "txnNumber", Value: n}) }
	doc := bson.D{{Key: "x", Value: int32(1)}}
	return map[string]argSample{
		"apiVersion":                       {value: "1"},
		"apiStrict":                        {value: false, with: bson.D{{Key: "apiVersion", Value: "1"}}},
		"apiDeprecationErrors":             {value: false, with: bson.D{{Key: "apiVersion", Value: "1"}}},
		"maxTimeMS":                        {value: int32(60000)},
		"readConcern":                      {value: bson.D{{Key: "level", Value: "local"}}, find: true},
		"writeConcern":                     {value: bson.D{{Key: "w", Value: int32(1)}}},
		"lsid":                             {value: bson.D{{Key: "id", Value: lsid}}},
		"clientOperationKey":               {value: newUUID(t)},
		"txnNumber":                        {value: int64(3), with: session},
		"autocommit":                       {value: false, with: append(txn(1), bson.E{Key: "startTransaction", Value: true})},
		"startTransaction":                 {value: true, with: append(txn(2), bson.E{Key: "autocommit", Value: false})},
		"stmtId":                           {value: int32(0)},
		"comment":                          {value: "a comment"},
		"$readPreference":                  {value: bson.D{{Key: "mode", Value: "secondaryPreferred"}, {Key: "tags", Value: bson.A{bson.D{}}}}, find: true},
		"$audit":                           {value: bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "admin"}, {Key: "db", Value: "admin"}}}, {Key: "$impersonatedRoles", Value: bson.A{bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: "admin"}}}}}},
		"$client":                          {value: bson.D{{Key: "driver", Value: bson.D{{Key: "name", Value: "forged"}, {Key: "version", Value: "0"}}}}},
		"$configServerState":               {value: bson.D{{Key: "opTime", Value: bson.D{{Key: "ts", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "t", Value: int64(1)}}}}},
		"allowImplicitCollectionCreation":  {value: false},
		"$oplogQueryData":                  {value: doc},
		"$queryOptions":                    {value: bson.D{}},
		"$replData":                        {value: doc},
		"databaseVersion":                  {value: bson.D{{Key: "uuid", Value: newUUID(t)}, {Key: "timestamp", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "lastMod", Value: int32(1)}}},
		"shardVersion":                     {value: bson.D{{Key: "e", Value: bson.NewObjectID()}, {Key: "t", Value: bson.Timestamp{T: 1, I: 1}}, {Key: "v", Value: bson.Timestamp{T: 1, I: 0}}}},
		"tracking_info":                    {value: doc},
		"coordinator":                      {value: true},
		"maxTimeMSOpOnly":                  {value: int64(1)},
		"$configTime":                      {value: bson.Timestamp{T: 1, I: 1}},
		"$topologyTime":                    {value: bson.Timestamp{T: 1, I: 1}},
		"txnRetryCounter":                  {value: int32(1)},
		"mayBypassWriteBlocking":           {value: true},
		"$tenant":                          {value: bson.NewObjectID()},
		"expectPrefix":                     {value: true},
		"mayBypassReplicaSetWriteBlocking": {value: true},
		"versionContext":                   {value: doc},
		"executionAdmissionContextType":    {value: "exempt"},
		"ifrFlags":                         {value: bson.A{}},
		"ifrSenderVersion":                 {value: doc},
		"isDirectSystemBucketsAccess":      {value: true},
		"isExternalClientOnRouter":         {value: true},
		"rawData":                          {value: true},
	}
}

// userMay reports whether a trust-table user holds a cluster action (auth on).
func userMay(user, action string) bool {
	switch action {
	case "impersonate":
		return user == "imp"
	case "internal":
		return user == "intern"
	}
	return false
}

// expectedRefusal is the error the router must answer an argument with, for this caller.
func expectedRefusal(a command.Argument, m trustMode, user string) mongoerr.Code {
	switch {
	case a.Refusal == nil:
		return 0
	case a.Needs == "":
		return a.Refusal.Code // nobody may send it
	case !m.auth || userMay(user, a.Needs):
		return 0 // without authentication every client holds every action, as in mongod
	}
	return a.Refusal.Code
}

// TestGenericArguments sends every generic argument of the table, as each kind of client, through
// a router in each trust mode, and checks the refusal and its code, or exactly what the shard
// received: the client's value, nothing, or the router's own.
func TestGenericArguments(t *testing.T) {
	checkLeaks(t)
	marker := int32(0)
	for _, m := range trustModes {
		t.Run(m.name, func(t *testing.T) {
			addr, log := trustCluster(t, m)
			users := []string{""}
			if m.auth {
				users = []string{"alice", "imp", "intern"}
			}
			for _, user := range users {
				rc := dialRaw(t, addr, user)
				lsid := newUUID(t)
				samples := argSamples(t, lsid)
				for _, a := range command.Arguments() {
					if a.Name == "$db" || a.Name == "$clusterTime" {
						continue // every command carries them: checked by checkRouterArgs and the cluster-time tests
					}
					s, ok := samples[a.Name]
					if !ok {
						t.Fatalf("no sample for generic argument %s", a.Name)
					}
					marker++
					t.Run(fmt.Sprintf("%s/%s", userName(user), a.Name), func(t *testing.T) {
						body, name := argCommand(t, a.Name, s, marker)
						reply := rc.run(t, body)
						want := expectedRefusal(a, m, user)
						got := log.find(name, marker)
						if want != 0 {
							if code := replyCode(reply); code != want {
								t.Fatalf("reply %v, want refusal %d", bson.Raw(reply), want)
							}
							if got != nil {
								t.Fatalf("a refused command reached the shard: %v", got)
							}
							return
						}
						if got == nil {
							t.Fatalf("the shard received nothing; reply %v", bson.Raw(reply))
						}
						checkArgument(t, a, m, user, s, got)
						checkRouterArgs(t, m, user, a.Name, got)
					})
				}
			}
		})
	}
}

func userName(user string) string {
	if user == "" {
		return "anyone"
	}
	return user
}

// argCommand is an insert (or a find) in test.c carrying the argument, its companions and the
// marker that finds it in the shard's log.
func argCommand(t *testing.T, name string, s argSample, marker int32) (bsoncore.Document, string) {
	var d bson.D
	if s.find {
		d = bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "marker", Value: marker}}}}
	} else {
		d = bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "marker", Value: marker}}}}}
	}
	d = append(d, s.with...)
	d = append(d, bson.E{Key: name, Value: s.value}, bson.E{Key: "$db", Value: "test"})
	return mustMarshal(t, d), d[0].Key
}

// checkArgument checks what the shard received of argument a.
func checkArgument(t *testing.T, a command.Argument, m trustMode, user string, s argSample, got bson.Raw) {
	t.Helper()
	sent := mustMarshal(t, bson.D{{Key: "v", Value: s.value}})
	sentVal := bson.Raw(sent).Lookup("v")
	recv, present := got.Lookup(a.Name), got.Lookup(a.Name).Type != 0
	same := present && recv.Type == sentVal.Type && bytes.Equal(recv.Value, sentVal.Value)
	switch a.Disposition {
	case command.Forward:
		if !same {
			t.Fatalf("%s: the shard got %v, want the client's %v", a.Name, recv, sentVal)
		}
	case command.Drop:
		if present {
			t.Fatalf("%s reached the shard: %v", a.Name, recv)
		}
	case command.Replace:
		mayKeep := a.Needs != "" && (!m.auth || userMay(user, a.Needs))
		switch {
		case a.Name == "$audit" && !m.auth:
			if present {
				t.Fatalf("$audit reached the shard without authentication: %v", recv)
			}
		case mayKeep:
			if !same {
				t.Fatalf("%s: the shard got %v, want the allowed client's %v", a.Name, recv, sentVal)
			}
		case same:
			t.Fatalf("%s: the client's value reached the shard unchanged: %v", a.Name, recv)
		}
		checkReplaced(t, a.Name, got)
	default:
		t.Fatalf("%s: disposition %v in the table", a.Name, a.Disposition)
	}
}

// checkReplaced checks the router's own value of a replaced argument.
func checkReplaced(t *testing.T, name string, got bson.Raw) {
	t.Helper()
	switch name {
	case "lsid":
		if _, uid, ok := got.Lookup("lsid", "uid").BinaryOK(); !ok || len(uid) != 32 {
			t.Fatalf("the shard's lsid has no uid: %v", got.Lookup("lsid"))
		}
	case "$readPreference":
		want := mustMarshal(t, bson.D{{Key: "mode", Value: "secondaryPreferred"}})
		if doc, ok := got.Lookup("$readPreference").DocumentOK(); !ok || !bytes.Equal(doc, want) {
			t.Fatalf("the shard's $readPreference is %v, want the router's %v", got.Lookup("$readPreference"), bson.Raw(want))
		}
	case "$client":
		if _, err := got.LookupErr("$client", "mongos", "host"); err != nil {
			t.Fatalf("the shard's $client has no mongos part: %v", got.Lookup("$client"))
		}
	}
}

// checkRouterArgs checks what the router sends of its own with every command: the caller as
// $audit with authentication (unless an impersonator sent its own), none without; and whether
// the caller may bypass user write blocking.
func checkRouterArgs(t *testing.T, m trustMode, user, arg string, got bson.Raw) {
	t.Helper()
	audit := got.Lookup("$audit", "$impersonatedUser", "user")
	switch {
	case !m.auth && audit.Type != 0:
		t.Fatalf("$audit without authentication: %v", got.Lookup("$audit"))
	case m.auth && arg != "$audit" && audit.StringValue() != user:
		t.Fatalf("the shard's $audit names %v, want %s", got.Lookup("$audit"), user)
	}
	if arg == "mayBypassWriteBlocking" {
		return
	}
	bypass, ok := got.Lookup("mayBypassWriteBlocking").BooleanOK()
	if !ok || bypass != !m.auth {
		t.Fatalf("mayBypassWriteBlocking %v, want %v", got.Lookup("mayBypassWriteBlocking"), !m.auth)
	}
	if db, _ := got.Lookup("$db").StringValueOK(); db != "test" {
		t.Fatalf("$db %q", db)
	}
}

// TestTrustBoundaryAttacks replays the review's attacks with their expected answers written out,
// independently of the table: impersonation metadata from anyone without impersonate (root
// included) is Unauthorized with mongod's message, on hello as on find; mayBypassWriteBlocking
// needs the internal action; internal routing fields never reach the shard.
func TestTrustBoundaryAttacks(t *testing.T) {
	checkLeaks(t)
	addr, log := trustCluster(t, trustModes[1])
	audit := bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "admin"}, {Key: "db", Value: "admin"}}},
		{Key: "$impersonatedRoles", Value: bson.A{bson.D{{Key: "role", Value: "root"}, {Key: "db", Value: "admin"}}}}}
	for _, tc := range []struct {
		name, user string
		cmd        bson.D
		code       mongoerr.Code
		msg        string
	}{
		{"hello with $audit, not logged in", "", bson.D{{Key: "hello", Value: 1}, {Key: "$audit", Value: audit}, {Key: "$db", Value: "admin"}},
			mongoerr.Unauthorized, "Unauthorized use of impersonation metadata."},
		{"hello with $audit", "alice", bson.D{{Key: "hello", Value: 1}, {Key: "$audit", Value: audit}, {Key: "$db", Value: "admin"}},
			mongoerr.Unauthorized, "Unauthorized use of impersonation metadata."},
		{"find with $audit as root", "rooty", bson.D{{Key: "find", Value: "c"}, {Key: "$audit", Value: audit}, {Key: "$db", Value: "test"}},
			mongoerr.Unauthorized, "Unauthorized use of impersonation metadata."},
		{"insert bypassing write blocking", "alice", bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}},
			{Key: "mayBypassWriteBlocking", Value: true}, {Key: "$db", Value: "test"}},
			6317500, "Client is not properly authorized to propagate mayBypassWriteBlocking"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := dialRaw(t, addr, tc.user).run(t, mustMarshal(t, tc.cmd))
			e := outcome.ErrOf(reply)
			if e == nil || e.Code != tc.code || e.Msg != tc.msg {
				t.Fatalf("reply %v, want %d %q", bson.Raw(reply), tc.code, tc.msg)
			}
		})
	}
	// Internal fields are accepted from an authorized client but never forwarded.
	rc := dialRaw(t, addr, "alice")
	cmd := bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "marker", Value: int32(-1)}}}},
		{Key: "shardVersion", Value: bson.D{{Key: "e", Value: bson.NewObjectID()}}}, {Key: "databaseVersion", Value: bson.D{}},
		{Key: "$configServerState", Value: bson.D{}}, {Key: "$topologyTime", Value: bson.Timestamp{T: 1}},
		{Key: "$configTime", Value: bson.Timestamp{T: 1}}, {Key: "$db", Value: "test"}}
	if reply := rc.run(t, mustMarshal(t, cmd)); replyCode(reply) != 0 {
		t.Fatalf("insert: %v", bson.Raw(reply))
	}
	got := log.find("insert", -1)
	if got == nil {
		t.Fatal("the insert did not reach the shard")
	}
	for _, f := range []string{"shardVersion", "databaseVersion", "$configServerState", "$topologyTime", "$configTime"} {
		if _, err := got.LookupErr(f); err == nil {
			t.Errorf("%s reached the shard", f)
		}
	}
	if u := got.Lookup("$audit", "$impersonatedUser", "user").StringValue(); u != "alice" {
		t.Errorf("the shard's $audit names %q, want alice", u)
	}
	// The session commands the router builds for the caller carry the caller too.
	lsid := bson.D{{Key: "id", Value: newUUID(t)}}
	for _, cmd := range []bson.D{
		{{Key: "endSessions", Value: bson.A{lsid}}, {Key: "$db", Value: "admin"}},
		{{Key: "killSessions", Value: bson.A{lsid}}, {Key: "$db", Value: "admin"}},
	} {
		before := log.count()
		if reply := rc.run(t, mustMarshal(t, cmd)); replyCode(reply) != 0 {
			t.Fatalf("%s: %v", cmd[0].Key, bson.Raw(reply))
		}
		if !log.sawAudit(before, "alice") {
			t.Errorf("%s reached the shard without alice as $audit", cmd[0].Key)
		}
	}
}

// sawAudit reports whether a command received after the first `from` names user in $audit.
func (l *commandLog) sawAudit(from int, user string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.got[from:] {
		if u, _ := r.Body.Lookup("$audit", "$impersonatedUser", "user").StringValueOK(); u == user {
			return true
		}
	}
	return false
}
