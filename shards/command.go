package shards

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// SetName is the shard's replica set name.
func (s *Shard) SetName() string { return s.setName }

// Command runs one command document (with its $db) on the shard's primary; the router's own
// metadata reads and writes use it. A reply that is not ok is returned as is, for the caller to
// judge (Reply.Err).
func (s *Shard) Command(ctx context.Context, body bsoncore.Document) (Reply, error) {
	reply, _, err := s.RoundTrip(ctx, Primary(), Request{Body: body}, nil)
	return reply, err
}

// CommandHost runs one command document on the given member. body is only read: the same one
// may go to every member at once.
func (s *Shard) CommandHost(ctx context.Context, host string, body bsoncore.Document) (Reply, error) {
	return s.RoundTripHost(ctx, host, Request{Body: body}, nil)
}
