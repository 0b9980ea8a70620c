package router

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// A shard member that steps down or shuts down answers with a state-change error: "not primary"
// (NotWritablePrimary, ...) or "node is recovering / shutting down" (InterruptedDueToReplStateChange,
// ShutdownInProgress, ...). A driver that gets one of those codes from the router applies SDAM to
// the router: marks it Unknown, maybe clears its pool, and stalls until it rediscovers it. The
// router handles them as mongos does: it retries the request on the member the set elects
// (retry.go) and rewrites what it still has to return (cloak.go). These are the two categories
// of codes, as error_codes.yml defines them.

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
