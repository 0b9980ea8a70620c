package shards

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// SetName is the shard's replica set name.
func (s *Shard) SetName() string { return s.setName }

// Command runs one command document (with its $db) on the shard's primary and returns the
// reply body; the router's own metadata reads and writes use it. A reply with ok: 0 is returned
// as is, for the caller to judge.
func (s *Shard) Command(ctx context.Context, body bsoncore.Document) (bsoncore.Document, error) {
	reply, _, err := s.RoundTrip(ctx, Primary(), Request{Body: body}, nil)
	return s.replyBody(reply, err)
}

// CommandHost runs one command document on the given member. body is only read: the same one
// may go to every member at once.
func (s *Shard) CommandHost(ctx context.Context, host string, body bsoncore.Document) (bsoncore.Document, error) {
	reply, err := s.RoundTripHost(ctx, host, Request{Body: body}, nil)
	return s.replyBody(reply, err)
}

func (s *Shard) replyBody(reply []byte, err error) (bsoncore.Document, error) {
	if err != nil {
		return nil, err
	}
	m, err := wire.ParseMsg(reply)
	if err != nil {
		return nil, &HostError{Shard: s.name, Set: s.setName, Code: mongoerr.ProtocolError,
			What: "reading a reply from", Err: fmt.Errorf("malformed reply: %w", err)}
	}
	return m.Body, nil
}
