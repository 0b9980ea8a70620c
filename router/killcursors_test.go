package router

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestKillCursorsChecksTheRealNamespace: killing another user's cursor under a namespace the
// killer holds killAnyCursor on, but which is not the cursor's, finds nothing, kills nothing and
// makes the router forget nothing (as mongos's cluster cursor manager looks cursors up); under
// the cursor's own namespace it needs killAnyCursor there.
func TestKillCursorsChecksTheRealNamespace(t *testing.T) {
	checkLeaks(t)
	addr, _ := trustCluster(t, trustModes[1])
	alice := dialRaw(t, addr, "alice")
	alice.run(t, mustMarshal(t, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}, bson.D{}, bson.D{}}},
		{Key: "$db", Value: "test"}}))
	reply := alice.run(t, mustMarshal(t, bson.D{{Key: "find", Value: "c"}, {Key: "batchSize", Value: 1}, {Key: "$db", Value: "test"}}))
	id := bson.Raw(reply).Lookup("cursor", "id").Int64()
	if id == 0 {
		t.Fatalf("no cursor: %v", bson.Raw(reply))
	}
	kill := func(rc *rawClient, db, coll string) bsoncore.Document {
		return rc.run(t, mustMarshal(t, bson.D{{Key: "killCursors", Value: coll}, {Key: "cursors", Value: bson.A{id}}, {Key: "$db", Value: db}}))
	}
	ids := func(reply bsoncore.Document, field string) []int64 {
		arr, _ := bson.Raw(reply).Lookup(field).ArrayOK()
		vals, _ := arr.Values()
		var out []int64
		for _, v := range vals {
			out = append(out, v.Int64())
		}
		return out
	}
	killer := dialRaw(t, addr, "minekiller")
	reply = kill(killer, "mine", "x")
	if replyCode(reply) != 0 || !slices.Equal(ids(reply, "cursorsNotFound"), []int64{id}) || len(ids(reply, "cursorsKilled")) != 0 {
		t.Fatalf("killCursors under an invented namespace: %v", bson.Raw(reply))
	}
	if code := replyCode(kill(killer, "test", "c")); code != mongoerr.Unauthorized {
		t.Fatalf("killing alice's cursor without killAnyCursor on test.c: code %d", code)
	}
	more := alice.run(t, mustMarshal(t, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "c"}, {Key: "batchSize", Value: 1},
		{Key: "$db", Value: "test"}}))
	if code := replyCode(more); code != 0 {
		t.Fatalf("alice's cursor after the attempts: %v", bson.Raw(more))
	}
	if reply := kill(dialRaw(t, addr, "rooty"), "test", "c"); !slices.Equal(ids(reply, "cursorsKilled"), []int64{id}) {
		t.Fatalf("root's killCursors on the cursor's namespace: %v", bson.Raw(reply))
	}
}
