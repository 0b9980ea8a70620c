package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mongos-lite/mongos-lite/router"
)

// txnCollector exposes the watched routers' transaction counters, summed (serverStatus's
// transactions section of mongos): transactions open, started and ended, the participants
// they reached and the commits of each of mongos's commit types.
type txnCollector struct {
	sources *sourceList

	open, active, inactive      *prometheus.Desc
	started, committed, aborted *prometheus.Desc
	participants, requests      *prometheus.Desc
	commits, commitSeconds      *prometheus.Desc
}

func newTxnCollector(sources *sourceList) *txnCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
	}
	return &txnCollector{
		sources:   sources,
		open:      desc("transactions_open", "Transactions in progress."),
		active:    desc("transactions_active", "Transactions in progress running a command now."),
		inactive:  desc("transactions_inactive", "Transactions in progress between commands."),
		started:   desc("transactions_started_total", "Transactions started."),
		committed: desc("transactions_committed_total", "Transactions committed."),
		aborted:   desc("transactions_aborted_total", "Transactions aborted, by cause (an error's code name, or abort for abortTransaction).", "cause"),
		participants: desc("transaction_participants_total",
			"Shards transactions reached: contacted (each shard a transaction joined) and at_commit (the participants of each commit).", "stage"),
		requests: desc("transaction_requests_total", "Requests sent to transaction participants: statements, commits and aborts."),
		commits: desc("transaction_commits_total",
			"Commits by mongos's commit type (noShards, singleShard, singleWriteShard, readOnly, recoverWithToken): initiated or successful.", "type", "result"),
		commitSeconds: desc("transaction_commit_duration_seconds_total", "Time from the first commit attempt to success, by commit type.", "type"),
	}
}

// Describe implements prometheus.Collector.
func (c *txnCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.active, c.inactive, c.started, c.committed, c.aborted,
		c.participants, c.requests, c.commits, c.commitSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *txnCollector) Collect(ch chan<- prometheus.Metric) {
	sum := router.TxnStats{AbortCause: map[string]int64{}, CommitTypes: map[string]router.CommitTypeStats{}}
	for _, s := range c.sources.snapshot() {
		st := s.TxnStats()
		sum.CurrentOpen += st.CurrentOpen
		sum.CurrentActive += st.CurrentActive
		sum.CurrentInactive += st.CurrentInactive
		sum.TotalStarted += st.TotalStarted
		sum.TotalCommitted += st.TotalCommitted
		sum.TotalAborted += st.TotalAborted
		sum.TotalContactedParticipants += st.TotalContactedParticipants
		sum.TotalParticipantsAtCommit += st.TotalParticipantsAtCommit
		sum.TotalRequestsTargeted += st.TotalRequestsTargeted
		for cause, n := range st.AbortCause {
			sum.AbortCause[cause] += n
		}
		for kind, ct := range st.CommitTypes {
			acc := sum.CommitTypes[kind]
			acc.Initiated += ct.Initiated
			acc.Successful += ct.Successful
			acc.SuccessfulDurationMicros += ct.SuccessfulDurationMicros
			sum.CommitTypes[kind] = acc
		}
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	count := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(c.open, sum.CurrentOpen)
	gauge(c.active, sum.CurrentActive)
	gauge(c.inactive, sum.CurrentInactive)
	count(c.started, float64(sum.TotalStarted))
	count(c.committed, float64(sum.TotalCommitted))
	for cause, n := range sum.AbortCause {
		count(c.aborted, float64(n), cause)
	}
	count(c.participants, float64(sum.TotalContactedParticipants), "contacted")
	count(c.participants, float64(sum.TotalParticipantsAtCommit), "at_commit")
	count(c.requests, float64(sum.TotalRequestsTargeted))
	for kind, ct := range sum.CommitTypes {
		count(c.commits, float64(ct.Initiated), kind, "initiated")
		count(c.commits, float64(ct.Successful), kind, "successful")
		count(c.commitSeconds, float64(ct.SuccessfulDurationMicros)/1e6, kind)
	}
}
