package memshard

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

func TestStartReplicaSetOptions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members int
		opts    []Option
	}{
		{"no members", 0, nil},
		{"ports mismatch", 2, []Option{WithPorts(1)}},
		{"timeout below a minute", 1, []Option{WithSessionTimeout(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rs, err := StartReplicaSet("rs", tc.members, tc.opts...); err == nil {
				_ = rs.Close()
				t.Fatal("want an error")
			}
		})
	}
	port := freePort(t)
	rs := startSet(t, 1, WithPorts(port))
	if got, want := rs.URI(), "mongodb://127.0.0.1:"+strconv.Itoa(port)+"/?replicaSet=rs0"; got != want {
		t.Fatalf("URI %q, want %q", got, want)
	}
	if rs.Name() != "rs0" || rs.Primary() != 0 || rs.Member(1) != nil || rs.StopMember(3) == nil {
		t.Fatal("accessors")
	}
	if err := rs.StartMember(0); err == nil {
		t.Fatal("starting a running member must fail")
	}
	if _, err := StartReplicaSet("other", 1, WithPorts(port)); err == nil {
		t.Fatal("a second set on a port in use must fail")
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestStopAndStartMember(t *testing.T) {
	rs := startSet(t, 3)
	hosts := rs.Hosts()
	kinds, monitor := watchKinds()
	// A short heartbeat: the driver probes a member it saw go down only once per heartbeat.
	client := connect(t, rs.URI(), options.Client().SetReadPreference(readpref.SecondaryPreferred()).
		SetHeartbeatInterval(500*time.Millisecond), monitor)
	ctx := ctxT(t)
	coll := client.Database("test").Collection("s")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	m1 := dialRaw(t, rs.Hosts()[1])
	mustOK(t, m1.run(bson.D{{Key: "ping", Value: 1}, {Key: "lsid", Value: lsidDoc(newLSID())}, adminDB}))
	mustOK(t, m1.run(bson.D{{Key: "find", Value: "s"}, {Key: "lsid", Value: lsidDoc(newLSID())}, {Key: "batchSize", Value: 1},
		{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: "secondary"}}}, {Key: "$db", Value: "test"}}))
	if rs.Member(1).OpenCursors() != 1 || len(rs.Member(1).Sessions()) != 1 {
		t.Fatal("member 1 did not keep its cursor and session")
	}

	// Member 1 goes down: its connections close, its process state is gone, reads go on.
	if err := rs.StopMember(1); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.recv(2 * time.Second); err == nil {
		t.Fatal("connection to the stopped member is still open")
	}
	if rs.Member(1).OpenCursors() != 0 || len(rs.Member(1).Sessions()) != 0 {
		t.Fatal("a stopped member kept its cursors or sessions")
	}
	if rs.StopMember(1) == nil {
		t.Fatal("stopping a stopped member must fail")
	}
	// A read racing the driver's discovery may still pick the dead member (as with mongod); once
	// the monitor saw it go, reads keep working.
	kinds.waitFor(t, hosts[1], "Unknown")
	readable := func() bool { n, err := coll.CountDocuments(ctx, bson.D{}); return err == nil && n == 2 }
	for i := 0; i < 5; i++ {
		if !readable() {
			t.Fatal("read failed with one member down")
		}
	}

	// The primary goes down: no primary, secondaryPreferred reads still work.
	if err := rs.StopMember(0); err != nil {
		t.Fatal(err)
	}
	if rs.Primary() != -1 {
		t.Fatalf("primary %d after stopping it", rs.Primary())
	}
	kinds.waitFor(t, hosts[0], "Unknown")
	if !readable() {
		t.Fatal("read failed without a primary")
	}

	// Restarts on the same ports; the first to come back is elected.
	if err := rs.StartMember(1); err != nil {
		t.Fatal(err)
	}
	if err := rs.StartMember(0); err != nil {
		t.Fatal(err)
	}
	if rs.Primary() != 1 || strings.Join(rs.Hosts(), ",") != strings.Join(hosts, ",") {
		t.Fatalf("primary %d, hosts %v", rs.Primary(), rs.Hosts())
	}
	kinds.waitFor(t, hosts[1], "RSPrimary")
	kinds.waitFor(t, hosts[0], "RSSecondary")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 3}}); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	if rs.Member(1).CommandCount("insert") != 1 {
		t.Fatalf("the new primary ran %d inserts", rs.Member(1).CommandCount("insert"))
	}
}

func TestStepDownWithDriver(t *testing.T) {
	rs := startSet(t, 3)
	client := connect(t, rs.URI())
	ctx := ctxT(t)
	coll := client.Database("test").Collection("sd")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := rs.StepDown(2); err != nil {
		t.Fatal(err)
	}
	if rs.Primary() != 2 {
		t.Fatalf("primary %d", rs.Primary())
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 2}}); err != nil {
		t.Fatalf("insert after the step down: %v", err)
	}
	if rs.Member(2).CommandCount("insert") == 0 {
		t.Fatal("the driver did not find the new primary")
	}
	if err := rs.StepDown(5); err == nil {
		t.Fatal("stepping down to a missing member must fail")
	}
	if err := rs.StopMember(1); err != nil {
		t.Fatal(err)
	}
	if err := rs.StepDown(1); err == nil {
		t.Fatal("a stopped member cannot become primary")
	}
}

func TestDirectConnectionToSecondary(t *testing.T) {
	rs := startSet(t, 2)
	setClient := connect(t, rs.URI())
	ctx := ctxT(t)
	if _, err := setClient.Database("test").Collection("d").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	direct := connect(t, "mongodb://"+rs.Hosts()[1]+"/?directConnection=true")
	n, err := direct.Database("test").Collection("d").CountDocuments(ctx, bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("read on a direct secondary connection: %d %v", n, err)
	}
	// No deadline here: with one the driver retries the retryable NotWritablePrimary until it
	// expires (it does the same against mongod); without, it retries once.
	if _, err := direct.Database("test").Collection("d").InsertOne(context.Background(), bson.D{}); !isCode(err, 10107) {
		t.Fatalf("write on a secondary: %v", err)
	}
}
