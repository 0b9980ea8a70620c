package metrics

import (
	"testing"

	"github.com/mongos-lite/mongos-lite/router"
)

// The transaction counters of every watched router are summed, by cause and commit type.
func TestTxnCountersSummed(t *testing.T) {
	m := New()
	m.Watch(&fakeSource{txns: router.TxnStats{CurrentOpen: 2, CurrentActive: 1, CurrentInactive: 1, TotalStarted: 9,
		TotalCommitted: 5, AbortCause: map[string]int64{"abort": 1, "NoSuchTransaction": 1},
		TotalContactedParticipants: 14, TotalParticipantsAtCommit: 8, TotalRequestsTargeted: 30,
		CommitTypes: map[string]router.CommitTypeStats{"singleWriteShard": {Initiated: 3, Successful: 2, SuccessfulDurationMicros: 1_500_000}}}})
	m.Watch(&fakeSource{txns: router.TxnStats{CurrentOpen: 1, CurrentInactive: 1, TotalStarted: 1, AbortCause: map[string]int64{"abort": 2},
		TotalContactedParticipants: 1, CommitTypes: map[string]router.CommitTypeStats{"singleWriteShard": {Initiated: 1}}}})
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mongos_lite_transactions_open", nil, 3},
		{"mongos_lite_transactions_active", nil, 1},
		{"mongos_lite_transactions_inactive", nil, 2},
		{"mongos_lite_transactions_started_total", nil, 10},
		{"mongos_lite_transactions_committed_total", nil, 5},
		{"mongos_lite_transactions_aborted_total", map[string]string{"cause": "abort"}, 3},
		{"mongos_lite_transactions_aborted_total", map[string]string{"cause": "NoSuchTransaction"}, 1},
		{"mongos_lite_transaction_participants_total", map[string]string{"stage": "contacted"}, 15},
		{"mongos_lite_transaction_participants_total", map[string]string{"stage": "at_commit"}, 8},
		{"mongos_lite_transaction_requests_total", nil, 30},
		{"mongos_lite_transaction_commits_total", map[string]string{"type": "singleWriteShard", "result": "initiated"}, 4},
		{"mongos_lite_transaction_commits_total", map[string]string{"type": "singleWriteShard", "result": "successful"}, 2},
		{"mongos_lite_transaction_commit_duration_seconds_total", map[string]string{"type": "singleWriteShard"}, 1.5},
	} {
		if got := counter(t, m.reg, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}
