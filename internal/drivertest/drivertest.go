// Package drivertest opens clients of the official Go driver for tests: connected with the
// caller's options and disconnected, within a bound, when the test ends.
package drivertest

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// disconnectTimeout bounds a client's Disconnect at the end of a test: a server the test has
// stopped must not hold the cleanup.
const disconnectTimeout = 10 * time.Second

// Connect returns a client built from opts (later options win), disconnected when t ends.
func Connect(t testing.TB, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	cl, err := mongo.Connect(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), disconnectTimeout)
		defer cancel()
		if err := cl.Disconnect(ctx); err != nil {
			t.Errorf("disconnecting the test's driver client: %v", err)
		}
	})
	return cl
}
