package router

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestNamesDoNotLeak: listDatabases and listCollections show a user only what it holds
// privileges on, as mongos filters them, whatever the shards (which see the router as their
// internal user) answer; getMore batches of a filtered cursor are filtered too.
func TestNamesDoNotLeak(t *testing.T) {
	checkLeaks(t)
	addr, _ := twoShards(t)
	root := dialRaw(t, addr, "rooty")
	for _, ns := range [][2]string{{"test", "visible"}, {"test", "hidden"}, {"test", "more"}, {"b", "secret"}} {
		root.run(t, mustMarshal(t, bson.D{{Key: "insert", Value: ns[1]}, {Key: "documents", Value: bson.A{bson.D{}}}, {Key: "$db", Value: ns[0]}}))
	}
	databases := func(rc *rawClient, extra ...bson.E) []string {
		cmd := append(bson.D{{Key: "listDatabases", Value: 1}}, extra...)
		reply := rc.run(t, mustMarshal(t, append(cmd, bson.E{Key: "$db", Value: "admin"})))
		var out struct{ Databases []struct{ Name string } }
		if err := bson.Unmarshal(reply, &out); err != nil || replyCode(reply) != 0 {
			t.Fatalf("listDatabases: %v %v", bson.Raw(reply), err)
		}
		var names []string
		for _, d := range out.Databases {
			names = append(names, d.Name)
		}
		return names
	}
	collections := func(rc *rawClient, db string, batch int32) []string {
		reply := rc.run(t, mustMarshal(t, bson.D{{Key: "listCollections", Value: 1}, {Key: "authorizedCollections", Value: true},
			{Key: "nameOnly", Value: true}, {Key: "cursor", Value: bson.D{{Key: "batchSize", Value: batch}}}, {Key: "$db", Value: db}}))
		var names []string
		for key := "firstBatch"; ; key = "nextBatch" {
			if code := replyCode(reply); code != 0 {
				t.Fatalf("listCollections: %v", bson.Raw(reply))
			}
			arr, _ := bson.Raw(reply).Lookup("cursor", key).ArrayOK()
			vals, _ := arr.Values()
			for _, v := range vals {
				names = append(names, v.Document().Lookup("name").StringValue())
			}
			id := bson.Raw(reply).Lookup("cursor", "id").Int64()
			if id == 0 {
				break
			}
			reply = rc.run(t, mustMarshal(t, bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "$cmd.listCollections"},
				{Key: "batchSize", Value: batch}, {Key: "$db", Value: db}}))
		}
		slices.Sort(names)
		return names
	}
	alice, narrow := dialRaw(t, addr, "alice"), dialRaw(t, addr, "narrow")
	if got := databases(alice); !slices.Equal(got, []string{"test"}) {
		t.Errorf("alice's listDatabases: %v, want [test]", got)
	}
	if got := databases(alice, bson.E{Key: "nameOnly", Value: true}); !slices.Equal(got, []string{"test"}) {
		t.Errorf("alice's listDatabases nameOnly: %v, want [test]", got)
	}
	if got := databases(root); !slices.Contains(got, "b") || !slices.Contains(got, "test") {
		t.Errorf("root's listDatabases: %v", got)
	}
	if got := databases(root, bson.E{Key: "authorizedDatabases", Value: false}); !slices.Contains(got, "b") {
		t.Errorf("root's unfiltered listDatabases: %v", got)
	}
	reply := alice.run(t, mustMarshal(t, bson.D{{Key: "listDatabases", Value: 1}, {Key: "authorizedDatabases", Value: false}, {Key: "$db", Value: "admin"}}))
	if code := replyCode(reply); code != 13 {
		t.Errorf("alice's unfiltered listDatabases: %v, want Unauthorized", bson.Raw(reply))
	}
	for _, tc := range []struct {
		rc   *rawClient
		who  string
		db   string
		want []string
	}{
		{alice, "alice", "b", nil},
		{alice, "alice", "test", []string{"hidden", "more", "visible"}},
		{narrow, "narrow", "test", []string{"visible"}},
		{root, "root", "b", []string{"secret"}},
	} {
		for _, batch := range []int32{1, 100} {
			if got := collections(tc.rc, tc.db, batch); !slices.Equal(got, tc.want) {
				t.Errorf("%s's listCollections on %s (batches of %d): %v, want %v", tc.who, tc.db, batch, got, tc.want)
			}
		}
	}
}
