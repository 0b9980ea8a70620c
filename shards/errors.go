package shards

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// HostError is a failure to reach or talk to a member of a shard: no member to select, a dial or
// I/O failure, a timeout, or a reply that does not answer the request. Code is what a router
// answers with (mongoerr.As).
type HostError struct {
	Shard string // shard name
	Set   string // replica set name
	Host  string // member address; empty when no member could be selected
	Code  mongoerr.Code
	// What says what failed, e.g. "reading from"; for mongoerr.FailedToSatisfyReadPreference it holds
	// the read preference as mongos prints it.
	What string
	Err  error // the cause, when there is one
}

func (e *HostError) Error() string {
	var msg string
	switch {
	case e.Code == mongoerr.FailedToSatisfyReadPreference:
		// mongos's own wording, which names the set.
		msg = fmt.Sprintf("Could not find host matching read preference %s for set %s", e.What, e.Set)
	case e.Host == "":
		msg = fmt.Sprintf("Error %s shard %s (replica set %s)", e.What, e.Shard, e.Set)
	default:
		msg = fmt.Sprintf("Error %s host %s of shard %s (replica set %s)", e.What, e.Host, e.Shard, e.Set)
	}
	if e.Err != nil {
		msg += " :: caused by :: " + e.Err.Error()
	}
	return msg
}

func (e *HostError) Unwrap() error { return e.Err }

// MongoCode is the code a router answers the failure with (mongoerr.As).
func (e *HostError) MongoCode() mongoerr.Code { return e.Code }

// classify maps a driver error (checkout, read, write) to a code; other is returned for errors
// that say nothing about timing or shutdown, i.e. the host could not be reached or talked to.
func classify(err error, other mongoerr.Code) mongoerr.Code {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return mongoerr.Interrupted
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return mongoerr.NetworkTimeout
	case errors.Is(err, topology.ErrTopologyClosed), errors.Is(err, topology.ErrServerClosed),
		errors.Is(err, topology.ErrPoolClosed):
		return mongoerr.ShutdownInProgress
	}
	return other
}

// newHostError builds the error for a failure on host while doing what.
func (s *Shard) newHostError(host, what string, err error) *HostError {
	return &HostError{Shard: s.name, Set: s.setName, Host: host, Code: classify(err, mongoerr.HostUnreachable), What: what, Err: err}
}

// protocolError is a reply that cannot be trusted to answer the request; the connection it came
// from has been closed.
func (s *Shard) protocolError(host, format string, args ...any) *HostError {
	return &HostError{Shard: s.name, Set: s.setName, Host: host, Code: mongoerr.ProtocolError,
		What: "in the reply from", Err: fmt.Errorf(format, args...)}
}
