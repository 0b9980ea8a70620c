package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The signal tests run mongos-lite itself: this test binary re-executes as the command when
// MONGOS_LITE_TEST_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("MONGOS_LITE_TEST_MAIN") == "1" {
		os.Args = append([]string{"mongos-lite"}, strings.Fields(os.Getenv("MONGOS_LITE_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startDemo runs `mongos-lite demo` in a child process and returns it with the router's URI.
func startDemo(t *testing.T, extra string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "MONGOS_LITE_TEST_MAIN=1",
		"MONGOS_LITE_TEST_ARGS=demo --port 0 --shards 1 --members 1 --metrics-addr= --log-level error "+extra)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if uri, ok := strings.CutPrefix(lines.Text(), "router: "); ok {
			go func() { // drain the rest so the child never blocks on its stdout
				for lines.Scan() {
				}
			}()
			return cmd, uri
		}
	}
	t.Fatal("demo printed no router line")
	return nil, ""
}

func waitExit(t *testing.T, cmd *exec.Cmd, within time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), time.Since(start)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, time.Since(start)
	case <-time.After(within):
		t.Fatalf("the process did not exit within %v", within)
		return -1, 0
	}
}

func TestSIGTERMQuiescesAndExitsZero(t *testing.T) {
	cmd, uri := startDemo(t, "")
	cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	if err := cl.Database("admin").RunCommand(context.Background(), bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := waitExit(t, cmd, 20*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	cmd, uri := startDemo(t, "--shutdown-timeout 60s")
	cl, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	ctx := context.Background()
	// A find held for 30 s keeps the quiesce waiting.
	holdFinds := bson.D{{Key: "configureFailPoint", Value: "failCommand"},
		{Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"find"}},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 30000}}}}
	if err := cl.Database("admin").RunCommand(ctx, holdFinds).Err(); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { held <- cl.Database("t").Collection("c").FindOne(ctx, bson.D{}).Err() }()
	// Configuring the fail point again reports how often it fired: once the find is held.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var reply struct{ Count int64 }
		if err := cl.Database("admin").RunCommand(ctx, holdFinds).Decode(&reply); err != nil {
			t.Fatal(err)
		}
		if reply.Count >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the find never reached the fail point")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code, took := waitExit(t, cmd, 10*time.Second)
	if code == 0 || took > 5*time.Second {
		t.Fatalf("after a second signal: exit code %d after %v; want a non-zero code at once", code, took)
	}
	<-held
}
