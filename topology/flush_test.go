package topology

import "testing"

// TestFlush: Flush forgets every cached placement and FlushDatabase one, so the next lookup
// reads config.databases again.
func TestFlush(t *testing.T) {
	c, cfg := newTestCluster(map[string]string{"a": "s1", "b": "s2"})
	ctx := ctxOf(t)
	for _, db := range []string{"a", "b"} {
		if _, err := c.PrimaryShard(ctx, []byte(db), false); err != nil {
			t.Fatal(err)
		}
	}
	cfg.mu.Lock()
	cfg.entries["a"], cfg.entries["b"] = "s2", "s1"
	cfg.mu.Unlock()
	lookup := func(db string) int {
		i, err := c.PrimaryShard(ctx, []byte(db), false)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}
	if lookup("a") != 1 || lookup("b") != 2 {
		t.Fatal("the cached placements were not used")
	}
	c.FlushDatabase("a")
	if lookup("a") != 2 || lookup("b") != 2 {
		t.Fatalf("after FlushDatabase(a): a on %d, b on %d; want a re-read, b cached", lookup("a"), lookup("b"))
	}
	c.Flush()
	if lookup("b") != 1 {
		t.Fatal("Flush kept b's placement")
	}
}
