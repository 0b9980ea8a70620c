package shards

import "github.com/mongos-lite/mongos-lite/internal/outcome"

// Reply is a member's answer: its body and its status, read once (internal/outcome) for
// everything that decides on it: SDAM feedback here, and the router's retries, cloaking,
// cursors, cluster clock, metrics and session fan-outs.
type Reply struct {
	outcome.Reply
	frame []byte // the frame Body lies in
}

// Buffer is the storage the reply was read into, empty, for the caller's next round trip to
// read into: the reply stays valid until then.
func (r Reply) Buffer() []byte { return r.frame[:0] }
