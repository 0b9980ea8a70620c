package memshard

import (
	"slices"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// authOps is $currentOp's output for a raw client, or the failed reply.
func authOps(t *testing.T, c *rawClient, spec bson.D) ([]bson.Raw, bson.Raw) {
	t.Helper()
	reply := c.run(bson.D{{Key: "aggregate", Value: 1}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$currentOp", Value: spec}}}},
		{Key: "cursor", Value: bson.D{}}, adminDB})
	if outcome.ErrOf([]byte(reply)) != nil {
		return nil, reply
	}
	vals, _ := reply.Lookup("cursor", "firstBatch").Array().Values()
	docs := make([]bson.Raw, len(vals))
	for i, v := range vals {
		docs[i] = v.Document()
	}
	return docs, reply
}

// withComment is the operation (or idle cursor, by its originating command) whose command
// carries comment.
func withComment(docs []bson.Raw, comment string) bson.Raw {
	for _, d := range docs {
		if c, _ := d.Lookup("command", "comment").StringValueOK(); c == comment {
			return d
		}
		if c, _ := d.Lookup("cursor", "originatingCommand", "comment").StringValueOK(); c == comment {
			return d
		}
	}
	return nil
}

func usersOf(d bson.Raw, field string) []string {
	vals, _ := d.Lookup(field).Array().Values()
	var out []string
	for _, v := range vals {
		out = append(out, v.Document().Lookup("user").StringValue()+"@"+v.Document().Lookup("db").StringValue())
	}
	return out
}

// TestCurrentOpAuth: with auth on, a user sees and kills its own operations; allUsers needs
// inprog and killing others' operations killop; an operation a router sends as __system with
// $audit is the impersonated user's (effectiveUsers, runBy), with the router's $client metadata.
func TestCurrentOpAuth(t *testing.T) {
	rs := startAuthSet(t)
	host := rs.Member(0).host
	login := func(user, password, db string) *rawClient {
		c := dialRaw(t, host)
		rawLogin(t, c, user, password, db)
		return c
	}
	root, alice, bob, bob2 := login("root", "root-pw", "admin"), login("alice", "alice-pw", "admin"),
		login("bob", "bob-pw", "admin"), login("bob", "bob-pw", "admin")
	router := login("__system", testKey, "local")
	mustOK(t, root.run(bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}},
		{Key: "$db", Value: "test"}}))
	blockNextFind := func() {
		mustOK(t, root.run(failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"find"}},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 60_000}})))
	}
	find := func(comment string, extra ...bson.E) bson.D {
		return append(bson.D{{Key: "find", Value: "c"}, {Key: "comment", Value: comment}, {Key: "$db", Value: "test"}}, extra...)
	}
	waitFor := func(comment string) bson.Raw {
		var op bson.Raw
		eventually(t, comment+" in $currentOp", func() bool {
			docs, reply := authOps(t, root, bson.D{{Key: "allUsers", Value: true}})
			mustOK(t, reply)
			op = withComment(docs, comment)
			return op != nil
		})
		return op
	}
	killCmd := func(op bson.Raw) bson.D {
		return bson.D{{Key: "killOp", Value: 1}, {Key: "op", Value: op.Lookup("opid").Int32()}, adminDB}
	}
	recvInterrupted := func(c *rawClient) {
		t.Helper()
		msg, err := c.recv(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, bson.Raw(msg.Body), mongoerr.Interrupted, "operation was interrupted")
	}

	t.Run("own operations, others' with inprog, kills with killop", func(t *testing.T) {
		blockNextFind()
		bob.send(0, find("bob's"))
		op := waitFor("bob's")
		if got := usersOf(op, "effectiveUsers"); !slices.Equal(got, []string{"bob@admin"}) || op.Lookup("runBy").Type != 0 {
			t.Fatalf("bob's operation runs as %v: %s", got, op)
		}
		docs, reply := authOps(t, alice, bson.D{})
		mustOK(t, reply)
		if withComment(docs, "bob's") != nil {
			t.Fatal("alice sees bob's operation")
		}
		if len(docs) == 0 || !slices.Equal(usersOf(docs[0], "effectiveUsers"), []string{"alice@admin"}) {
			t.Fatalf("alice's own operations: %v", docs)
		}
		_, reply = authOps(t, alice, bson.D{{Key: "allUsers", Value: true}})
		wantCode(t, reply, mongoerr.Unauthorized, "")
		wantCode(t, alice.run(killCmd(op)), mongoerr.Unauthorized, "")
		mustOK(t, bob2.run(killCmd(op))) // bob's other connection: the same user
		recvInterrupted(bob)
	})

	t.Run("a router's operation is the impersonated user's", func(t *testing.T) {
		blockNextFind()
		audit := bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "alice"}, {Key: "db", Value: "admin"}}},
			{Key: "$impersonatedRoles", Value: bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: "test"}}}}}
		client := bson.D{{Key: "application", Value: bson.D{{Key: "name", Value: "shop"}}},
			{Key: "driver", Value: bson.D{{Key: "name", Value: "nodejs"}, {Key: "version", Value: "6.0"}}},
			{Key: "os", Value: bson.D{{Key: "type", Value: "Linux"}}},
			{Key: "mongos", Value: bson.D{{Key: "host", Value: "router:27017"}, {Key: "client", Value: "10.0.0.1:5555"}, {Key: "version", Value: "8.0.4"}}}}
		router.send(0, find("via router", bson.E{Key: "$audit", Value: audit}, bson.E{Key: "$client", Value: client}))
		op := waitFor("via router")
		if got := usersOf(op, "effectiveUsers"); !slices.Equal(got, []string{"alice@admin"}) {
			t.Fatalf("effectiveUsers %v", got)
		}
		if got := usersOf(op, "runBy"); !slices.Equal(got, []string{"__system@local"}) {
			t.Fatalf("runBy %v", got)
		}
		if op.Lookup("appName").StringValue() != "shop" || op.Lookup("clientMetadata", "mongos", "host").StringValue() != "router:27017" {
			t.Fatalf("client metadata of the router's operation: %s", op)
		}
		if docs, _ := authOps(t, alice, bson.D{}); withComment(docs, "via router") == nil {
			t.Fatal("alice does not see the operation run as her")
		}
		if docs, _ := authOps(t, bob, bson.D{}); withComment(docs, "via router") != nil {
			t.Fatal("bob sees alice's operation")
		}
		mustOK(t, alice.run(killCmd(op)))
		recvInterrupted(router)
	})

	t.Run("only a client that may impersonate sends $audit", func(t *testing.T) {
		audit := bson.E{Key: "$audit", Value: bson.D{{Key: "$impersonatedUser", Value: bson.D{{Key: "user", Value: "root"}, {Key: "db", Value: "admin"}}},
			{Key: "$impersonatedRoles", Value: bson.A{}}}}
		wantCode(t, bob.run(find("spoof", audit)), mongoerr.Unauthorized, "Unauthorized use of impersonation metadata.")
		wantCode(t, root.run(find("spoof", audit)), mongoerr.Unauthorized, "Unauthorized use of impersonation metadata.")
		anonymous := dialRaw(t, host)
		wantCode(t, anonymous.run(bson.D{{Key: "hello", Value: 1}, audit, adminDB}), mongoerr.Unauthorized, "Unauthorized use of impersonation metadata.")
	})

	t.Run("idle cursors are their owner's", func(t *testing.T) {
		mustOK(t, alice.run(find("alice's cursor", bson.E{Key: "batchSize", Value: 1})))
		for _, tc := range []struct {
			c    *rawClient
			spec bson.D
			sees bool
		}{
			{alice, bson.D{{Key: "idleCursors", Value: true}}, true},
			{bob, bson.D{{Key: "idleCursors", Value: true}}, false},
			{root, bson.D{{Key: "idleCursors", Value: true}, {Key: "allUsers", Value: true}}, true},
		} {
			docs, reply := authOps(t, tc.c, tc.spec)
			mustOK(t, reply)
			if sees := withComment(docs, "alice's cursor") != nil; sees != tc.sees {
				t.Fatalf("%v sees alice's cursor: %v", tc.spec, sees)
			}
		}
	})
}
