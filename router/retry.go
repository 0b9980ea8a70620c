package router

// A failed shard request (no reply, a command error, or a writeConcernError) is sent again, at
// most 3 more times, to a freshly selected member when the command's retry policy allows the
// code (src/mongo/s/async_requests_sender.cpp); the shards package has already told SDAM, so
// selection waits for the member the set elects. The policies are mongos's
// (src/mongo/s/client/shard_remote.cpp isRetriableError): kIdempotent retries every retriable
// code, kNotIdempotent only "not primary" codes, kNoRetry nothing. Reads are kIdempotent; insert,
// update, delete, findAndModify and bulkWrite kIdempotent when retryable (txnNumber outside a
// transaction), else kNoRetry (s/write_ops/batch_write_exec.cpp,
// s/commands/cluster_find_and_modify_cmd.cpp); aggregate kNotIdempotent when it carries a
// writeConcern (getDesiredRetryPolicy); a single-shard commit kIdempotent
// (s/transaction_router.cpp); a request that starts a transaction never.

import (
	"context"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
)

// maxShardRetries is mongos's kMaxNumFailedHostRetryAttempts.
const maxShardRetries = 3

// retryPolicy says which failures of a shard request may be retried (mongos's Shard::RetryPolicy).
type retryPolicy uint8

const (
	noRetry       retryPolicy = iota // a retry could apply a write twice
	notIdempotent                    // only codes that say the member was not primary
	idempotent                       // every retriable code
)

func (p retryPolicy) allows(c mongoerr.Code) bool {
	switch p {
	case idempotent:
		return c.RetryableWrite() // the retriable codes, state changes and network errors alike
	case notIdempotent:
		return notPrimary(c)
	}
	return false
}

// idempotentReads are the forwarded commands mongos sends with the kIdempotent policy.
var idempotentReads = map[string]bool{
	"find": true, "count": true, "distinct": true, "listCollections": true, "listIndexes": true,
	"dbStats": true, "collStats": true, "explain": true, "dbHash": true,
}

// retryPolicyOf is the policy of a command forwarded outside a transaction; labels is its
// labelContext. Commands mongos-lite does not classify get mongos's middle ground: retried only
// when the member was not primary.
func retryPolicyOf(r *request, labels mongoerr.LabelContext) retryPolicy {
	name := string(r.Name)
	switch {
	case retryableWrites[name]:
		if labels.RetryableWrite {
			return idempotent // the shard de-duplicates by (lsid, txnNumber, stmtId)
		}
		return noRetry
	case name == "aggregate":
		if _, ok := bsonview.Lookup(r.Body, "writeConcern"); ok { // $out/$merge
			return notIdempotent
		}
		return idempotent
	case idempotentReads[name]:
		return idempotent
	}
	return notIdempotent
}

// retry reports whether a shard request that ended with (reply, err) is worth another attempt
// under p: it failed with a code p allows (or, for a retryable write, the shard labelled it
// RetryableWriteError) and the command's deadline has not passed.
func (p retryPolicy) retry(ctx context.Context, retryableWrite bool, reply shards.Reply, err error) bool {
	if p == noRetry || ctx.Err() != nil {
		return false
	}
	code := failureCode(reply, err)
	if code == 0 {
		return false
	}
	if p.allows(code) {
		return true
	}
	if !retryableWrite {
		return false
	}
	if err != nil {
		return mongoerr.As(err).HasLabel(mongoerr.LabelRetryableWrite)
	}
	return reply.Status.HasLabel(mongoerr.LabelRetryableWrite)
}

// logRetry notes, at debug level as mongos does, that a failed shard request is sent again.
func (c *conn) logRetry(shard int, reply shards.Reply, err error) {
	c.log.Debug().Str("shard", c.s.cluster.Shard(shard).Name()).Int32("code", int32(failureCode(reply, err))).
		Msg("shard request failed with a retriable error; retrying it")
}

// failureCode is the code a shard request failed with, as mongos's request sender sees it: the
// transport error's, else the reply's (internal/outcome); 0 for a success or a moreToCome
// request.
func failureCode(reply shards.Reply, err error) mongoerr.Code {
	if err != nil {
		return mongoerr.As(err).Code
	}
	if reply.Body == nil {
		return 0
	}
	return reply.Status.Failure()
}
