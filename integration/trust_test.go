package integration

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// TestShardSeesTheUser: a router that authenticates to its shards with the key file tells them
// who the client is, as mongos does ($audit with the user and its roles), so that a shard's audit
// log and ownership checks see alice, not __system.
func TestShardSeesTheUser(t *testing.T) {
	if onRealCluster() {
		t.Skip("reads what the members received from memshard's command log, which real sets do not have")
	}
	keyPath := filepath.Join(t.TempDir(), "keyfile")
	const key = "aW50ZWdyYXRpb24ta2V5LWZpbGU="
	if err := os.WriteFile(keyPath, []byte(key), 0o400); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var inserts []bson.Raw
	logged := func(r memshard.Received) {
		if coll, _ := r.Body.Lookup("insert").StringValueOK(); coll == "audited" {
			mu.Lock()
			inserts = append(inserts, r.Body)
			mu.Unlock()
		}
	}
	cred := shards.InternalCredential(key)
	c := authClusterWith(t, clusterOptions{shards: 1, members: 1, shardAuth: &cred,
		setOptions: []memshard.Option{memshard.WithKeyFile(keyPath), memshard.WithCommandLog(logged)}})
	cl := c.userClient(t, "alice", "test", "alice-pw")
	if _, err := cl.Database("test").Collection("audited").InsertOne(ctxT(t), bson.D{{Key: "x", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(inserts) != 1 {
		t.Fatalf("the shard received %d inserts", len(inserts))
	}
	var audit struct {
		User  struct{ User, DB string }   `bson:"$impersonatedUser"`
		Roles []struct{ Role, DB string } `bson:"$impersonatedRoles"`
	}
	if err := inserts[0].Lookup("$audit").Unmarshal(&audit); err != nil {
		t.Fatalf("$audit: %v in %v", err, inserts[0])
	}
	if audit.User.User != "alice" || audit.User.DB != "test" || len(audit.Roles) != 1 ||
		audit.Roles[0].Role != "readWrite" || audit.Roles[0].DB != "test" {
		t.Fatalf("the shard was told %+v", audit)
	}
}
