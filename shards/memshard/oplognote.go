package memshard

import (
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// appendOplogNote writes a no-op entry in the set's history, as mongod writes one in its oplog
// (src/mongo/db/commands/oplog_note.cpp). No change stream reports it, but every stream scans
// past it, so its postBatchResumeToken moves to the note's time: that is how a router moves an
// idle shard's high-water mark past the events other shards hold (mongod's periodic no-op
// writer does the same every 10 s). With maxClusterTime the note is written only when the
// set's last write is older; otherwise the command fails with StaleClusterTime.
func cmdAppendOplogNote(r *request) error {
	data, err := r.body.LookupErr("data")
	switch {
	case err != nil:
		return mongoerr.New(mongoerr.NoSuchKey, `Missing expected field "data"`)
	case data.Type != bsoncore.TypeEmbeddedDocument:
		return extractTypeError("data", data.Type, bsoncore.TypeEmbeddedDocument)
	}
	limit, hasLimit := bson.Timestamp{}, false
	if v, err := r.body.LookupErr("maxClusterTime"); err == nil {
		t, i, ok := v.TimestampOK()
		if !ok {
			return extractTypeError("maxClusterTime", v.Type, bsoncore.TypeTimestamp)
		}
		limit, hasLimit = bson.Timestamp{T: t, I: i}, true
	}
	return r.write(func(s *store) error {
		if last := unpack(s.seq); hasLimit && !limit.After(last) {
			return mongoerr.New(mongoerr.StaleClusterTime,
				"Requested maxClusterTime %s is less or equal to the last primary OpTime: %s", logicalTime(limit), logicalTime(last))
		}
		s.stamp()
		s.appendChange(&changeEvent{op: opNoop})
		r.wrote(s)
		return nil
	})
}

// extractTypeError is bson_extract.cpp's error for a field of the wrong type.
func extractTypeError(field string, got, want bsoncore.Type) error {
	return mongoerr.New(mongoerr.TypeMismatch, "%q had the wrong type. Expected %s, found %s",
		field, mongoerr.TypeName(want), mongoerr.TypeName(got))
}

// logicalTime is a time as mongod's LogicalTime::toString prints it.
func logicalTime(ts bson.Timestamp) string {
	return fmt.Sprintf("{ ts: Timestamp(%d, %d) }", ts.T, ts.I)
}
