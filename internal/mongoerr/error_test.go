package mongoerr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// doc builds a document from alternating keys and values.
func doc(t *testing.T, kv ...any) bsoncore.Document {
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

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		format string
		args   []any
		want   string
	}{
		{"formatted", "cannot kill %d sessions on %s", []any{3, "rs0"}, "cannot kill 3 sessions on rs0"},
		// Without arguments the text is taken verbatim: a '%' in a client's value stays as is.
		{"verbatim", "no such command: '%x'", nil, "no such command: '%x'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(BadValue, tt.format, tt.args...)
			if e.Code != BadValue || e.Msg != tt.want {
				t.Errorf("New = {%d %q}, want {2 %q}", e.Code, e.Msg, tt.want)
			}
			if got, want := e.Error(), "(BadValue) "+tt.want; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
		})
	}
}

func TestReply(t *testing.T) {
	wce := doc(t, "writeConcernError", bson.D{{Key: "code", Value: int32(64)}}, "keyValue", bson.D{{Key: "_id", Value: int32(1)}})
	tests := []struct {
		name string
		err  *Error
		want bsoncore.Document
	}{
		{
			name: "plain",
			err:  New(InvalidUUID, "uuid must be a 16-byte binary field with UUID (4) subtype"),
			want: doc(t, "ok", 0.0, "errmsg", "uuid must be a 16-byte binary field with UUID (4) subtype",
				"code", int32(207), "codeName", "InvalidUUID"),
		},
		{
			name: "location code",
			err:  New(IDLFailedToParse, "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field"),
			want: doc(t, "ok", 0.0, "errmsg", "BSON field 'OperationSessionInfo.lsid.id' is missing but a required field",
				"code", int32(40414), "codeName", "Location40414"),
		},
		{
			name: "labels",
			err:  New(NotWritablePrimary, "not primary").WithLabels(LabelRetryableWrite, LabelTransientTransaction),
			want: doc(t, "ok", 0.0, "errmsg", "not primary", "code", int32(10107), "codeName", "NotWritablePrimary",
				"errorLabels", bson.A{"RetryableWriteError", "TransientTransactionError"}),
		},
		{
			name: "extra after labels",
			err:  &Error{Code: DuplicateKey, Msg: "dup", Labels: []string{LabelTransientTransaction}, Extra: wce},
			want: doc(t, "ok", 0.0, "errmsg", "dup", "code", int32(11000), "codeName", "DuplicateKey",
				"errorLabels", bson.A{"TransientTransactionError"},
				"writeConcernError", bson.D{{Key: "code", Value: int32(64)}}, "keyValue", bson.D{{Key: "_id", Value: int32(1)}}),
		},
		{
			name: "empty labels are omitted",
			err:  &Error{Code: HostUnreachable, Msg: "Failed to kill sessions on some hosts", Labels: []string{}},
			want: doc(t, "ok", 0.0, "errmsg", "Failed to kill sessions on some hosts", "code", int32(6), "codeName", "HostUnreachable"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.Reply()
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("Reply()\n got %s\nwant %s", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Reply() is invalid BSON: %v", err)
			}
			// ok must be a double and code an int32: drivers and tests compare types.
			if typ := got.Lookup("ok").Type; typ != bsoncore.TypeDouble {
				t.Errorf("ok has type %s", typ)
			}
			if typ := got.Lookup("code").Type; typ != bsoncore.TypeInt32 {
				t.Errorf("code has type %s", typ)
			}
			marshaled, err := bson.Marshal(tt.err)
			if err != nil || !bytes.Equal(marshaled, got) {
				t.Errorf("bson.Marshal = %v, %v; want the Reply document", bsoncore.Document(marshaled), err)
			}
		})
	}
}

func TestAppendFieldsIntoOpenDocument(t *testing.T) {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = bsoncore.AppendStringElement(dst, "first", "kept")
	dst = New(Unauthorized, "not authorized").AppendFields(dst)
	dst = bsoncore.AppendInt32Element(dst, "last", 1)
	dst, err := bsoncore.AppendDocumentEnd(dst, idx)
	if err != nil {
		t.Fatal(err)
	}
	want := doc(t, "first", "kept", "ok", 0.0, "errmsg", "not authorized", "code", int32(13),
		"codeName", "Unauthorized", "last", int32(1))
	if !bytes.Equal(dst, want) {
		t.Errorf("got %s\nwant %s", bsoncore.Document(dst), want)
	}
}

func TestWithLabels(t *testing.T) {
	e := New(NoSuchTransaction, "x").WithLabels(LabelTransientTransaction, LabelTransientTransaction)
	e.WithLabels(LabelUnknownTransactionCommit, LabelTransientTransaction)
	want := []string{LabelTransientTransaction, LabelUnknownTransactionCommit}
	if !reflect.DeepEqual(e.Labels, want) {
		t.Errorf("Labels = %v, want %v", e.Labels, want)
	}
	if !e.HasLabel(LabelUnknownTransactionCommit) || e.HasLabel(LabelRetryableWrite) {
		t.Errorf("HasLabel disagrees with Labels %v", e.Labels)
	}
}

func TestAs(t *testing.T) {
	mine := New(CursorNotFound, "cursor id 5 not found")
	tests := []struct {
		name string
		err  error
		want *Error
	}{
		{"nil", nil, nil},
		{"itself", mine, mine},
		{"wrapped", fmt.Errorf("getMore on shard rs0: %w", mine), mine},
		{"joined", errors.Join(io.EOF, mine), mine},
		{"foreign", io.ErrUnexpectedEOF, &Error{Code: InternalError, Msg: "unexpected EOF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := As(tt.err)
			if tt.want == mine && got != mine {
				t.Fatalf("As returned a copy %p, want the original %p", got, mine)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("As(%v) = %#v, want %#v", tt.err, got, tt.want)
			}
		})
	}
}
