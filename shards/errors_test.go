package shards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestErrorCode(t *testing.T) {
	s := &Shard{name: "s1", setName: "rs0"}
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want mongoerr.Code
	}{
		{"nil", nil, 0},
		{"host error", &HostError{Code: mongoerr.FailedToSatisfyReadPreference}, mongoerr.FailedToSatisfyReadPreference},
		{"wrapped host error", fmt.Errorf("x: %w", &HostError{Code: mongoerr.HostNotFound}), mongoerr.HostNotFound},
		{"mongo error", mongoerr.New(mongoerr.BadValue, "x"), mongoerr.BadValue},
		{"canceled", context.Canceled, mongoerr.Interrupted},
		{"deadline", context.DeadlineExceeded, mongoerr.NetworkTimeout},
		{"other", io.EOF, mongoerr.InternalError},
		{"io: EOF", s.newHostError("h:1", "reading from", topology.ConnectionError{Wrapped: io.EOF}), mongoerr.HostUnreachable},
		{"io: refused", s.newHostError("h:1", "connecting to", topology.ConnectionError{Wrapped: refused}), mongoerr.HostUnreachable},
		{"io: net timeout", s.newHostError("h:1", "reading from", topology.ConnectionError{Wrapped: timeout}), mongoerr.NetworkTimeout},
		{"io: deadline", s.newHostError("h:1", "reading from",
			topology.ConnectionError{Wrapped: fmt.Errorf("%w: slow", context.DeadlineExceeded)}), mongoerr.NetworkTimeout},
		{"io: canceled", s.newHostError("h:1", "reading from", topology.ConnectionError{Wrapped: context.Canceled}), mongoerr.Interrupted},
		{"pool wait", s.newHostError("h:1", "connecting to", topology.WaitQueueTimeoutError{Wrapped: context.DeadlineExceeded}), mongoerr.NetworkTimeout},
		{"closed", s.newHostError("h:1", "connecting to", topology.ErrServerClosed), mongoerr.ShutdownInProgress},
		{"protocol", s.protocolError("h:1", "bad"), mongoerr.ProtocolError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := codeOf(tc.err); got != tc.want {
				t.Errorf("ErrorCode = %d, want %d", got, tc.want)
			}
			r := mongoerr.As(tc.err)
			if tc.err == nil {
				if r != nil {
					t.Errorf("mongoerr.As(nil) = %v", r)
				}
				return
			}
			if r.Code != tc.want {
				t.Errorf("ErrorReply code %d, want %d", r.Code, tc.want)
			}
		})
	}
}

func TestHostErrorMessage(t *testing.T) {
	s := &Shard{name: "s1", setName: "rs0"}
	tests := []struct {
		err  error
		want string
	}{
		{&HostError{Shard: "s1", Set: "rs0", Code: mongoerr.FailedToSatisfyReadPreference, What: `{ mode: "primary" }`},
			`Could not find host matching read preference { mode: "primary" } for set rs0`},
		{s.newHostError("127.0.0.1:1", "reading from", errors.New("EOF")),
			"Error reading from host 127.0.0.1:1 of shard s1 (replica set rs0) :: caused by :: EOF"},
		{&HostError{Shard: "s1", Set: "rs0", Code: mongoerr.Interrupted, What: "selecting a member of", Err: context.Canceled},
			"Error selecting a member of shard s1 (replica set rs0) :: caused by :: context canceled"},
		{s.protocolError("127.0.0.1:1", "reply has responseTo %d, the request was %d", 1, 2),
			"Error in the reply from host 127.0.0.1:1 of shard s1 (replica set rs0) :: caused by :: reply has responseTo 1, the request was 2"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
		if got := mongoerr.As(tc.err).Msg; got != tc.want {
			t.Errorf("ErrorReply message %q", got)
		}
	}
	me := mongoerr.New(mongoerr.BadValue, "bad")
	if mongoerr.As(fmt.Errorf("wrapped: %w", me)) != me {
		t.Error("ErrorReply does not pass a *mongoerr.Error through")
	}
	if r := mongoerr.As(io.EOF); r.Code != mongoerr.InternalError || r.Msg != "EOF" {
		t.Errorf("mongoerr.As(EOF) = %+v", r)
	}
}
