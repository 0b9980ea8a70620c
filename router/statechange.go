package router

import (
	"context"
	"slices"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
)

// A shard member that steps down or shuts down answers with a state-change error: "not primary"
// (NotWritablePrimary, ...) or "node is recovering / shutting down" (InterruptedDueToReplStateChange,
// ShutdownInProgress, ...). A driver that gets one of those codes from the router applies SDAM to
// the router: marks it Unknown, maybe clears its pool, and stalls until it rediscovers it. The
// router handles them as mongos does (mongodb/mongo sources):
//
//   - retry (src/mongo/s/async_requests_sender.cpp): a failed shard request (no reply, a command
//     error, or a writeConcernError) is sent again, at most 3 more times, to a freshly selected
//     member when the command's retry policy allows the code; the shards package has already told
//     SDAM, so selection waits for the member the set elects.
//   - policies (src/mongo/s/client/shard_remote.cpp isRetriableError): kIdempotent retries every
//     retriable code, kNotIdempotent only "not primary" codes, kNoRetry nothing. Reads are
//     kIdempotent; insert, update, delete, findAndModify and bulkWrite kIdempotent when retryable
//     (txnNumber outside a transaction), else kNoRetry (s/write_ops/batch_write_exec.cpp,
//     s/commands/cluster_find_and_modify_cmd.cpp); aggregate kNotIdempotent when it carries a
//     writeConcern (getDesiredRetryPolicy); a single-shard commit kIdempotent
//     (s/transaction_router.cpp); a request that starts a transaction never.
//   - cloak (src/mongo/rpc/rewrite_state_change_errors.cpp, applied to every reply mongos sends):
//     a NotPrimaryError or ShutdownError code at the reply's root (ok: 0), in writeErrors[i] or
//     in writeConcernError becomes HostUnreachable(6), which drivers retry but which is no SDAM
//     state change; codeName follows, errmsg has "not master" and "node is recovering" replaced
//     by "(NOT_PRIMARY)" and "(NODE_IS_RECOVERING)", errorLabels are kept. Shutdown codes stay
//     when the router itself is shutting down: then they are true of it.
//
// Beyond mongos: LegacyNotPrimary(10058), which drivers still read as "not primary", is cloaked
// too, and a cloaked root loses the member's topologyVersion (it describes the member, not the
// router; mongoerr.FromReply drops it for the same reason).

// maxShardRetries is mongos's kMaxNumFailedHostRetryAttempts.
const maxShardRetries = 3

// legacyNotPrimary is the "not master" code of servers before 3.6.
const legacyNotPrimary mongoerr.Code = 10058

// notPrimary reports the codes of error_codes.yml's NotPrimaryError category: the member was not
// primary at some point while it handled the request.
func notPrimary(c mongoerr.Code) bool {
	switch c {
	case mongoerr.PrimarySteppedDown, mongoerr.NotWritablePrimary, mongoerr.InterruptedDueToReplStateChange,
		mongoerr.NotPrimaryNoSecondaryOk, mongoerr.NotPrimaryOrSecondary, legacyNotPrimary:
		return true
	}
	return false
}

// shuttingDown reports the codes of the ShutdownError category that reach clients.
func shuttingDown(c mongoerr.Code) bool {
	return c == mongoerr.ShutdownInProgress || c == mongoerr.InterruptedAtShutdown
}

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

// inShutdown reports whether the router is quiescing or closing.
func (s *Server) inShutdown() bool {
	select {
	case <-s.shutdown:
		return true
	default:
		return false
	}
}

// cloaks reports whether an error node with code c is rewritten.
func cloaks(c mongoerr.Code, routerShuttingDown bool) bool {
	return notPrimary(c) || shuttingDown(c) && !routerShuttingDown
}

// cloakError is e as the router may answer it: a copy with HostUnreachable in place of a
// state-change code, or e itself.
func (c *conn) cloakError(e *mongoerr.Error) *mongoerr.Error { return cloakError(e, c.s.inShutdown()) }

func cloakError(e *mongoerr.Error, routerShuttingDown bool) *mongoerr.Error {
	if e == nil || !cloaks(e.Code, routerShuttingDown) {
		return e
	}
	cloaked := *e
	cloaked.Code = mongoerr.HostUnreachable
	cloaked.Msg = scrubErrmsg(e.Msg)
	cloaked.Labels = slices.Clone(e.Labels)
	return &cloaked
}

// cloakReply is reply as the router may answer it: reply itself when no error node in it
// carries a state-change code (the common case costs one scan and no allocation), else a copy
// with those nodes rewritten.
func (c *conn) cloakReply(reply bsoncore.Document) bsoncore.Document {
	return cloakReply(reply, c.s.inShutdown())
}

func cloakReply(reply bsoncore.Document, routerShuttingDown bool) bsoncore.Document {
	st := outcome.Read(reply)
	root := !st.OK && cloaks(st.Code, routerShuttingDown)
	wce := cloaks(st.WriteConcernCode, routerShuttingDown)
	writeErrors := st.HasWriteErrors && writeErrorsCloak(reply, routerShuttingDown)
	if !root && !writeErrors && !wce {
		return reply
	}
	idx, dst := bsoncore.AppendDocumentStart(make([]byte, 0, len(reply)+32))
	bsonview.Each(reply, func(el bsoncore.Element) bool {
		key := string(el.KeyBytes())
		switch {
		case root && key == "topologyVersion":
		case root && isErrorField(key):
			dst = appendCloakedField(dst, el)
		case writeErrors && key == "writeErrors":
			dst = appendCloakedWriteErrors(dst, el, routerShuttingDown)
		case wce && key == "writeConcernError":
			doc, _ := el.Value().DocumentOK()
			dst = appendCloakedNode(dst, key, doc)
		default:
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// writeErrorsCloak reports whether a write error of reply carries a state-change code.
func writeErrorsCloak(reply bsoncore.Document, routerShuttingDown bool) bool {
	v, _ := bsonview.Lookup(reply, "writeErrors")
	arr, _ := v.ArrayOK()
	found := false
	bsonview.Each(bsoncore.Document(arr), func(we bsoncore.Element) bool {
		doc, isDoc := we.Value().DocumentOK()
		found = isDoc && nodeCloaks(doc, routerShuttingDown)
		return !found
	})
	return found
}

// nodeCloaks reports whether an error node (the reply, a write error, a writeConcernError) has
// a code that is rewritten.
func nodeCloaks(node bsoncore.Document, routerShuttingDown bool) bool {
	v, ok := bsonview.Lookup(node, "code")
	return ok && cloaks(outcome.Code(v), routerShuttingDown)
}

func isErrorField(key string) bool { return key == "code" || key == "codeName" || key == "errmsg" }

// appendCloakedField appends el, a code, codeName or errmsg element of a rewritten node.
func appendCloakedField(dst []byte, el bsoncore.Element) []byte {
	v := el.Value()
	switch key := el.Key(); key {
	case "code":
		return bsoncore.AppendInt32Element(dst, key, int32(mongoerr.HostUnreachable))
	case "codeName":
		return bsoncore.AppendStringElement(dst, key, mongoerr.HostUnreachable.Name())
	default: // errmsg
		if s, ok := v.StringValueOK(); ok {
			return bsoncore.AppendStringElement(dst, key, scrubErrmsg(s))
		}
		return append(dst, el...)
	}
}

// appendCloakedNode appends the embedded document key: node with its error fields rewritten.
func appendCloakedNode(dst []byte, key string, node bsoncore.Document) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
	bsonview.Each(node, func(el bsoncore.Element) bool {
		if isErrorField(string(el.KeyBytes())) {
			dst = appendCloakedField(dst, el)
		} else {
			dst = append(dst, el...)
		}
		return true
	})
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// appendCloakedWriteErrors appends the writeErrors array el with the write errors that carry a
// state-change code rewritten.
func appendCloakedWriteErrors(dst []byte, el bsoncore.Element, routerShuttingDown bool) []byte {
	arr, _ := el.Value().ArrayOK()
	idx, dst := bsoncore.AppendArrayElementStart(dst, "writeErrors")
	bsonview.Each(bsoncore.Document(arr), func(we bsoncore.Element) bool {
		if doc, ok := we.Value().DocumentOK(); ok && nodeCloaks(doc, routerShuttingDown) {
			dst = appendCloakedNode(dst, we.Key(), doc)
		} else {
			dst = append(dst, we...)
		}
		return true
	})
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return dst
}

// errmsgScrubber replaces the phrases drivers older than the SDAM code lists look for in errmsg.
var errmsgScrubber = strings.NewReplacer("not master", "(NOT_PRIMARY)", "node is recovering", "(NODE_IS_RECOVERING)")

func scrubErrmsg(s string) string { return errmsgScrubber.Replace(s) }
