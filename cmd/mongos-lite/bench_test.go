package main

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestBenchCommand(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // registered first: runs after the cluster stops
	srv, rs := startRouter(t)
	uri := "mongodb://" + srv.Addr() + "/"

	for _, tt := range []struct {
		name    string
		args    []string
		want    []string // in the output
		wantErr string
	}{
		{"compare with the shard", []string{"--uri", uri, "--compare-uri", rs.URI(), "--duration", "300ms", "--concurrency", "2", "--docs", "10"},
			[]string{"workload find-id: 2 clients", "ops/s", uri, rs.URI(), "ratio uri/compare-uri: throughput "}, ""},
		{"bounded by count", []string{"--uri", uri, "--workload", "insert", "--max-ops", "7", "--duration", "1m"},
			[]string{"workload insert: 16 clients", "  7  "}, ""},
		{"unknown workload", []string{"--uri", uri, "--workload", "scan"}, nil, `unknown workload "scan"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := newApp()
			var out bytes.Buffer
			app.Writer = &out
			err := app.Run(append([]string{"mongos-lite", "bench"}, tt.args...))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
