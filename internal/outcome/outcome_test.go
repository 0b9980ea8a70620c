package outcome

import (
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// doc builds a document from alternating keys and values.
func doc(t testing.TB, kv ...any) bsoncore.Document {
	t.Helper()
	var d bson.D
	for i := 0; i < len(kv); i += 2 {
		d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
	}
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type Error = mongoerr.Error

const (
	InternalError      = mongoerr.InternalError
	CommandNotFound    = mongoerr.CommandNotFound
	UnknownError       = mongoerr.UnknownError
	BadValue           = mongoerr.BadValue
	Unauthorized       = mongoerr.Unauthorized
	ShutdownInProgress = mongoerr.ShutdownInProgress
	PrimarySteppedDown = mongoerr.PrimarySteppedDown
	NotWritablePrimary = mongoerr.NotWritablePrimary
	DuplicateKey       = mongoerr.DuplicateKey
)

func TestErrOf(t *testing.T) {
	tests := []struct {
		name  string
		reply bsoncore.Document
		want  *Error
	}{
		{"ok 1.0", doc(t, "ok", 1.0), nil},
		{"ok int32 1", doc(t, "ok", int32(1)), nil},
		{"ok int64 1", doc(t, "ok", int64(1)), nil},
		{"ok true", doc(t, "ok", true), nil},
		{"ok 2 is true, as trueValue reads it", doc(t, "ok", 2.0, "code", int32(2)), nil},
		{"ok as a string is true, as trueValue reads it", doc(t, "ok", "0"), nil},
		{"ok 1 with write errors is not a command error",
			doc(t, "n", int32(0), "writeErrors", bson.A{bson.D{{Key: "code", Value: int32(11000)}}}, "ok", 1.0), nil},
		{"missing ok", doc(t, "errmsg", "x"), &Error{Code: InternalError, Msg: "x"}},
		{"missing ok and errmsg", doc(t, "n", 1), &Error{Code: InternalError, Msg: "reply has no ok field", Extra: doc(t, "n", 1)}},
		{"ok 0", doc(t, "ok", 0.0, "errmsg", "no such command: 'foo'", "code", int32(59), "codeName", "CommandNotFound"),
			&Error{Code: CommandNotFound, Msg: "no such command: 'foo'"}},
		{"ok false", doc(t, "ok", false, "errmsg", "boom", "code", int32(8)), &Error{Code: UnknownError, Msg: "boom"}},
		{"ok null", doc(t, "ok", nil, "code", int32(2)), &Error{Code: BadValue}},
		{"no code", doc(t, "ok", 0.0, "errmsg", "x"), &Error{Code: UnknownError, Msg: "x"}},
		{"code as a double", doc(t, "ok", int32(0), "code", 13.0), &Error{Code: Unauthorized}},
		{"code beyond int32", doc(t, "ok", 0.0, "code", int64(1)<<40), &Error{Code: UnknownError}},
		{"code of wrong type", doc(t, "ok", 0.0, "code", "13"), &Error{Code: UnknownError}},
		{"labels", doc(t, "ok", 0.0, "code", int32(91), "errorLabels", bson.A{"RetryableWriteError", int32(5), "ResumableChangeStreamError"}),
			&Error{Code: ShutdownInProgress, Labels: []string{"RetryableWriteError", "ResumableChangeStreamError"}}},
		{"extra kept, member fields dropped",
			doc(t, "ok", 0.0, "errmsg", "step down", "code", int32(189), "codeName", "PrimarySteppedDown",
				"topologyVersion", bson.D{{Key: "counter", Value: int64(3)}},
				"writeConcernError", bson.D{{Key: "code", Value: int32(64)}},
				"operationTime", bson.Timestamp{T: 1, I: 2},
				"$clusterTime", bson.D{{Key: "clusterTime", Value: bson.Timestamp{T: 1, I: 2}}}),
			&Error{Code: PrimarySteppedDown, Msg: "step down",
				Extra: doc(t, "writeConcernError", bson.D{{Key: "code", Value: int32(64)}})}},
		{"nothing extra", doc(t, "ok", 0.0, "operationTime", bson.Timestamp{T: 1, I: 2}, "code", int32(2)),
			&Error{Code: BadValue}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ErrOf(tt.reply)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ErrOf(%s) = %#v, want %#v", tt.reply, got, tt.want)
			}
		})
	}
}

// What the router builds, a shard's parser must read back unchanged, and vice versa.
func TestErrOfRoundTrip(t *testing.T) {
	errs := []*Error{
		mongoerr.New(BadValue, "bad"),
		mongoerr.New(NotWritablePrimary, "not primary").WithLabels(mongoerr.LabelRetryableWrite),
		{Code: DuplicateKey, Msg: "E11000", Extra: doc(t, "keyPattern", bson.D{{Key: "_id", Value: int32(1)}})},
		mongoerr.New(mongoerr.Code(51760), "numeric only"),
	}
	for _, e := range errs {
		if got := ErrOf(e.Reply()); !reflect.DeepEqual(got, e) {
			t.Errorf("ErrOf(Reply()) = %#v, want %#v", got, e)
		}
	}
}

// TestRead: every field of the status, in one scan.
func TestRead(t *testing.T) {
	reply := doc(t, "cursor", bson.D{{Key: "firstBatch", Value: bson.A{}}, {Key: "id", Value: int64(42)}, {Key: "ns", Value: "db.c"}},
		"writeErrors", bson.A{bson.D{{Key: "index", Value: int32(0)}, {Key: "code", Value: int32(11000)}}},
		"writeConcernError", bson.D{{Key: "errmsg", Value: "timeout"}},
		"errorLabels", bson.A{"RetryableWriteError"},
		"ok", int32(1),
		"operationTime", bson.Timestamp{T: 7, I: 3},
		"$clusterTime", bson.D{{Key: "clusterTime", Value: bson.Timestamp{T: 7, I: 4}}})
	s := Read(reply)
	switch {
	case !s.OK || s.Code != 0:
		t.Errorf("ok %v code %d", s.OK, s.Code)
	case s.WriteConcernCode != UnknownError || s.Failure() != UnknownError:
		t.Errorf("writeConcernError code %d, failure %d; want UnknownError", s.WriteConcernCode, s.Failure())
	case !s.HasWriteErrors:
		t.Error("write errors not seen")
	case !s.HasLabel("RetryableWriteError") || s.HasLabel("TransientTransactionError"):
		t.Error("labels misread")
	case !s.Cursor.Present || s.Cursor.ID != 42 || string(s.Cursor.NS) != "db.c":
		t.Errorf("cursor %+v", s.Cursor)
	case s.OperationTime != 7<<32|3 || bson.Raw(s.ClusterTime).Lookup("clusterTime").String() == "":
		t.Errorf("times %d %v", s.OperationTime, s.ClusterTime)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Read(reply) }); n != 0 {
		t.Errorf("Read allocates %v times", n)
	}
	failed := Read(doc(t, "ok", 0.0, "code", int32(189), "codeName", "PrimarySteppedDown", "errmsg", "x"))
	if failed.OK || failed.Code != PrimarySteppedDown || string(failed.CodeName) != "PrimarySteppedDown" ||
		string(failed.Errmsg) != "x" || failed.Failure() != PrimarySteppedDown {
		t.Errorf("error reply read as %+v", failed)
	}
}
