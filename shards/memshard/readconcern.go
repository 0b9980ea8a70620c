package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// readConcernArgs is a command's readConcern as mongod's ReadConcernArgs holds it.
type readConcernArgs struct {
	level    string // "" when absent (local)
	after    bson.Timestamp
	hasAfter bool
	at       bson.Timestamp
	hasAt    bool
}

var readConcernLevels = map[string]bool{"local": true, "majority": true, "linearizable": true, "available": true, "snapshot": true}

// parseReadConcern checks readConcern with the IDL parser's and ReadConcernArgs::parse's codes
// and messages.
func parseReadConcern(rc bsoncore.Document) (readConcernArgs, error) {
	var a readConcernArgs
	if v, err := rc.LookupErr("level"); err == nil {
		s, ok := v.StringValueOK()
		if !ok {
			return a, mongoerr.WrongType("readConcern.level", v.Type, "string")
		}
		if !readConcernLevels[s] {
			return a, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field 'readConcern.level' is not a valid value.", s)
		}
		a.level = s
	}
	var err error
	if a.after, a.hasAfter, err = timestampField(rc, "afterClusterTime"); err != nil {
		return a, err
	}
	if a.at, a.hasAt, err = timestampField(rc, "atClusterTime"); err != nil {
		return a, err
	}
	switch {
	case a.hasAfter && a.hasAt:
		return a, mongoerr.New(mongoerr.InvalidOptions, "Specifying a timestamp for readConcern snapshot in a causally consistent session is not allowed. "+
			"See https://docs.mongodb.com/manual/core/read-isolation-consistency-recency/#causal-consistency")
	case a.hasAfter && a.level != "" && a.level != "majority" && a.level != "local" && a.level != "snapshot":
		// available must not wait; linearizable reads are causally consistent anyway.
		return a, mongoerr.New(mongoerr.InvalidOptions, "afterClusterTime field can be set only if level is equal to majority, local, or snapshot")
	case a.hasAt && a.level != "snapshot":
		return a, mongoerr.New(mongoerr.InvalidOptions, "atClusterTime field can be set only if level is equal to snapshot")
	case a.hasAt && a.at.T == 0:
		return a, mongoerr.New(mongoerr.InvalidOptions, "atClusterTime cannot be a null timestamp")
	case a.hasAfter && a.after.IsZero(): // Timestamp(0, i > 0) is allowed
		return a, mongoerr.New(mongoerr.InvalidOptions, "afterClusterTime cannot be a null timestamp")
	}
	return a, nil
}

func timestampField(rc bsoncore.Document, key string) (bson.Timestamp, bool, error) {
	v, err := rc.LookupErr(key)
	if err != nil {
		return bson.Timestamp{}, false, nil
	}
	t, i, ok := v.TimestampOK()
	if !ok {
		return bson.Timestamp{}, false, mongoerr.WrongType("readConcern."+key, v.Type, "timestamp")
	}
	return bson.Timestamp{T: t, I: i}, true, nil
}

// readConcern applies the command's readConcern: it notes a snapshot read and makes sure the
// data is as recent as afterClusterTime / atClusterTime.
func (r *request) readConcern() error {
	rc, ok := r.body.Lookup("readConcern").DocumentOK()
	if !ok {
		return nil
	}
	a, err := parseReadConcern(rc)
	if err != nil {
		return err
	}
	snapshot := a.level == "snapshot" && !r.op.Autocommit // transactions read their own snapshot
	if snapshot && r.cmd.flags&cSnapshot == 0 {
		return mongoerr.New(mongoerr.InvalidOptions, `Command does not support read concern { level: "snapshot" }`)
	}
	if err := r.m.rs.clock.reach(a); err != nil {
		return err
	}
	if snapshot || a.hasAt && r.op.StartTransaction {
		// A transaction reads at atClusterTime from its first statement on (begin).
		r.snapshotRead, r.readAt = snapshot, a.at
	}
	return nil
}

// reach is mongod's wait for a read's target cluster time: a target beyond the cluster time
// (which the request's $clusterTime has already advanced) is refused. At or below it mongod
// has a primary write a no-op to bring its oplog there, and a secondary waits to replicate
// it; here the data's version is the cluster clock itself, so every read from now on sees at
// least the target and replies an operationTime at or after it.
func (c *logicalClock) reach(a readConcernArgs) error {
	name, target := "afterClusterTime", a.after
	switch {
	case a.hasAt:
		name, target = "atClusterTime", a.at
	case !a.hasAfter:
		return nil
	}
	if cur := c.now(); target.After(cur) {
		return mongoerr.New(mongoerr.InvalidOptions, "readConcern %s value must not be greater than the current clusterTime. "+
			"Requested clusterTime: { ts: Timestamp(%d, %d) }; current clusterTime: { ts: Timestamp(%d, %d) }",
			name, target.T, target.I, cur.T, cur.I)
	}
	return nil
}
