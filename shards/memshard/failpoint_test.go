package memshard

import (
	"errors"
	"io"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func failCommand(mode any, data bson.D) bson.D {
	return bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}, adminDB}
}

var pingCmd = bson.D{{Key: "ping", Value: 1}, adminDB}

func TestFailPointModes(t *testing.T) {
	rs := startSet(t, 1)
	for _, tc := range []struct {
		name string
		mode any
		want []bool // per ping: does it fail?
	}{
		{"times 2", bson.D{{Key: "times", Value: 2}}, []bool{true, true, false, false}},
		{"skip 1", bson.D{{Key: "skip", Value: 1}}, []bool{false, true, true}},
		{"alwaysOn", "alwaysOn", []bool{true, true, true}},
		{"off", "off", []bool{false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, rs.Hosts()[0])
			mustOK(t, c.run(failCommand(tc.mode, bson.D{{Key: "failCommands", Value: bson.A{"ping"}}, {Key: "errorCode", Value: 2}})))
			fired := int64(0)
			for _, wantFail := range tc.want {
				reply := c.run(pingCmd)
				if wantFail {
					wantCode(t, reply, mongoerr.BadValue, "Failing command via 'failCommand' failpoint")
					fired++
				} else {
					mustOK(t, reply)
				}
			}
			reply := mustOK(t, c.run(failCommand("off", nil)))
			if got := reply.Lookup("count").AsInt64(); got != fired {
				t.Fatalf("count %d, want %d", got, fired)
			}
		})
	}
}

func TestFailPointActions(t *testing.T) {
	rs := startSet(t, 1)
	insert := bson.D{{Key: "insert", Value: "f"}, {Key: "documents", Value: bson.A{bson.D{}}},
		{Key: "lsid", Value: lsidDoc(newLSID())}, {Key: "txnNumber", Value: int64(1)}, {Key: "$db", Value: "test"}}
	for _, tc := range []struct {
		name  string
		data  bson.D
		check func(t *testing.T, c *rawClient)
	}{
		{"retryable code gets RetryableWriteError", bson.D{{Key: "errorCode", Value: int32(mongoerr.ShutdownInProgress)}}, func(t *testing.T, c *rawClient) {
			reply := c.run(insert)
			wantCode(t, reply, mongoerr.ShutdownInProgress, "")
			if !hasLabel(reply, mongoerr.LabelRetryableWrite) {
				t.Fatalf("no RetryableWriteError: %s", reply)
			}
		}},
		{"errorLabels replace the server's", bson.D{{Key: "errorCode", Value: int32(mongoerr.ShutdownInProgress)}, {Key: "errorLabels", Value: bson.A{"Custom"}}},
			func(t *testing.T, c *rawClient) {
				reply := c.run(insert)
				if !hasLabel(reply, "Custom") || hasLabel(reply, mongoerr.LabelRetryableWrite) {
					t.Fatalf("labels: %s", reply)
				}
			}},
		{"closeConnection", bson.D{{Key: "closeConnection", Value: true}}, func(t *testing.T, c *rawClient) {
			c.send(0, insert)
			if _, err := c.recv(5 * time.Second); !errors.Is(err, io.EOF) && !isConnReset(err) {
				t.Fatalf("want the connection closed, got %v", err)
			}
		}},
		{"blockConnection", bson.D{{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 150}}, func(t *testing.T, c *rawClient) {
			start := time.Now()
			mustOK(t, c.run(insert))
			if d := time.Since(start); d < 140*time.Millisecond {
				t.Fatalf("answered after %v, want >= 150ms", d)
			}
		}},
		{"writeConcernError", bson.D{{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 91}, {Key: "errmsg", Value: "Replication is being shut down"}}}},
			func(t *testing.T, c *rawClient) {
				reply := mustOK(t, c.run(insert))
				if reply.Lookup("writeConcernError", "code").Int32() != 91 || reply.Lookup("n").Int32() != 1 || !hasLabelOK(reply, mongoerr.LabelRetryableWrite) {
					t.Fatalf("reply %s", reply)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := dialRaw(t, rs.Hosts()[0])
			data := append(bson.D{{Key: "failCommands", Value: bson.A{"insert"}}}, tc.data...)
			mustOK(t, admin.run(failCommand(bson.D{{Key: "times", Value: 1}}, data)))
			tc.check(t, dialRaw(t, rs.Hosts()[0]))
			mustOK(t, admin.run(failCommand("off", nil)))
		})
	}
}

// hasLabelOK finds a label on a successful reply (a writeConcernError's).
func hasLabelOK(reply bson.Raw, label string) bool {
	vals, _ := reply.Lookup("errorLabels").Array().Values()
	for _, v := range vals {
		if v.StringValue() == label {
			return true
		}
	}
	return false
}

func TestFailPointWithDriver(t *testing.T) {
	rs := startSet(t, 1)
	admin := dialRaw(t, rs.Hosts()[0])
	client := connect(t, rs.URI(), options.Client().SetAppName("victim"))
	bystander := connect(t, rs.URI(), options.Client().SetAppName("bystander"))
	ctx := ctxT(t)
	mustOK(t, admin.run(failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"find"}},
		{Key: "appName", Value: "victim"}, {Key: "errorCode", Value: int32(mongoerr.InternalError)}})))
	if err := bystander.Database("test").Collection("f").FindOne(ctx, bson.D{}).Err(); !errors.Is(err, mongo.ErrNoDocuments) {
		t.Fatalf("another application was failed: %v", err)
	}
	err := client.Database("test").Collection("f").FindOne(ctx, bson.D{}).Err()
	if !isCode(err, int32(mongoerr.InternalError)) {
		t.Fatalf("want the injected error, got %v", err)
	}
	// closeConnection on a retryable write: the driver retries on a new connection.
	mustOK(t, admin.run(failCommand(bson.D{{Key: "times", Value: 1}}, bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "closeConnection", Value: true}})))
	if _, err := client.Database("test").Collection("f").InsertOne(ctx, bson.D{{Key: "_id", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := client.Database("test").Collection("f").CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("%d documents", n)
	}
}

func TestTestCommandsDisabled(t *testing.T) {
	rs := startSet(t, 1, WithTestCommands(false))
	wantCode(t, dialRaw(t, rs.Hosts()[0]).run(failCommand("off", nil)), mongoerr.CommandNotFound, "no such command: 'configureFailPoint'")
}
