package query

import (
	"errors"
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// doc parses relaxed extended JSON ({"$numberLong": "1"} for int64, 1.5 for doubles).
func doc(t testing.TB, js string) bson.Raw {
	t.Helper()
	var d bson.Raw
	if err := bson.UnmarshalExtJSON([]byte(js), false, &d); err != nil {
		t.Fatalf("bad test JSON %s: %v", js, err)
	}
	return d
}

// val parses a single value: val(t, `5`) is the int32 5.
func val(t testing.TB, js string) bson.RawValue {
	t.Helper()
	return doc(t, `{"v": `+js+`}`).Lookup("v")
}

// docs parses a JSON array of documents.
func docs(t testing.TB, js string) []bson.Raw {
	t.Helper()
	var out []bson.Raw
	for _, v := range values(doc(t, `{"a": `+js+`}`).Lookup("a")) {
		out = append(out, bson.Raw(v.Value))
	}
	return out
}

// sameDoc compares documents exactly (field order and types included).
func sameDoc(t testing.TB, got bson.Raw, want string) {
	t.Helper()
	w := doc(t, want)
	if string(got) != string(w) {
		t.Errorf("got  %s\nwant %s", got, w)
	}
}

// wantCode checks err is a *mongoerr.Error with code and message.
func wantCode(t testing.TB, err error, code mongoerr.Code, msg string) {
	t.Helper()
	var me *mongoerr.Error
	if !errors.As(err, &me) {
		t.Fatalf("error %v is not a *mongoerr.Error", err)
	}
	if me.Code != code || (msg != "" && me.Msg != msg) {
		t.Errorf("got (%d) %q, want (%d) %q", me.Code, me.Msg, code, msg)
	}
}
