package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// twoShards is a router with --auth (trustUsers) in front of two memshard sets; the first, the
// config shard that holds config.databases, logs what it receives.
func twoShards(t *testing.T) (addr string, log *commandLog) {
	t.Helper()
	srv, log := twoShardServer(t, nil)
	return srv.Addr(), log
}

// twoShardServer is twoShards's router, with routerCfg applied to its configuration.
func twoShardServer(t *testing.T, routerCfg func(*Config)) (*Server, *commandLog) {
	t.Helper()
	log := &commandLog{}
	var list []*shards.Shard
	for i := range 2 {
		var opts []memshard.Option
		if i == 0 {
			opts = append(opts, memshard.WithCommandLog(log.add))
		}
		name := fmt.Sprintf("rs%d", i)
		rs, err := memshard.StartReplicaSet(name, 1, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rs.Close() })
		list = append(list, openShard(t, shards.Config{Name: name, SetName: name, Hosts: rs.Hosts(), Logger: zerolog.Nop(),
			ServerSelectionTimeout: 10 * time.Second}))
	}
	cfg := Config{Logger: zerolog.Nop(), Auth: auth.NewAuthenticator(trustUsers(t), nil, zerolog.Nop())}
	if routerCfg != nil {
		routerCfg(&cfg)
	}
	srv := serveRouter(t, cfg, list...)
	return srv, log
}

// placed reports whether the router recorded a placement in config.databases since the first
// `from` commands the config shard received.
func (l *commandLog) placed(from int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.got[from:] {
		coll, _ := r.Body.Lookup("insert").StringValueOK()
		db, _ := r.Body.Lookup("$db").StringValueOK()
		if coll == "databases" && db == "config" {
			return true
		}
	}
	return false
}

// TestNoPlacementWithoutData: only a command that may create data places a database. Probes
// sent before login, status commands and reads of databases that do not exist place nothing.
func TestNoPlacementWithoutData(t *testing.T) {
	checkLeaks(t)
	addr, log := twoShards(t)
	anon, alice := dialRaw(t, addr, ""), dialRaw(t, addr, "alice")
	for i, tc := range []struct {
		client *rawClient
		cmd    bson.D
		places bool
	}{
		{anon, bson.D{{Key: "connectionStatus", Value: 1}}, false},
		{anon, bson.D{{Key: "listCommands", Value: 1}}, false},
		{anon, bson.D{{Key: "logout", Value: 1}}, false},
		{alice, bson.D{{Key: "currentOp", Value: 1}, {Key: "$ownOps", Value: true}, {Key: "$db", Value: "admin"}}, false},
		{alice, bson.D{{Key: "find", Value: "c"}}, false},
		{alice, bson.D{{Key: "count", Value: "c"}}, false},
		{alice, bson.D{{Key: "listCollections", Value: 1}, {Key: "authorizedCollections", Value: true}, {Key: "nameOnly", Value: true}}, false},
		{alice, bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}}}}}, false},
		{alice, bson.D{{Key: "delete", Value: "c"}, {Key: "deletes", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "limit", Value: 0}}}}}, false},
		{alice, bson.D{{Key: "drop", Value: "c"}}, false},
		{alice, bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{bson.D{{Key: "q", Value: bson.D{}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 1}}}}}, {Key: "upsert", Value: int32(1)}}}}}, true},
		{alice, bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{}}}}, true},
	} {
		db := fmt.Sprintf("db%d", i)
		if v := tc.cmd[len(tc.cmd)-1]; v.Key == "$db" { // currentOp runs on admin only
			db, tc.cmd = v.Value.(string), tc.cmd[:len(tc.cmd)-1]
		} else if tc.client == alice {
			db = "test" // alice's database, not placed until something creates data in it
		}
		if tc.places {
			db = fmt.Sprintf("test%d", i)
			tc.client = dialRaw(t, addr, "rooty")
		}
		before := log.count()
		reply := tc.client.run(t, mustMarshal(t, append(tc.cmd, bson.E{Key: "$db", Value: db})))
		if code := replyCode(reply); code != 0 {
			t.Fatalf("%v on %s: %v", tc.cmd, db, bson.Raw(reply))
		}
		if got := log.placed(before); got != tc.places {
			t.Fatalf("%v on %s placed the database: %v, want %v", tc.cmd[0].Key, db, got, tc.places)
		}
	}
}

// TestAuthCommandsOnTheRouter: connectionStatus, logout and listCommands are the router's own,
// about the client's connection to it.
func TestAuthCommandsOnTheRouter(t *testing.T) {
	checkLeaks(t)
	addr, _ := twoShards(t)
	rc := dialRaw(t, addr, "alice")
	status := func() bson.Raw {
		reply := rc.run(t, mustMarshal(t, bson.D{{Key: "connectionStatus", Value: 1}, {Key: "showPrivileges", Value: true}, {Key: "$db", Value: "admin"}}))
		if code := replyCode(reply); code != 0 {
			t.Fatalf("connectionStatus: %v", bson.Raw(reply))
		}
		return bson.Raw(reply)
	}
	var st struct {
		AuthInfo struct {
			AuthenticatedUsers          []struct{ User, DB string }
			AuthenticatedUserRoles      []struct{ Role, DB string }
			AuthenticatedUserPrivileges []bson.Raw
		} `bson:"authInfo"`
	}
	if err := bson.Unmarshal(status(), &st); err != nil {
		t.Fatal(err)
	}
	if u := st.AuthInfo.AuthenticatedUsers; len(u) != 1 || u[0].User != "alice" || u[0].DB != "admin" {
		t.Fatalf("connectionStatus users %+v", u)
	}
	if r := st.AuthInfo.AuthenticatedUserRoles; len(r) != 1 || r[0].Role != "readWrite" || r[0].DB != "test" {
		t.Fatalf("connectionStatus roles %+v", r)
	}
	if len(st.AuthInfo.AuthenticatedUserPrivileges) == 0 {
		t.Fatal("connectionStatus shows no privileges")
	}
	// Logging out of another database does nothing; of the user's own, logs out.
	for _, db := range []string{"test", "admin"} {
		if reply := rc.run(t, mustMarshal(t, bson.D{{Key: "logout", Value: 1}, {Key: "$db", Value: db}})); replyCode(reply) != 0 {
			t.Fatalf("logout: %v", bson.Raw(reply))
		}
		users, _ := status().Lookup("authInfo", "authenticatedUsers").ArrayOK()
		vals, _ := users.Values()
		if n := len(vals); (db == "test") != (n == 1) {
			t.Fatalf("after logout on %s: %d users", db, n)
		}
	}
	reply := rc.run(t, mustMarshal(t, bson.D{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}}))
	if code := replyCode(reply); code != 13 {
		t.Fatalf("find after logout: %v", bson.Raw(reply))
	}
	reply = rc.run(t, mustMarshal(t, bson.D{{Key: "listCommands", Value: 1}, {Key: "$db", Value: "admin"}}))
	if req, ok := bson.Raw(reply).Lookup("commands", "find", "requiresAuth").BooleanOK(); !ok || !req {
		t.Fatalf("listCommands: %v", bson.Raw(reply))
	}
}
