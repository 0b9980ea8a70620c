package shards

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		name    string
		set     string
		hosts   []string
		wantErr string // substring of the error; "" for success
	}{
		{spec: "s1=rs0/127.0.0.1:27017", name: "s1", set: "rs0", hosts: []string{"127.0.0.1:27017"}},
		{spec: "shardA=rsA/a.example:1,b.example:2,[::1]:3", name: "shardA", set: "rsA",
			hosts: []string{"a.example:1", "b.example:2", "[::1]:3"}},
		{spec: "", wantErr: `missing "="`},
		{spec: "s1", wantErr: `missing "="`},
		{spec: "=rs0/h:1", wantErr: "shard name is empty"},
		{spec: "s 1=rs0/h:1", wantErr: "shard name"},
		{spec: "s1=rs0", wantErr: `missing "/"`},
		{spec: "s1=/h:1", wantErr: "replica set name is empty"},
		{spec: "s1=r=s/h:1", wantErr: "replica set name"},
		{spec: "s1=rs0/", wantErr: "no hosts"},
		{spec: "s1=rs0/h", wantErr: `host "h"`},
		{spec: "s1=rs0/h:1,", wantErr: `host ""`},
		{spec: "s1=rs0/h:0", wantErr: "not a number in [1, 65535]"},
		{spec: "s1=rs0/h:65536", wantErr: "not a number in [1, 65535]"},
		{spec: "s1=rs0/h:x", wantErr: "not a number"},
		{spec: "s1=rs0/:1", wantErr: "empty host name"},
		{spec: "s1=rs0/h:1,h:1", wantErr: "listed twice"},
		{spec: "s1=rs0/a/b:1", wantErr: "invalid host name"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			cfg, err := ParseSpec(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), "NAME=RSNAME/host:port") {
					t.Errorf("error %q does not show the expected form", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Name != tc.name || cfg.SetName != tc.set || !slices.Equal(cfg.Hosts, tc.hosts) {
				t.Errorf("got %q %q %q", cfg.Name, cfg.SetName, cfg.Hosts)
			}
		})
	}
}
