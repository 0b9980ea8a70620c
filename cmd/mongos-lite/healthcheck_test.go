package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/mongos-lite/mongos-lite/router"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

func TestHealthcheck(t *testing.T) {
	defer goleak.VerifyNone(t)
	rs, err := memshard.StartReplicaSet("rs0", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rs.Close() }()
	sh, err := shards.Open(shards.Config{Name: "rs0", SetName: "rs0", Hosts: rs.Hosts(), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sh.Close(context.Background()) }()
	srv, err := router.New(router.Config{Logger: zerolog.Nop()}, []*shards.Shard{sh})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() {
		_ = srv.Close(context.Background())
		<-served
	}()

	// A port nothing listens on: take one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	_ = ln.Close()

	tests := []struct {
		name    string
		addr    string
		wantErr string // "" for healthy
	}{
		{"the router", srv.Addr(), ""},
		{"a mongod, not a mongos", rs.Hosts()[0], `want a mongos (msg "isdbgrid")`},
		{"nothing listening", closedAddr, "healthcheck 127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, port, err := net.SplitHostPort(tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			app := newApp()
			var out bytes.Buffer
			app.Writer = &out
			start := time.Now()
			err = app.Run([]string{"mongos-lite", "healthcheck", "--port", port, "--timeout", "2s"})
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("healthcheck took %v; the deadline is 2s", took)
			}
			if tt.wantErr == "" {
				if err != nil || !strings.Contains(out.String(), "answers hello as a mongos") {
					t.Fatalf("healthy router: err %v, output %q", err, out.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHealthcheckFollowsPortEnv(t *testing.T) {
	t.Setenv("MONGOS_LITE_PORT", "1")
	err := newApp().Run([]string{"mongos-lite", "healthcheck", "--timeout", "500ms"})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("err %v, want a failure naming 127.0.0.1:1 (the port from MONGOS_LITE_PORT)", err)
	}
}
