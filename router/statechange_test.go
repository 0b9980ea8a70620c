package router

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
)

func doc(t *testing.T, d bson.D) bsoncore.Document {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type kv = bson.E

var (
	topologyVersion = bson.D{{Key: "processId", Value: bson.NewObjectID()}, {Key: "counter", Value: int64(3)}}
	opTime          = bson.Timestamp{T: 7, I: 1}
	hostUnreachable = []kv{{Key: "code", Value: int32(6)}, {Key: "codeName", Value: "HostUnreachable"}}
)

func TestCloakReply(t *testing.T) {
	tests := []struct {
		name         string
		in, want     bson.D // want nil: the reply comes back untouched
		shuttingDown bool
	}{
		{
			name: "success",
			in:   bson.D{{Key: "n", Value: int32(1)}, {Key: "ok", Value: 1.0}, {Key: "operationTime", Value: opTime}},
		},
		{
			// A transaction statement on a member that stepped down: code, codeName and errmsg
			// change in place; labels and everything else stay, the member's topologyVersion goes.
			name: "not writable primary",
			in: bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "not primary"}, {Key: "code", Value: int32(10107)},
				{Key: "codeName", Value: "NotWritablePrimary"}, {Key: "errorLabels", Value: bson.A{"TransientTransactionError"}},
				{Key: "topologyVersion", Value: topologyVersion}, {Key: "operationTime", Value: opTime}},
			want: bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "not primary"}, hostUnreachable[0], hostUnreachable[1],
				{Key: "errorLabels", Value: bson.A{"TransientTransactionError"}}, {Key: "operationTime", Value: opTime}},
		},
		{
			name: "legacy phrase scrubbed",
			in: bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "not master and slaveOk=false"},
				{Key: "code", Value: int32(13435)}, {Key: "codeName", Value: "NotPrimaryNoSecondaryOk"}},
			want: bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "(NOT_PRIMARY) and slaveOk=false"}, hostUnreachable[0], hostUnreachable[1]},
		},
		{
			name: "recovering phrase scrubbed, no codeName added",
			in:   bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "node is recovering: not master"}, {Key: "code", Value: int32(13436)}},
			want: bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "(NODE_IS_RECOVERING): (NOT_PRIMARY)"}, hostUnreachable[0]},
		},
		{
			name: "code as a double",
			in:   bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: 11602.0}, {Key: "codeName", Value: "InterruptedDueToReplStateChange"}},
			want: bson.D{{Key: "ok", Value: 0.0}, hostUnreachable[0], hostUnreachable[1]},
		},
		{
			name: "primary stepped down",
			in:   bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(189)}},
			want: bson.D{{Key: "ok", Value: 0.0}, hostUnreachable[0]},
		},
		{
			name: "legacy not primary code",
			in:   bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(10058)}},
			want: bson.D{{Key: "ok", Value: 0.0}, hostUnreachable[0]},
		},
		{
			name: "a shard shutting down",
			in:   bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(91)}, {Key: "codeName", Value: "ShutdownInProgress"}},
			want: bson.D{{Key: "ok", Value: 0.0}, hostUnreachable[0], hostUnreachable[1]},
		},
		{
			name:         "shutdown is the router's own when it shuts down too",
			in:           bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(11600)}, {Key: "codeName", Value: "InterruptedAtShutdown"}},
			shuttingDown: true,
		},
		{
			name:         "not primary even while the router shuts down",
			in:           bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(10107)}},
			want:         bson.D{{Key: "ok", Value: 0.0}, hostUnreachable[0]},
			shuttingDown: true,
		},
		{
			name: "other codes pass",
			in:   bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(11601)}, {Key: "codeName", Value: "Interrupted"}},
		},
		{
			name: "ok: 1 root code is not an error",
			in:   bson.D{{Key: "ok", Value: 1.0}, {Key: "code", Value: int32(10107)}},
		},
		{
			name: "no ok field",
			in:   bson.D{{Key: "code", Value: int32(10107)}},
		},
		{
			name: "write errors",
			in: bson.D{{Key: "n", Value: int32(0)}, {Key: "writeErrors", Value: bson.A{
				bson.D{{Key: "index", Value: int32(0)}, {Key: "code", Value: int32(11000)}, {Key: "errmsg", Value: "E11000"}},
				bson.D{{Key: "index", Value: int32(1)}, {Key: "code", Value: int32(11602)}, {Key: "errmsg", Value: "operation was interrupted"}},
			}}, {Key: "ok", Value: 1.0}},
			want: bson.D{{Key: "n", Value: int32(0)}, {Key: "writeErrors", Value: bson.A{
				bson.D{{Key: "index", Value: int32(0)}, {Key: "code", Value: int32(11000)}, {Key: "errmsg", Value: "E11000"}},
				bson.D{{Key: "index", Value: int32(1)}, hostUnreachable[0], {Key: "errmsg", Value: "operation was interrupted"}},
			}}, {Key: "ok", Value: 1.0}},
		},
		{
			name: "write errors without a state change",
			in: bson.D{{Key: "n", Value: int32(0)}, {Key: "writeErrors", Value: bson.A{
				bson.D{{Key: "index", Value: int32(0)}, {Key: "code", Value: int32(11000)}}}}, {Key: "ok", Value: 1.0}},
		},
		{
			name: "write concern error",
			in: bson.D{{Key: "n", Value: int32(1)}, {Key: "ok", Value: 1.0},
				{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: int32(91)}, {Key: "codeName", Value: "ShutdownInProgress"},
					{Key: "errmsg", Value: "Replication is being shut down"}}},
				{Key: "errorLabels", Value: bson.A{"RetryableWriteError"}}},
			want: bson.D{{Key: "n", Value: int32(1)}, {Key: "ok", Value: 1.0},
				{Key: "writeConcernError", Value: bson.D{hostUnreachable[0], hostUnreachable[1],
					{Key: "errmsg", Value: "Replication is being shut down"}}},
				{Key: "errorLabels", Value: bson.A{"RetryableWriteError"}}},
		},
		{
			name: "write concern timeout passes",
			in: bson.D{{Key: "ok", Value: 1.0},
				{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: int32(64)}, {Key: "errmsg", Value: "waiting for replication timed out"}}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := doc(t, tt.in)
			orig := bytes.Clone(in)
			got := cloakReply(in, tt.shuttingDown)
			if !bytes.Equal(in, orig) {
				t.Fatalf("the shard's reply was modified: %s", bson.Raw(in))
			}
			if tt.want == nil {
				if !bytes.Equal(got, in) || &got[0] != &in[0] {
					t.Fatalf("cloakReply(%s) = %s, want the reply itself", bson.Raw(in), bson.Raw(got))
				}
				return
			}
			if want := doc(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("cloakReply(%s)\n got %s\nwant %s", bson.Raw(in), bson.Raw(got), bson.Raw(want))
			}
		})
	}
}

// The common reply costs nothing: the check runs on every forwarded command.
func TestStateChangeChecksDoNotAllocate(t *testing.T) {
	reply := doc(t, bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "firstBatch", Value: bson.A{}}}},
		{Key: "ok", Value: 1.0}, {Key: "operationTime", Value: opTime}})
	if n := testing.AllocsPerRun(100, func() { _ = cloakReply(reply, false) }); n != 0 {
		t.Errorf("cloakReply allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = outcome.Read(reply) }); n != 0 {
		t.Errorf("reading the reply's status allocates %v times", n)
	}
}

func TestCloakError(t *testing.T) {
	tests := []struct {
		name         string
		in           *mongoerr.Error
		shuttingDown bool
		want         *mongoerr.Error // nil: in itself
	}{
		{
			name: "not primary",
			in:   &mongoerr.Error{Code: mongoerr.NotWritablePrimary, Msg: "not master", Labels: []string{mongoerr.LabelTransientTransaction}},
			want: &mongoerr.Error{Code: mongoerr.HostUnreachable, Msg: "(NOT_PRIMARY)", Labels: []string{mongoerr.LabelTransientTransaction}},
		},
		{
			// shards reports a closed topology as ShutdownInProgress: a router that is not
			// shutting down must not say so.
			name: "shutdown while the router runs",
			in:   &mongoerr.Error{Code: mongoerr.ShutdownInProgress, Msg: "topology is closed"},
			want: &mongoerr.Error{Code: mongoerr.HostUnreachable, Msg: "topology is closed"},
		},
		{name: "shutdown while the router shuts down", in: mongoerr.New(mongoerr.ShutdownInProgress, "closing"), shuttingDown: true},
		{name: "network error", in: mongoerr.New(mongoerr.NetworkTimeout, "timed out")},
		{name: "nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before mongoerr.Error
			if tt.in != nil {
				before = *tt.in
			}
			got := cloakError(tt.in, tt.shuttingDown)
			if tt.want == nil {
				if got != tt.in {
					t.Fatalf("cloakError(%v) = %v, want it unchanged", tt.in, got)
				}
				return
			}
			if got.Code != tt.want.Code || got.Msg != tt.want.Msg || len(got.Labels) != len(tt.want.Labels) {
				t.Fatalf("cloakError(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
			for i := range got.Labels {
				if got.Labels[i] != tt.want.Labels[i] {
					t.Fatalf("labels %v, want %v", got.Labels, tt.want.Labels)
				}
			}
			if tt.in.Code != before.Code || tt.in.Msg != before.Msg {
				t.Fatalf("the original error was modified: %v", tt.in)
			}
		})
	}
}

func TestFailureCode(t *testing.T) {
	tests := []struct {
		name  string
		reply bson.D
		err   error
		want  mongoerr.Code
	}{
		{name: "no reply (moreToCome)", want: 0},
		{name: "success", reply: bson.D{{Key: "ok", Value: 1.0}}, want: 0},
		{name: "ok as int32", reply: bson.D{{Key: "ok", Value: int32(1)}}, want: 0},
		{name: "command error", reply: bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: int32(10107)}}, want: mongoerr.NotWritablePrimary},
		{name: "command error without a code", reply: bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: "?"}}, want: mongoerr.UnknownError},
		{name: "write concern error", reply: bson.D{{Key: "ok", Value: 1.0},
			{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: int32(91)}}}}, want: mongoerr.ShutdownInProgress},
		{name: "write concern error without a code", reply: bson.D{{Key: "ok", Value: 1.0},
			{Key: "writeConcernError", Value: bson.D{{Key: "errmsg", Value: "?"}}}}, want: mongoerr.UnknownError},
		{name: "command error wins over its write concern error", reply: bson.D{{Key: "ok", Value: 0.0},
			{Key: "code", Value: int32(112)}, {Key: "writeConcernError", Value: bson.D{{Key: "code", Value: int32(91)}}}}, want: mongoerr.WriteConflict},
		{name: "router error", err: mongoerr.New(mongoerr.HostUnreachable, "gone"), want: mongoerr.HostUnreachable},
		{name: "shard host error", err: &shards.HostError{Code: mongoerr.NetworkTimeout, Err: errors.New("i/o timeout")}, want: mongoerr.NetworkTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reply shards.Reply
			if tt.reply != nil {
				reply.Reply = outcome.NewReply(doc(t, tt.reply))
			}
			if got := failureCode(reply, tt.err); got != tt.want {
				t.Fatalf("failureCode = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRetryPolicyOf(t *testing.T) {
	tests := []struct {
		name      string
		body      bson.D
		txnNumber bool
		want      retryPolicy
	}{
		{name: "find", body: bson.D{{Key: "find", Value: "c"}}, want: idempotent},
		{name: "count", body: bson.D{{Key: "count", Value: "c"}}, want: idempotent},
		{name: "aggregate", body: bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{}}}, want: idempotent},
		{name: "aggregate with a write concern", body: bson.D{{Key: "aggregate", Value: "c"},
			{Key: "pipeline", Value: bson.A{bson.D{{Key: "$out", Value: "o"}}}}, {Key: "writeConcern", Value: bson.D{{Key: "w", Value: 1}}}}, want: notIdempotent},
		{name: "insert", body: bson.D{{Key: "insert", Value: "c"}}, want: noRetry},
		{name: "retryable insert", body: bson.D{{Key: "insert", Value: "c"}}, txnNumber: true, want: idempotent},
		{name: "findAndModify", body: bson.D{{Key: "findAndModify", Value: "c"}}, want: noRetry},
		{name: "retryable bulkWrite", body: bson.D{{Key: "bulkWrite", Value: 1}}, txnNumber: true, want: idempotent},
		{name: "create", body: bson.D{{Key: "create", Value: "c"}}, want: notIdempotent},
		{name: "drop", body: bson.D{{Key: "drop", Value: "c"}}, want: notIdempotent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := doc(t, tt.body)
			r := &request{Command: command.Command{Body: body, Name: bsonview.FirstKey(body)}}
			r.op.HasTxnNumber = tt.txnNumber
			if got := retryPolicyOf(r, labelContext(r.Name, r)); got != tt.want {
				t.Fatalf("retryPolicyOf(%s) = %d, want %d", bson.Raw(body), got, tt.want)
			}
		})
	}
}

func TestRetryPolicyRetry(t *testing.T) {
	errorReply := func(code int32, labels ...string) bson.D {
		d := bson.D{{Key: "ok", Value: 0.0}, {Key: "code", Value: code}}
		if len(labels) > 0 {
			d = append(d, kv{Key: "errorLabels", Value: labels})
		}
		return d
	}
	wceReply := func(code int32, labels ...string) bson.D {
		d := bson.D{{Key: "ok", Value: 1.0}, {Key: "writeConcernError", Value: bson.D{{Key: "code", Value: code}}}}
		if len(labels) > 0 {
			d = append(d, kv{Key: "errorLabels", Value: labels})
		}
		return d
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	tests := []struct {
		name           string
		policy         retryPolicy
		retryableWrite bool
		reply          bson.D
		err            error
		ctx            context.Context
		want           bool
	}{
		{name: "success", policy: idempotent, reply: bson.D{{Key: "ok", Value: 1.0}}, want: false},
		{name: "no reply", policy: idempotent, want: false},
		{name: "no retry: not primary", policy: noRetry, reply: errorReply(10107), want: false},
		{name: "no retry: unreachable", policy: noRetry, err: mongoerr.New(mongoerr.HostUnreachable, "x"), want: false},
		{name: "not idempotent: not primary", policy: notIdempotent, reply: errorReply(10107), want: true},
		{name: "not idempotent: interrupted by a step-down", policy: notIdempotent, reply: errorReply(11602), want: true},
		{name: "not idempotent: shutting down", policy: notIdempotent, reply: errorReply(91), want: false},
		{name: "not idempotent: unreachable", policy: notIdempotent, err: mongoerr.New(mongoerr.HostUnreachable, "x"), want: false},
		{name: "idempotent: not primary", policy: idempotent, reply: errorReply(13435), want: true},
		{name: "idempotent: shutting down", policy: idempotent, reply: errorReply(11600), want: true},
		{name: "idempotent: network", policy: idempotent, err: &shards.HostError{Code: mongoerr.SocketException}, want: true},
		{name: "idempotent: selection failed", policy: idempotent, err: &shards.HostError{Code: mongoerr.FailedToSatisfyReadPreference}, want: false},
		{name: "idempotent: duplicate key", policy: idempotent, reply: errorReply(11000), want: false},
		{name: "idempotent: write concern shutdown", policy: idempotent, reply: wceReply(91), want: true},
		{name: "idempotent: write concern timeout", policy: idempotent, reply: wceReply(64), want: false},
		{name: "retryable write labelled by the shard", policy: idempotent, retryableWrite: true,
			reply: wceReply(64, mongoerr.LabelRetryableWrite), want: true},
		{name: "label counts only for retryable writes", policy: idempotent, reply: wceReply(64, mongoerr.LabelRetryableWrite), want: false},
		{name: "labelled router error", policy: idempotent, retryableWrite: true,
			err: mongoerr.New(mongoerr.InternalError, "x").WithLabels(mongoerr.LabelRetryableWrite), want: true},
		{name: "deadline passed", policy: idempotent, reply: errorReply(10107), ctx: expired, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			var reply shards.Reply
			if tt.reply != nil {
				reply.Reply = outcome.NewReply(doc(t, tt.reply))
			}
			if got := tt.policy.retry(ctx, tt.retryableWrite, reply, tt.err); got != tt.want {
				t.Fatalf("retry = %v, want %v", got, tt.want)
			}
		})
	}
}
