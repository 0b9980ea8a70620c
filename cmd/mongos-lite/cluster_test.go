package main

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// startRouter runs a router in process over a one-member memshard set, for the subcommands'
// tests; everything stops in the test's cleanup.
func startRouter(t *testing.T) (*router.Server, *memshard.ReplicaSet) {
	t.Helper()
	rs, err := memshard.StartReplicaSet("rs0", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Close() })
	sh, err := shards.Open(shards.Config{Name: "rs0", SetName: "rs0", Hosts: rs.Hosts(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sh.Close(context.Background()) })
	srv, err := router.New(router.Config{Logger: zerolog.Nop()}, []*shards.Shard{sh})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		_ = srv.Close(context.Background())
		<-served
	})
	return srv, rs
}
