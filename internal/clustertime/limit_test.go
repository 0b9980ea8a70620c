package clustertime

import (
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestLimit(t *testing.T) {
	wall := time.Unix(1_750_000_000, 0)
	l := Limit{MaxDriftSecs: 100, Now: func() time.Time { return wall }}
	now := uint32(wall.Unix())
	tests := []struct {
		name string
		ts   bson.Timestamp
		code mongoerr.Code
		msg  string
	}{
		{name: "the past", ts: bson.Timestamp{T: 1, I: 1}},
		{name: "now", ts: bson.Timestamp{T: now, I: 1 << 30}},
		{name: "at the limit", ts: bson.Timestamp{T: now + 100}},
		{name: "one second past it", ts: bson.Timestamp{T: now + 101}, code: mongoerr.ClusterTimeFailsRateLimiter,
			msg: fmt.Sprintf("New $clusterTime, %d, is too far from this node's wall clock time, %d.", now+101, now)},
		{name: "the year 2100", ts: bson.Timestamp{T: 4102444800, I: 1}, code: mongoerr.ClusterTimeFailsRateLimiter,
			msg: fmt.Sprintf("New $clusterTime, 4102444800, is too far from this node's wall clock time, %d.", now)},
		{name: "increment past the largest", ts: bson.Timestamp{T: now, I: 1 << 31}, code: 40484,
			msg: "$clusterTime cannot be advanced beyond its maximum value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := l.Check(tt.ts)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("Check(%v) = %v", tt.ts, err)
				}
				return
			}
			if e := mongoerr.As(err); err == nil || e.Code != tt.code || e.Msg != tt.msg {
				t.Fatalf("Check(%v) = %v, want %d %q", tt.ts, err, tt.code, tt.msg)
			}
		})
	}
}

// Seconds past the largest value are caught too, by whichever check comes first, as in mongod: a
// huge drift lets them reach the second check.
func TestLimitSecondsPastTheLargest(t *testing.T) {
	l := Limit{MaxDriftSecs: 1 << 40, Now: time.Now}
	err := l.Check(bson.Timestamp{T: 1 << 31})
	if e := mongoerr.As(err); err == nil || e.Code != 40484 {
		t.Fatalf("Check = %v, want 40484", err)
	}
}
