package metrics

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServer(t *testing.T) {
	m := New()
	src := &fakeSource{}
	m.Watch(src)
	m.CommandDone("find", time.Millisecond, time.Millisecond/2, 0)
	srv, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	base := "http://" + srv.Addr()

	code, body := get(t, c, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{`mongos_lite_commands_total{command="find"} 1`, "mongos_lite_client_connections 0",
		`mongos_lite_command_duration_seconds_count{command="find",part="router"} 1`, "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, tc := range []struct {
		path  string
		ready bool
		want  int
	}{
		{"/healthz", false, http.StatusOK},
		{"/readyz", false, http.StatusServiceUnavailable},
		{"/readyz", true, http.StatusOK},
		{"/nothing", true, http.StatusNotFound},
	} {
		src.ready.Store(tc.ready)
		if code, _ := get(t, c, base+tc.path); code != tc.want {
			t.Errorf("%s (ready %v): %d, want %d", tc.path, tc.ready, code, tc.want)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(base + "/healthz"); err == nil {
		t.Error("still serving after Close")
	}
}

func TestListenBusyAddress(t *testing.T) {
	m := New()
	srv, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if _, err := New().Listen(srv.Addr()); err == nil {
		t.Error("a second server bound the same address")
	}
}
