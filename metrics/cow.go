package metrics

import (
	"sync"
	"sync/atomic"
)

// cowMap is a map that readers use without locks or allocations; a missing key is added by
// copying the map under a mutex. It suits small label sets that stop growing early.
type cowMap[K comparable, V any] struct {
	p  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

// get returns k's value, storing newV() first if k is missing.
func (c *cowMap[K, V]) get(k K, newV func() V) V {
	if m := c.p.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if m := c.p.Load(); m != nil {
		old = *m
	}
	if v, ok := old[k]; ok {
		return v
	}
	v := newV()
	next := make(map[K]V, len(old)+1)
	for key, val := range old {
		next[key] = val
	}
	next[k] = v
	c.p.Store(&next)
	return v
}
