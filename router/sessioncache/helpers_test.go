package sessioncache

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// fakeClock is a settable time source.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

var (
	alice, _ = sessionid.UserDigest("alice", "admin")
	bob, _   = sessionid.UserDigest("bob", "test")
)

// newIDs returns n fresh session ids owned by uid.
func newIDs(n int, uid sessionid.UID) []sessionid.ID {
	ids := make([]sessionid.ID, n)
	for i := range ids {
		ids[i] = sessionid.NewID(uid)
	}
	return ids
}

// call is one ShardFunc invocation seen by fakeIO.
type call struct {
	shard int
	ids   []sessionid.ID
}

// fakeIO records the job's calls; shards in failing return an error.
type fakeIO struct {
	mu        sync.Mutex
	refreshes []call
	ends      []call
	killed    []int64
	failing   map[int]bool
}

var errShardDown = errors.New("shard down")

func (f *fakeIO) io() IO {
	record := func(dst *[]call) ShardFunc {
		return func(_ context.Context, shard int, ids []sessionid.ID) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			*dst = append(*dst, call{shard, slices.Clone(ids)})
			if f.failing[shard] {
				return errShardDown
			}
			return nil
		}
	}
	return IO{
		Refresh: record(&f.refreshes),
		End:     record(&f.ends),
		KillCursors: func(ids []int64) {
			f.mu.Lock()
			f.killed = append(f.killed, ids...)
			f.mu.Unlock()
		},
	}
}

// idsByShard flattens calls into shard -> sorted ids, checking the batch limit.
func idsByShard(t *testing.T, calls []call, limit int) map[int][]sessionid.ID {
	t.Helper()
	out := map[int][]sessionid.ID{}
	for _, c := range calls {
		if len(c.ids) == 0 || len(c.ids) > limit {
			t.Fatalf("batch of %d ids to shard %d, limit %d", len(c.ids), c.shard, limit)
		}
		out[c.shard] = append(out[c.shard], c.ids...)
	}
	for k := range out {
		sortIDs(out[k])
	}
	return out
}

func sortIDs(ids []sessionid.ID) []sessionid.ID {
	slices.SortFunc(ids, func(a, b sessionid.ID) int {
		return slices.Compare(append(a.ID[:], a.UID[:]...), append(b.ID[:], b.UID[:]...))
	})
	return ids
}

func wantCode(t *testing.T, err error, code mongoerr.Code) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
		return
	}
	if me := mongoerr.As(err); me == nil || me.Code != code {
		t.Fatalf("want code %d, got %v", code, err)
	}
}

// countActive counts active records directly, to check the counter.
func countActive(c *Cache) int {
	n := 0
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		for _, r := range s.m {
			if r.flags&flagActive != 0 {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
