package sessionfanout

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/outcome"
)

// doc marshals d; the expected documents of the tests are written with the bson package so they
// do not share code with the bsoncore appends under test.
func doc(t testing.TB, d bson.D) bsoncore.Document {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errDoc is a MongoDB error document as a target or the aggregate reports it.
func errDoc(code mongoerr.Code, msg string) bson.D {
	return bson.D{{Key: "ok", Value: 0.0}, {Key: "errmsg", Value: msg}, {Key: "code", Value: int32(code)}, {Key: "codeName", Value: code.Name()}}
}

func withRaw(d bson.D, raw bson.D) bson.D {
	return append(d, bson.E{Key: "raw", Value: raw})
}

func TestAggregate(t *testing.T) {
	okReply := doc(t, bson.D{{Key: "ok", Value: 1.0}, {Key: "operationTime", Value: bson.Timestamp{T: 1, I: 2}}})
	okBool := doc(t, bson.D{{Key: "ok", Value: true}})
	okInt := doc(t, bson.D{{Key: "ok", Value: int32(1)}})
	unauthorized := doc(t, errDoc(mongoerr.Unauthorized, "not authorized on admin"))
	badValue := doc(t, errDoc(mongoerr.BadValue, "bad pattern"))
	opFailed := doc(t, errDoc(mongoerr.OperationFailed, "first"))
	unknown := doc(t, errDoc(mongoerr.UnknownError, "second"))
	labelled := doc(t, append(errDoc(mongoerr.NotWritablePrimary, "not primary"),
		bson.E{Key: "errorLabels", Value: bson.A{mongoerr.LabelRetryableWrite}}))
	noOK := doc(t, bson.D{{Key: "n", Value: int32(1)}})
	killFailed := mongoerr.New(mongoerr.HostUnreachable, "Failed to kill sessions on some hosts")
	tests := []struct {
		name      string
		results   []Result[host, outcome.Reply]
		onFailure *mongoerr.Error
		want      bson.D
	}{
		{name: "no results", want: bson.D{{Key: "ok", Value: 1.0}}},
		{
			name:    "all ok, ok in any numeric or bool form",
			results: []Result[host, outcome.Reply]{{Target: "a", Value: outcome.NewReply(okReply)}, {Target: "b", Value: outcome.NewReply(okBool)}, {Target: "c", Value: outcome.NewReply(okInt)}},
			want:    bson.D{{Key: "ok", Value: 1.0}},
		},
		{
			name:      "all ok with a failure override",
			results:   []Result[host, outcome.Reply]{{Target: "a", Value: outcome.NewReply(okReply)}},
			onFailure: killFailed,
			want:      bson.D{{Key: "ok", Value: 1.0}},
		},
		{
			name:    "one reply with ok 0",
			results: []Result[host, outcome.Reply]{{Target: "a", Value: outcome.NewReply(okReply)}, {Target: "b", Value: outcome.NewReply(unauthorized)}},
			want: withRaw(errDoc(mongoerr.Unauthorized, "not authorized on admin"),
				bson.D{{Key: "a", Value: bson.Raw(okReply)}, {Key: "b", Value: bson.Raw(unauthorized)}}),
		},
		{
			name:    "one transport error",
			results: []Result[host, outcome.Reply]{{Target: "a", Err: errRefused}, {Target: "b", Value: outcome.NewReply(okReply)}},
			want: withRaw(errDoc(mongoerr.HostUnreachable, "connection refused"),
				bson.D{{Key: "a", Value: errDoc(mongoerr.HostUnreachable, "connection refused")}, {Key: "b", Value: bson.Raw(okReply)}}),
		},
		{
			name: "two failing, higher priority wins",
			results: []Result[host, outcome.Reply]{
				{Target: "a", Err: errRefused}, {Target: "b", Value: outcome.NewReply(okReply)}, {Target: "c", Value: outcome.NewReply(badValue)},
			},
			want: withRaw(errDoc(mongoerr.BadValue, "bad pattern"), bson.D{
				{Key: "a", Value: errDoc(mongoerr.HostUnreachable, "connection refused")}, {Key: "b", Value: bson.Raw(okReply)}, {Key: "c", Value: bson.Raw(badValue)},
			}),
		},
		{
			name:    "two failing, equal priority, earlier target wins",
			results: []Result[host, outcome.Reply]{{Target: "a", Value: outcome.NewReply(opFailed)}, {Target: "b", Value: outcome.NewReply(unknown)}},
			want: withRaw(errDoc(mongoerr.OperationFailed, "first"),
				bson.D{{Key: "a", Value: bson.Raw(opFailed)}, {Key: "b", Value: bson.Raw(unknown)}}),
		},
		{
			name:    "two transport errors, earlier target wins",
			results: []Result[host, outcome.Reply]{{Target: "b", Err: errReset}, {Target: "a", Err: errRefused}},
			want: withRaw(errDoc(mongoerr.HostUnreachable, "connection reset by peer"), bson.D{
				{Key: "b", Value: errDoc(mongoerr.HostUnreachable, "connection reset by peer")},
				{Key: "a", Value: errDoc(mongoerr.HostUnreachable, "connection refused")},
			}),
		},
		{
			name:      "kill failure override replaces the highest error",
			results:   []Result[host, outcome.Reply]{{Target: "h1", Value: outcome.NewReply(unauthorized)}, {Target: "h2", Err: errRefused}, {Target: "h3", Value: outcome.NewReply(okReply)}},
			onFailure: killFailed,
			want: withRaw(errDoc(mongoerr.HostUnreachable, "Failed to kill sessions on some hosts"), bson.D{
				{Key: "h1", Value: bson.Raw(unauthorized)}, {Key: "h2", Value: errDoc(mongoerr.HostUnreachable, "connection refused")}, {Key: "h3", Value: bson.Raw(okReply)},
			}),
		},
		{
			name: "target timeout",
			results: []Result[host, outcome.Reply]{
				{Target: "a", Err: &TimeoutError{Target: "a", After: time.Minute, Err: context.DeadlineExceeded}},
			},
			want: withRaw(errDoc(mongoerr.NetworkTimeout, "request to a timed out after 60000ms: context deadline exceeded"), bson.D{
				{Key: "a", Value: errDoc(mongoerr.NetworkTimeout, "request to a timed out after 60000ms: context deadline exceeded")},
			}),
		},
		{
			name:    "caller's deadline",
			results: []Result[host, outcome.Reply]{{Target: "a", Err: context.DeadlineExceeded}},
			want: withRaw(errDoc(mongoerr.NetworkTimeout, "context deadline exceeded"),
				bson.D{{Key: "a", Value: errDoc(mongoerr.NetworkTimeout, "context deadline exceeded")}}),
		},
		{
			name:    "caller cancelled",
			results: []Result[host, outcome.Reply]{{Target: "a", Err: fmt.Errorf("dial: %w", context.Canceled)}},
			want: withRaw(errDoc(mongoerr.Interrupted, "dial: context canceled"),
				bson.D{{Key: "a", Value: errDoc(mongoerr.Interrupted, "dial: context canceled")}}),
		},
		{
			name:    "transport error that is a mongoerr keeps its code",
			results: []Result[host, outcome.Reply]{{Target: "a", Err: fmt.Errorf("shard a: %w", mongoerr.New(mongoerr.ShutdownInProgress, "shutting down"))}},
			want: withRaw(errDoc(mongoerr.ShutdownInProgress, "shutting down"),
				bson.D{{Key: "a", Value: errDoc(mongoerr.ShutdownInProgress, "shutting down")}}),
		},
		{
			name:    "reply without ok",
			results: []Result[host, outcome.Reply]{{Target: "a", Value: outcome.NewReply(noOK)}},
			want: withRaw(errDoc(mongoerr.InternalError, "reply has no ok field"),
				bson.D{{Key: "a", Value: bson.Raw(noOK)}}),
		},
		{
			name:    "a target's labels stay in raw only",
			results: []Result[host, outcome.Reply]{{Target: "a", Value: outcome.NewReply(labelled)}},
			want: withRaw(errDoc(mongoerr.NotWritablePrimary, "not primary"),
				bson.D{{Key: "a", Value: bson.Raw(labelled)}}),
		},
		{
			name:    "NUL in a target name cannot corrupt the document",
			results: []Result[host, outcome.Reply]{{Target: "a\x00b", Err: errRefused}},
			want: withRaw(errDoc(mongoerr.HostUnreachable, "connection refused"),
				bson.D{{Key: "ab", Value: errDoc(mongoerr.HostUnreachable, "connection refused")}}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Aggregate(tc.results, tc.onFailure)
			want := doc(t, tc.want)
			if !bytes.Equal(got, want) {
				t.Errorf("got  %v\nwant %v", bson.Raw(got), bson.Raw(want))
			}
		})
	}
}

func TestAppendAggregateLeavesDocumentOpen(t *testing.T) {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = AppendAggregate(dst, []Result[host, outcome.Reply]{{Target: "a", Err: errRefused}}, nil)
	dst = bsoncore.AppendInt32Element(dst, "after", 7)
	dst, err := bsoncore.AppendDocumentEnd(dst, idx)
	if err != nil {
		t.Fatal(err)
	}
	want := doc(t, append(withRaw(errDoc(mongoerr.HostUnreachable, "connection refused"),
		bson.D{{Key: "a", Value: errDoc(mongoerr.HostUnreachable, "connection refused")}}), bson.E{Key: "after", Value: int32(7)}))
	if !bytes.Equal(dst, want) {
		t.Errorf("got  %v\nwant %v", bson.Raw(dst), bson.Raw(want))
	}
}

func TestFailure(t *testing.T) {
	tests := []struct {
		name     string
		r        Result[host, outcome.Reply]
		wantCode mongoerr.Code // 0: no failure
	}{
		{name: "ok", r: Result[host, outcome.Reply]{Target: "a", Value: outcome.NewReply(doc(t, bson.D{{Key: "ok", Value: 1.0}}))}},
		{name: "ok 0", r: Result[host, outcome.Reply]{Target: "a", Value: outcome.NewReply(doc(t, errDoc(mongoerr.BadValue, "x")))}, wantCode: mongoerr.BadValue},
		{name: "ok 0 without code", r: Result[host, outcome.Reply]{Target: "a", Value: outcome.NewReply(doc(t, bson.D{{Key: "ok", Value: 0.0}}))}, wantCode: mongoerr.UnknownError},
		{name: "transport", r: Result[host, outcome.Reply]{Target: "a", Err: errRefused}, wantCode: mongoerr.HostUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := Failure(tc.r)
			switch {
			case tc.wantCode == 0 && f != nil:
				t.Errorf("failure %v, want none", f)
			case tc.wantCode != 0 && (f == nil || f.Code != tc.wantCode):
				t.Errorf("failure %v, want code %d", f, tc.wantCode)
			}
		})
	}
}

// TestBroadcastThenAggregate runs both halves together with targets finishing in reverse order:
// the reply must still follow target order, so it does not depend on goroutine timing.
func TestBroadcastThenAggregate(t *testing.T) {
	noLeaks(t)
	targets := []host{"a", "b", "c", "d"}
	replies := map[host]bsoncore.Document{
		"a": doc(t, errDoc(mongoerr.OperationFailed, "a failed")),
		"b": doc(t, bson.D{{Key: "ok", Value: 1.0}}),
		"c": doc(t, errDoc(mongoerr.UnknownError, "c failed")),
	}
	// finished[i] closes when target i has answered; target i waits for target i+1.
	finished := make([]chan struct{}, len(targets)+1)
	for i := range finished {
		finished[i] = make(chan struct{})
	}
	close(finished[len(targets)])
	results := Broadcast(context.Background(), targets, Options{}, func(ctx context.Context, target host) (outcome.Reply, error) {
		i := int(target[0] - 'a')
		defer close(finished[i])
		<-finished[i+1]
		if target == "d" {
			return outcome.Reply{}, errRefused
		}
		return outcome.NewReply(replies[target]), nil
	})
	got := Aggregate(results, nil)
	want := doc(t, withRaw(errDoc(mongoerr.OperationFailed, "a failed"), bson.D{
		{Key: "a", Value: bson.Raw(replies["a"])}, {Key: "b", Value: bson.Raw(replies["b"])}, {Key: "c", Value: bson.Raw(replies["c"])},
		{Key: "d", Value: errDoc(mongoerr.HostUnreachable, "connection refused")},
	}))
	if !bytes.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", bson.Raw(got), bson.Raw(want))
	}
}

func BenchmarkAggregate(b *testing.B) {
	reply := doc(b, bson.D{{Key: "ok", Value: 1.0}, {Key: "operationTime", Value: bson.Timestamp{T: 1, I: 2}},
		{Key: "$clusterTime", Value: bson.D{{Key: "clusterTime", Value: bson.Timestamp{T: 1, I: 2}}}}})
	failed := doc(b, errDoc(mongoerr.Unauthorized, "not authorized on admin"))
	for _, tc := range []struct {
		name   string
		failed int // every failedth result fails, alternately by reply and by transport error
	}{
		{name: "64 ok"},
		{name: "64 with 8 failing", failed: 8},
	} {
		results := make([]Result[host, outcome.Reply], 64)
		for i := range results {
			results[i] = Result[host, outcome.Reply]{Target: host(fmt.Sprintf("127.0.0.1:%d", 27000+i)), Value: outcome.NewReply(reply)}
			if tc.failed > 0 && i%tc.failed == 0 {
				if i%(2*tc.failed) == 0 {
					results[i].Value = outcome.NewReply(failed)
				} else {
					results[i] = Result[host, outcome.Reply]{Target: results[i].Target, Err: errRefused}
				}
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(Aggregate(results, nil)) == 0 {
					b.Fatal("empty reply")
				}
			}
		})
	}
}
