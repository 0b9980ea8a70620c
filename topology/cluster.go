// Package topology is the cluster map, the one source of truth about the cluster's layout: its
// shards, in configuration order (their indexes are stable for the life of the process), and
// the routing metadata kept on the config shard: which shard is the primary shard of each
// database (config.databases; sharded collections and their chunks next). Several routers agree
// on it because the metadata lives on the config shard, the first one (docs/architecture.md,
// "Placement").
package topology

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/shards"
)

// Shard is what the cluster map needs of a shard: its name and a way to run a command on its
// primary. *shards.Shard provides it; tests use fakes.
type Shard interface {
	Name() string
	Command(ctx context.Context, body bsoncore.Document) (shards.Reply, error)
}

// Cluster is the shards and the routing metadata.
type Cluster[S Shard] struct {
	shards    []S
	placement *placement
	cache     *routingCache // routing tables (routing.go)
	agree     *agreement    // how this router keeps them current with the others (agreement.go)
}

// New builds the cluster map over shards (at least one). The first shard also plays the config
// server: it holds the routing metadata.
func New[S Shard](list []S) *Cluster[S] {
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = s.Name()
	}
	p := newPlacement(list[configShard], names)
	cache := newRoutingCache()
	return &Cluster[S]{shards: list, placement: p, cache: cache, agree: newAgreement(p, cache)}
}

// Shards returns the shards in configuration order.
func (c *Cluster[S]) Shards() []S { return c.shards }

// Shard returns shard i.
func (c *Cluster[S]) Shard(i int) S { return c.shards[i] }

// Index returns the index of the shard named name, or -1.
func (c *Cluster[S]) Index(name string) int {
	for i, s := range c.shards {
		if s.Name() == name {
			return i
		}
	}
	return -1
}
