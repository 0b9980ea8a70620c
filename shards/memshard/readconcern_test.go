package memshard

import (
	"fmt"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func clusterTimeDoc(ts bson.Timestamp) bson.D {
	return bson.D{{Key: "clusterTime", Value: ts},
		{Key: "signature", Value: bson.D{{Key: "hash", Value: bson.Binary{Data: make([]byte, 20)}}, {Key: "keyId", Value: int64(0)}}}}
}

func findWith(rc bson.D, extra ...bson.E) bson.D {
	return append(bson.D{{Key: "find", Value: "rc"}, {Key: "readConcern", Value: rc},
		{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: "primaryPreferred"}}}, {Key: "$db", Value: "test"}}, extra...)
}

func TestReadConcernValidation(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	ts := bson.Timestamp{T: 1, I: 1}
	for _, tc := range []struct {
		name string
		rc   bson.D
		code mongoerr.Code
		msg  string
	}{
		{"afterClusterTime not a timestamp", bson.D{{Key: "afterClusterTime", Value: 10}}, mongoerr.TypeMismatch,
			"BSON field 'readConcern.afterClusterTime' is the wrong type 'int', expected type 'timestamp'"},
		{"afterClusterTime a document", bson.D{{Key: "level", Value: "majority"}, {Key: "afterClusterTime", Value: bson.D{}}}, mongoerr.TypeMismatch, ""},
		{"afterClusterTime null timestamp", bson.D{{Key: "level", Value: "local"}, {Key: "afterClusterTime", Value: bson.Timestamp{}}}, mongoerr.InvalidOptions,
			"afterClusterTime cannot be a null timestamp"},
		{"afterClusterTime with linearizable", bson.D{{Key: "level", Value: "linearizable"}, {Key: "afterClusterTime", Value: ts}}, mongoerr.InvalidOptions,
			"afterClusterTime field can be set only if level is equal to majority, local, or snapshot"},
		{"afterClusterTime with available", bson.D{{Key: "level", Value: "available"}, {Key: "afterClusterTime", Value: ts}}, mongoerr.InvalidOptions,
			"afterClusterTime field can be set only if level is equal to majority, local, or snapshot"},
		{"afterClusterTime and atClusterTime", bson.D{{Key: "level", Value: "snapshot"}, {Key: "afterClusterTime", Value: ts}, {Key: "atClusterTime", Value: ts}},
			mongoerr.InvalidOptions, ""},
		{"atClusterTime without snapshot", bson.D{{Key: "atClusterTime", Value: ts}}, mongoerr.InvalidOptions,
			"atClusterTime field can be set only if level is equal to snapshot"},
		{"atClusterTime null", bson.D{{Key: "level", Value: "snapshot"}, {Key: "atClusterTime", Value: bson.Timestamp{I: 1}}}, mongoerr.InvalidOptions,
			"atClusterTime cannot be a null timestamp"},
		{"unknown level", bson.D{{Key: "level", Value: "strong"}}, mongoerr.BadValue,
			"Enumeration value 'strong' for field 'readConcern.level' is not a valid value."},
		{"level not a string", bson.D{{Key: "level", Value: 1}}, mongoerr.TypeMismatch, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, c.run(findWith(tc.rc)), tc.code, tc.msg)
		})
	}
	// Accepted: afterClusterTime with zero seconds but an increment, and with every allowed level.
	for _, level := range []string{"", "local", "majority", "snapshot"} {
		rc := bson.D{{Key: "afterClusterTime", Value: bson.Timestamp{I: 1}}}
		if level != "" {
			rc = append(rc, bson.E{Key: "level", Value: level})
		}
		mustOK(t, c.run(findWith(rc)))
	}
}

// A read after a cluster time beyond the set's clock: the request's $clusterTime gossip moves
// the clock there, and the read (on a primary or a secondary) replies an operationTime at or
// after it. Without such gossip mongod refuses the read.
func TestAfterClusterTime(t *testing.T) {
	rs := startSet(t, 2)
	for i, host := range rs.Hosts() {
		c := dialRaw(t, host)
		now := checkClusterTime(t, mustOK(t, c.run(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})))
		ahead := bson.Timestamp{T: now.T + 3600, I: 5}
		for _, level := range []string{"", "majority", "snapshot"} {
			rc := bson.D{{Key: "afterClusterTime", Value: ahead}}
			if level != "" {
				rc = append(rc, bson.E{Key: "level", Value: level})
			}
			reply := c.run(findWith(rc))
			wantCode(t, reply, mongoerr.InvalidOptions, fmt.Sprintf("readConcern afterClusterTime value must not be greater than the current clusterTime. "+
				"Requested clusterTime: { ts: Timestamp(%d, %d) }; current clusterTime: { ts: Timestamp(%d, %d) }", ahead.T, ahead.I, now.T, now.I))
			reply = mustOK(t, c.run(findWith(rc, bson.E{Key: "$clusterTime", Value: clusterTimeDoc(ahead)})))
			opT, opI, ok := reply.Lookup("operationTime").TimestampOK()
			if op := (bson.Timestamp{T: opT, I: opI}); !ok || ahead.After(op) {
				t.Fatalf("member %d, readConcern %v: operationTime %v is before afterClusterTime %v", i, rc, op, ahead)
			}
			now = checkClusterTime(t, reply)
			ahead.T++
		}
	}
	// A snapshot read at a time beyond the clock is refused the same way.
	c := dialRaw(t, rs.Hosts()[0])
	now := checkClusterTime(t, mustOK(t, c.run(bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}})))
	wantCode(t, c.run(findWith(bson.D{{Key: "level", Value: "snapshot"}, {Key: "atClusterTime", Value: bson.Timestamp{T: now.T + 10, I: 1}}})),
		mongoerr.InvalidOptions, "")
}
