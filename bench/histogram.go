package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of two, so a recorded
// value is reported within 1/2^subBits (1.6%) of itself.
const subBits = 6

const (
	subCount = 1 << subBits
	// nBuckets covers every non-negative int64 (a time.Duration): values below subCount
	// exactly, then subCount buckets for each power of two up to 2^63.
	nBuckets = (64 - subBits) << subBits
)

// Histogram records latencies in fixed memory (log-linear buckets, as HdrHistogram does), so
// recording never allocates and one histogram per worker can be merged at the end.
type Histogram struct {
	counts   [nBuckets]uint64
	n        uint64
	sum      time.Duration
	min, max time.Duration
}

// bucket maps a non-negative value to its bucket: below subCount, the value itself; above,
// (power of two, top subBits mantissa bits), which continues the exact range seamlessly.
func bucket(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int(v>>shift) - subCount
}

// bucketRange is the smallest and largest value that fall in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	shift := i>>subBits - 1
	mant := uint64(i&(subCount-1) + subCount)
	return mant << shift, (mant+1)<<shift - 1
}

// Record adds one latency; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Merge adds o's records to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of records.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest record (exact).
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average record (exact); 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 < q <= 1) by nearest rank: the smallest recorded value
// that at least q of the records do not exceed, reported as the middle of its bucket (the first
// and last ranks are the exact minimum and maximum). 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	switch rank {
	case 1:
		return h.min
	case h.n:
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			v := time.Duration(lo + (hi-lo)/2)
			return min(max(v, h.min), h.max)
		}
	}
	return h.max // unreachable: the counts sum to n
}
