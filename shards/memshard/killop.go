package memshard

import (
	"math"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// cmdKillOp is {killOp: 1, op: <opid>} (src/mongo/db/commands/kill_op.cpp, kill_op_cmd_base.cpp):
// the operation is marked killed, and if it waits it wakes and fails with Interrupted. The reply
// is the same whether or not such an operation exists, once the caller may kill: mongod's
// "attempting to kill op".
func cmdKillOp(r *request) error {
	id, err := parseOpID(r.body)
	if err != nil {
		return err
	}
	r.m.eachClient(func(_ *conn, cs *clientState) {
		if cs.op != nil && cs.op.id == id && r.mayKill(cs) {
			cs.op.kill()
		}
	})
	r.out = bsoncore.AppendStringElement(r.out, "info", "attempting to kill op")
	return nil
}

// parseOpID reads op as bsonExtractIntegerField and KillOpCmdBase::parseOpId do.
func parseOpID(body bsoncore.Document) (int32, error) {
	v, err := body.LookupErr("op")
	if err != nil {
		return 0, mongoerr.New(mongoerr.NoSuchKey, `Missing expected field "op"`)
	}
	n, ok := safeNumber(v, math.MinInt64, math.MaxInt64)
	if !ok {
		return 0, mongoerr.New(mongoerr.TypeMismatch, `Expected field "op" to have numeric type, but found %s`, mongoerr.TypeName(v.Type))
	}
	if f, _ := numberDouble(v); float64(n) != f {
		return 0, mongoerr.New(mongoerr.BadValue,
			`Expected field "op" to have a value exactly representable as a 64-bit integer, but found %s`, auth.ElementText("op", v))
	}
	if n < math.MinInt32 || n > math.MaxInt32 {
		return 0, mongoerr.New(26823, "invalid op : %d. Op ID cannot be represented with 32 bits", n)
	}
	return int32(n), nil
}

// killsOwnOp: whether r, a killOp, names an operation of its own caller, which mongod lets any
// authenticated user kill (KillOpCmdBase::checkAuthForOperation); others need killop.
func (r *request) killsOwnOp() bool {
	id, err := parseOpID(r.body)
	if err != nil {
		return false
	}
	own := false
	r.m.eachClient(func(_ *conn, cs *clientState) {
		own = own || cs.op != nil && cs.op.id == id && r.coauthorized(cs)
	})
	return own
}

// mayKill is OperationKiller::isAuthorizedToKill for the operation of cs.
func (r *request) mayKill(cs *clientState) bool {
	u := r.user()
	return !r.m.rs.opts.auth.on || u != nil && u.Can("killop", auth.ClusterResource()) || r.coauthorized(cs)
}

// coauthorized: the connection's operation runs as r's caller (isCoauthorizedWithClient).
func (r *request) coauthorized(cs *clientState) bool {
	mine, ok := r.users().name()
	theirs, theirsOK := cs.op.users(cs.user).name()
	return ok && theirsOK && mine == theirs
}
