package bench

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the drawing goroutine and the test can share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgress(t *testing.T) {
	var out syncBuffer
	p := startProgress(&out, 3)
	tgt := &target{result: &Result{URI: "mongodb://127.0.0.1:27017/"}}
	tgt.ops.Store(40)
	tgt.errs.Store(2)
	p.set(tgt, 1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "round 2/3") {
		if time.Now().After(deadline) {
			t.Fatalf("no progress line drawn: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	p.stop() // a second stop is harmless
	got := out.String()
	for _, want := range []string{"\rmongodb://127.0.0.1:27017/  round 2/3", "40 ops", "2 errors\x1b[K"} {
		if !strings.Contains(got, want) {
			t.Errorf("progress output %q lacks %q", got, want)
		}
	}
	if !strings.HasSuffix(got, "\r\x1b[K") {
		t.Errorf("progress output %q does not end by clearing its line", got)
	}
}

func TestProgressOff(t *testing.T) {
	p := startProgress(nil, 1)
	p.set(&target{result: &Result{}}, 0)
	p.stop()
	select {
	case <-p.done:
	default:
		t.Error("a progress without a writer is not done after stop")
	}
	if p.t == nil {
		t.Error("set was not recorded")
	}
}
