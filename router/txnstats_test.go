package router

import (
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/router/sessioncache"
)

// TestTxnStats: the counters as serverStatus shows them, in mongos's shape
// (router_transactions_stats.idl).
func TestTxnStats(t *testing.T) {
	var c txnCounters
	c.begun()
	c.begun()
	c.begun()
	c.contacted.Add(5)
	c.targeted.Add(9)
	c.commitStarted(commitSingleWriteShard, 2)
	done := c.activeOp()
	c.ended(sessioncache.Txn{CommitType: commitSingleWriteShard, CommitStart: time.Now().Add(-time.Second)},
		sessioncache.TxnEnd{State: sessioncache.TxnCommitted})
	c.ended(sessioncache.Txn{}, sessioncache.TxnEnd{State: sessioncache.TxnAborted, Cause: "abort"})
	srv := &Server{txns: &c}
	doc := bson.Raw(srv.TxnStats().AppendDoc(nil))
	done()

	var keys []string
	elems, _ := doc.Elements()
	for _, e := range elems {
		keys = append(keys, e.Key())
	}
	want := []string{"currentOpen", "currentActive", "currentInactive", "totalStarted", "totalCommitted", "totalAborted",
		"abortCause", "totalContactedParticipants", "totalParticipantsAtCommit", "totalRequestsTargeted", "commitTypes"}
	if len(keys) != len(want) {
		t.Fatalf("fields %v, want %v", keys, want)
	}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("fields %v, want %v", keys, want)
		}
	}
	for path, n := range map[string]int64{"currentOpen": 1, "currentActive": 1, "currentInactive": 0, "totalStarted": 3,
		"totalCommitted": 1, "totalAborted": 1, "abortCause.abort": 1, "totalContactedParticipants": 5,
		"totalParticipantsAtCommit": 2, "totalRequestsTargeted": 9, "commitTypes.singleWriteShard.initiated": 1,
		"commitTypes.singleWriteShard.successful": 1, "commitTypes.twoPhaseCommit.initiated": 0} {
		if got := lookupInt64(doc, path); got != n {
			t.Errorf("%s = %d, want %d", path, got, n)
		}
	}
	if micros := lookupInt64(doc, "commitTypes.singleWriteShard.successfulDurationMicros"); micros < 1_000_000 {
		t.Errorf("successfulDurationMicros %d, want at least a second", micros)
	}
	if len(doc.Lookup("commitTypes").Document()) == 0 || doc.Lookup("commitTypes", "recoverWithToken", "initiated").Type != bson.TypeInt64 {
		t.Errorf("commitTypes %s lacks a type", doc.Lookup("commitTypes"))
	}
}

func lookupInt64(doc bson.Raw, path string) int64 {
	v, ok := doc.Lookup(strings.Split(path, ".")...).Int64OK()
	if !ok {
		return -1
	}
	return v
}
