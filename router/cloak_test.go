package router

import (
	"bytes"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
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
			in := mustMarshal(t, tt.in)
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
			if want := mustMarshal(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("cloakReply(%s)\n got %s\nwant %s", bson.Raw(in), bson.Raw(got), bson.Raw(want))
			}
		})
	}
}

// The common reply costs nothing: the check runs on every forwarded command.
func TestStateChangeChecksDoNotAllocate(t *testing.T) {
	reply := mustMarshal(t, bson.D{{Key: "cursor", Value: bson.D{{Key: "id", Value: int64(0)}, {Key: "firstBatch", Value: bson.A{}}}},
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

type kv = bson.E

var (
	topologyVersion = bson.D{{Key: "processId", Value: bson.NewObjectID()}, {Key: "counter", Value: int64(3)}}
	opTime          = bson.Timestamp{T: 7, I: 1}
	hostUnreachable = []kv{{Key: "code", Value: int32(6)}, {Key: "codeName", Value: "HostUnreachable"}}
)
