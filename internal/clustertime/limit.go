package clustertime

import (
	"math"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// DefaultMaxDriftSecs is maxAcceptableLogicalClockDriftSecs's default: one year (vector_clock.idl).
const DefaultMaxDriftSecs = 365 * 24 * 60 * 60

// maxValue bounds both halves of a cluster time (VectorClock::kMaxValue, the largest int32).
const maxValue = math.MaxInt32

// codeBeyondMax is the bare assertion past the largest possible time (40484 in vector_clock.cpp).
const codeBeyondMax mongoerr.Code = 40484

// Limit is mongod's rate limiter on cluster times (VectorClock::_ensurePassesRateLimiter): a node
// adopts no time whose seconds run more than MaxDriftSecs past its own wall clock, nor one past
// the largest possible time, whoever sent it.
type Limit struct {
	MaxDriftSecs int64            // maxAcceptableLogicalClockDriftSecs, > 0
	Now          func() time.Time // the wall clock
}

// Check refuses a time the limiter does not let through, with mongod's codes and messages.
func (l Limit) Check(ts bson.Timestamp) error {
	wall := l.Now().Unix()
	if int64(ts.T) > wall && int64(ts.T)-wall > l.MaxDriftSecs {
		return mongoerr.New(mongoerr.ClusterTimeFailsRateLimiter,
			"New %s, %d, is too far from this node's wall clock time, %d.", Field, ts.T, wall)
	}
	if ts.T > maxValue || ts.I > maxValue {
		return mongoerr.New(codeBeyondMax, "%s cannot be advanced beyond its maximum value", Field)
	}
	return nil
}
