// Package topology is the router's map of the cluster: the shards, which shard is the primary
// shard of each database, and the wire-version range every shard supports.
package topology

import (
	"context"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Shard is what the cluster map needs of a shard: its name and a way to run a command on its
// primary. shards.Shard provides it; tests use fakes.
type Shard interface {
	Name() string
	Command(ctx context.Context, body bsoncore.Document) (bsoncore.Document, error)
}

// Cluster is the shard registry plus database placement.
type Cluster struct {
	shards    []Shard
	placement *placement
}

// New builds the cluster map over shards (at least one). The first shard also plays the config
// server: it holds config.databases.
func New(shards []Shard) *Cluster {
	return &Cluster{shards: shards, placement: newPlacement(shards)}
}

// Shards returns the shards in configuration order; indexes are stable for the process life.
func (c *Cluster) Shards() []Shard { return c.shards }

// Index returns the index of the shard named name, or -1.
func (c *Cluster) Index(name string) int {
	for i, s := range c.shards {
		if s.Name() == name {
			return i
		}
	}
	return -1
}
