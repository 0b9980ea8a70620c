package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestHealthcheck(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the cluster stops
	srv, rs := startRouter(t)

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
