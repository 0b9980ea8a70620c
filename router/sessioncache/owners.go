package sessioncache

import (
	"sync"
	"sync/atomic"
)

// owners interns owner names ("user@db"): a session stores a 4-byte index, and there are few
// users compared with sessions. Reads are lock-free; a new name takes the mutex.
type owners struct {
	mu     sync.Mutex
	byName sync.Map                 // name -> uint32
	names  atomic.Pointer[[]string] // index -> name, copied on write
}

func (o *owners) init() {
	names := []string{""} // index 0: no authenticated owner
	o.names.Store(&names)
	o.byName.Store("", uint32(0))
}

func (o *owners) index(name string) uint32 {
	if i, ok := o.byName.Load(name); ok {
		return i.(uint32)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if i, ok := o.byName.Load(name); ok {
		return i.(uint32)
	}
	old := *o.names.Load()
	names := append(old[:len(old):len(old)], name)
	o.names.Store(&names)
	i := uint32(len(names) - 1)
	o.byName.Store(name, i)
	return i
}

func (o *owners) name(i uint32) string {
	names := *o.names.Load()
	if int(i) < len(names) {
		return names[i]
	}
	return ""
}
