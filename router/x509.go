package router

import (
	"context"
	"crypto/tls"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// authenticate runs the authenticate command: MONGODB-X509, the client authenticated by its
// verified TLS certificate.
func (c *conn) authenticate(_ context.Context, r *request) (bsoncore.Document, error) {
	return c.sasl(func(dst []byte) ([]byte, error) {
		c.conv.SetPeer(c.tlsState())
		return c.conv.Authenticate(dst, string(r.DB), r.Body)
	})
}

// tlsState is the client's TLS state, nil on a plain connection. The listener has told TLS from
// plain before the first request was read, so this never waits for the client.
func (c *conn) tlsState() *tls.ConnectionState {
	sc, ok := c.nc.(*sniffConn)
	if !ok {
		return nil
	}
	sc.once.Do(sc.detect) // a no-op that orders the read of rw after detection
	tc, ok := sc.rw.(*tls.Conn)
	if !ok {
		return nil
	}
	st := tc.ConnectionState()
	return &st
}
