package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguous(t *testing.T) {
	// Every bucket starts right after the previous one ends, and bucket() inverts bucketRange.
	var next uint64
	for i := range nBuckets {
		lo, hi := bucketRange(i)
		if lo != next || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], want it to start at %d", i, lo, hi, next)
		}
		for _, v := range []uint64{lo, hi, lo + (hi-lo)/2} {
			if b := bucket(v); b != i {
				t.Fatalf("bucket(%d) = %d, want %d", v, b, i)
			}
		}
		next = hi + 1
	}
	if _, hi := bucketRange(nBuckets - 1); hi != 1<<63-1 {
		t.Errorf("last bucket ends at %d, want 2^63-1 (the largest Duration)", hi)
	}
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value", []time.Duration{42 * time.Microsecond}, 0.99, 42 * time.Microsecond},
		{"small values are exact", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5},
		{"nearest rank: p90 of ten", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9},
		{"p100 is the exact maximum", []time.Duration{time.Millisecond, 3*time.Second + 7}, 1, 3*time.Second + 7},
		{"q near zero is the minimum", []time.Duration{5 * time.Millisecond, 7 * time.Millisecond}, 0.0001, 5 * time.Millisecond},
		{"negative counts as zero", []time.Duration{-time.Second}, 0.5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			for _, v := range tc.values {
				h.Record(v)
			}
			if got := h.Quantile(tc.q); got != tc.want {
				t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// Against exact percentiles of random latencies spread over six decades, every quantile is
// within the histogram's 1/64 relative precision.
func TestQuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	values := make([]time.Duration, 100_000)
	for i := range values {
		values[i] = time.Duration(1000 * (1 + rng.ExpFloat64()*rng.Float64()*rng.Float64()*1e6))
		h.Record(values[i])
	}
	slices.Sort(values)
	for _, q := range []float64{0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999} {
		exact := values[int(q*float64(len(values))+0.9999999)-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff > 1.0/subCount || diff < -1.0/subCount {
			t.Errorf("q%v: %v, exact %v (off by %.2f%%)", q, got, exact, 100*diff)
		}
	}
	if h.Count() != uint64(len(values)) || h.Max() != values[len(values)-1] {
		t.Errorf("count %d max %v, want %d and %v", h.Count(), h.Max(), len(values), values[len(values)-1])
	}
}

func TestMerge(t *testing.T) {
	var a, b, all Histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var empty Histogram
	a.Merge(&empty)
	empty.Merge(&a)
	empty.Merge(&b)
	if empty != all {
		t.Errorf("merge differs: count %d mean %v max %v, want %d %v %v", empty.Count(), empty.Mean(), empty.Max(), all.Count(), all.Mean(), all.Max())
	}
	if got, want := all.Mean(), 500500*time.Nanosecond; got != want {
		t.Errorf("mean %v, want %v", got, want)
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := new(Histogram)
	if n := testing.AllocsPerRun(1000, func() { h.Record(123 * time.Microsecond) }); n != 0 {
		t.Errorf("%v allocations per Record", n)
	}
}
