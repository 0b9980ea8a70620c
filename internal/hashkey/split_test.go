package hashkey

import (
	"math"
	"slices"
	"testing"
)

// TestSplitPointsPublished holds the split points that src/mongo/db/s/config/
// initial_split_policy_test.cpp of mongodb/mongo (CalculateHashedSplitPointsTest,
// GenerateInitialHashedSplitChunksTest) states for a {x: "hashed"} key. The 4-chunk case is
// also the default for two shards (numInitialChunks 0 → 2 per shard).
func TestSplitPointsPublished(t *testing.T) {
	tests := []struct {
		chunks int
		want   []int64
	}{
		{1, nil},
		{2, []int64{0}},
		{3, []int64{-3074457345618258602, 3074457345618258602}},
		{4, []int64{-4611686018427387902, 0, 4611686018427387902}},
	}
	for _, tt := range tests {
		if got := SplitPoints(tt.chunks); !slices.Equal(got, tt.want) {
			t.Errorf("SplitPoints(%d) = %v, want %v", tt.chunks, got, tt.want)
		}
	}
}

// TestSplitPointsDerived holds larger counts worked out by hand from calculateHashedSplitPoints
// (src/mongo/db/s/config/initial_split_policy.cpp): interval = 2*(MaxInt64/n), rounded down;
// points at 0, ±interval, ±2·interval… for even n and at ±interval/2, ±3·interval/2… for odd n.
// No MongoDB test states these.
func TestSplitPointsDerived(t *testing.T) {
	const (
		eighth = math.MaxInt64 / 8 * 2 // 2305843009213693950
		fifth  = math.MaxInt64 / 5 * 2 // 3689348814741910322
	)
	tests := []struct {
		chunks int
		want   []int64
	}{
		{5, []int64{-fifth - fifth/2, -fifth / 2, fifth / 2, fifth + fifth/2}},
		{8, []int64{-3 * eighth, -2 * eighth, -eighth, 0, eighth, 2 * eighth, 3 * eighth}},
	}
	if eighth != 2305843009213693950 || fifth != 3689348814741910322 {
		t.Fatalf("interval arithmetic: %d, %d", eighth, fifth)
	}
	for _, tt := range tests {
		if got := SplitPoints(tt.chunks); !slices.Equal(got, tt.want) {
			t.Errorf("SplitPoints(%d) = %v, want %v", tt.chunks, got, tt.want)
		}
	}
}

// TestSplitPointsShape checks, for many counts, what mongos's split guarantees: n-1 distinct
// ascending points, symmetric around 0, inner chunks all one width and the two end chunks no
// narrower than it.
func TestSplitPointsShape(t *testing.T) {
	for n := 2; n <= 4096; n++ {
		points := SplitPoints(n)
		if len(points) != n-1 {
			t.Fatalf("SplitPoints(%d): %d points", n, len(points))
		}
		interval := math.MaxInt64 / int64(n) * 2
		for i, p := range points {
			if points[len(points)-1-i] != -p {
				t.Fatalf("SplitPoints(%d): not symmetric at %d", n, i)
			}
			if i > 0 && p-points[i-1] != interval {
				t.Fatalf("SplitPoints(%d): chunk %d is %d wide, want %d", n, i, p-points[i-1], interval)
			}
		}
		// The first chunk is [MinKey, points[0]); hashes start at math.MinInt64.
		lowest := int64(math.MinInt64)
		if first := uint64(points[0]) - uint64(lowest); first < uint64(interval) {
			t.Fatalf("SplitPoints(%d): first chunk %d narrower than %d", n, first, interval)
		}
	}
	if got := SplitPoints(0); got != nil {
		t.Errorf("SplitPoints(0) = %v, want none", got)
	}
	if got := SplitPoints(-3); got != nil {
		t.Errorf("SplitPoints(-3) = %v, want none", got)
	}
}
