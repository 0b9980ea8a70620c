package router

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
)

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
				reply.Reply = outcome.NewReply(mustMarshal(t, tt.reply))
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
			body := mustMarshal(t, tt.body)
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
				reply.Reply = outcome.NewReply(mustMarshal(t, tt.reply))
			}
			if got := tt.policy.retry(ctx, tt.retryableWrite, reply, tt.err); got != tt.want {
				t.Fatalf("retry = %v, want %v", got, tt.want)
			}
		})
	}
}
