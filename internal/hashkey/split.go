package hashkey

import (
	"math"
	"slices"
)

// SplitPoints returns, in ascending order, the numChunks-1 hashed key values at which mongos
// pre-splits an empty collection sharded on a hashed key into numChunks chunks
// (InitialSplitPolicy::calculateHashedSplitPoints, src/mongo/db/s/config/initial_split_policy.cpp).
// Chunk i covers [points[i-1], points[i]), with MinKey and MaxKey at the two ends; mongos stores
// each point as a NumberLong.
//
// The chunks are symmetric around 0. Each is 2*(math.MaxInt64/numChunks) wide, the integer
// division rounding down, so the two end chunks take the remainder. An even count splits at 0;
// an odd count centres a chunk on 0. Fewer than two chunks need no split point. The caller
// checks numInitialChunks against mongos's bounds before calling.
func SplitPoints(numChunks int) []int64 {
	if numChunks < 2 {
		return nil
	}
	interval := math.MaxInt64 / int64(numChunks) * 2
	points := make([]int64, 0, numChunks-1)
	var current int64
	if numChunks%2 == 0 {
		points = append(points, 0)
		current = interval
	} else {
		current = interval / 2
	}
	for range (numChunks - 1) / 2 {
		points = append(points, current, -current)
		current += interval
	}
	slices.Sort(points)
	return points
}
