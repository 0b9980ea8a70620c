package router

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// TestWritesGoToThePrimary: a write sent with a secondary read preference goes to the primary
// (as mongos sends every write, batch_write_exec.cpp) and succeeds; a read with it goes to a
// secondary, which is told the mode so that it serves the read.
func TestWritesGoToThePrimary(t *testing.T) {
	checkLeaks(t)
	log := &commandLog{}
	rs, err := memshard.StartReplicaSet("rs0", 3, memshard.WithCommandLog(log.add))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	sh := openShard(t, shards.Config{Name: "s0", SetName: "rs0", Hosts: rs.Hosts(), Logger: zerolog.Nop(),
		ServerSelectionTimeout: 10 * time.Second, HeartbeatInterval: 500 * time.Millisecond})
	srv := serveRouter(t, Config{Logger: zerolog.Nop()}, sh)
	primary := rs.Hosts()[rs.Primary()]
	rc := dialRaw(t, srv.Addr(), "")
	secondary := bson.E{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: "secondary"}}}
	marker := func(n int32) bson.D { return bson.D{{Key: "marker", Value: n}} }
	for i, tc := range []struct {
		cmd   bson.D
		write bool
	}{
		{bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{marker(1)}}}, true},
		{bson.D{{Key: "create", Value: "d"}, {Key: "comment", Value: marker(2)}}, true},
		{bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: marker(1)}, {Key: "update", Value: bson.D{{Key: "$set", Value: marker(3)}}}}, true},
		{bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: marker(4)}}, bson.D{{Key: "$out", Value: "o"}}}},
			{Key: "cursor", Value: bson.D{}}}, true},
		{bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: marker(5)}}, false},
	} {
		cmd := append(tc.cmd, secondary, bson.E{Key: "$db", Value: "test"})
		reply := rc.run(t, mustMarshal(t, cmd))
		if code := replyCode(reply); code != 0 {
			t.Fatalf("%s with a secondary read preference: %v", tc.cmd[0].Key, bson.Raw(reply))
		}
		got := log.find(tc.cmd[0].Key, int32(i+1))
		if got == nil {
			t.Fatalf("%s did not reach the shard", tc.cmd[0].Key)
		}
		member := log.memberOf(got)
		if onPrimary := member == primary; onPrimary != tc.write {
			t.Fatalf("%s ran on %s (primary %s); want it on the primary: %v", tc.cmd[0].Key, member, primary, tc.write)
		}
		mode := got.Lookup("$readPreference", "mode")
		if tc.write && mode.Type != 0 || !tc.write && mode.StringValue() != "secondary" {
			t.Fatalf("%s reached the shard with $readPreference %v", tc.cmd[0].Key, got.Lookup("$readPreference"))
		}
	}
}

// memberOf is the member that received body (a command find returned).
func (l *commandLog) memberOf(body []byte) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.got {
		if &r.Body[0] == &body[0] {
			return r.Member
		}
	}
	return ""
}
