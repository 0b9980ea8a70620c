package query

import (
	"testing"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestCollationCompare(t *testing.T) {
	for _, tt := range []struct {
		spec string
		a, b string
		want int
	}{
		{`{"locale": "en_US", "strength": 2}`, `"PING"`, `"ping"`, 0},
		{`{"locale": "en_US", "strength": 2}`, `"café"`, `"cafe"`, 1},
		{`{"locale": "en_US", "strength": 1}`, `"café"`, `"CAFE"`, 0},
		{`{"locale": "en_US"}`, `"a"`, `"A"`, -1},
		{`{"locale": "en", "numericOrdering": true}`, `"A-21"`, `"A-123"`, -1},
		{`{"locale": "en"}`, `"A-21"`, `"A-123"`, 1},
		{`{"locale": "en_US", "strength": 2}`, `{"k": "X"}`, `{"k": "x"}`, 0},
		{`{"locale": "en_US", "strength": 2}`, `["B"]`, `["b"]`, 0},
		{`{"locale": "en_US", "strength": 2}`, `1`, `"a"`, -1},
	} {
		c, err := NewCollation(doc(t, tt.spec))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Compare(val(t, tt.a), val(t, tt.b)); got != tt.want {
			t.Errorf("%s: compare(%s, %s) = %d, want %d", tt.spec, tt.a, tt.b, got, tt.want)
		}
		if eq := c.IndexKey(val(t, tt.a)) == c.IndexKey(val(t, tt.b)); eq != (tt.want == 0) {
			t.Errorf("%s: IndexKey equality of %s and %s = %v", tt.spec, tt.a, tt.b, eq)
		}
	}
}

func TestCollationSpecs(t *testing.T) {
	for _, spec := range []string{`{}`, `{"locale": "simple"}`} {
		if c, err := NewCollation(doc(t, spec)); c != nil || err != nil {
			t.Errorf("%s: got %v, %v; want the simple collation", spec, c, err)
		}
	}
	for _, tt := range []struct {
		spec string
		code mongoerr.Code
		msg  string
	}{
		{`{"strength": 2}`, mongoerr.NoSuchKey, `Missing expected field "locale"`},
		{`{"locale": 1}`, mongoerr.FailedToParse, "Field 'locale' must be of type string in: { locale: 1 }"},
		{`{"locale": "simple", "strength": 1}`, mongoerr.FailedToParse, `If locale=default, no other fields should be present in: { locale: "simple", strength: 1 }`},
		{`{"locale": "not a locale!"}`, mongoerr.BadValue, `Field 'locale' is not a valid ICU locale in: { locale: "not a locale!" }`},
		{`{"locale": "en", "strength": 6}`, mongoerr.FailedToParse, "Field 'strength' must be an integer 1 through 5. Got: 6"},
		{`{"locale": "en", "caseLevel": 1}`, mongoerr.TypeMismatch, ""},
		{`{"locale": "en", "bogus": true}`, mongoerr.FailedToParse, `Collation spec contains unknown field. Collation spec: { locale: "en", bogus: true }`},
	} {
		_, err := NewCollation(doc(t, tt.spec))
		wantCode(t, err, tt.code, tt.msg)
	}
}

func TestCollationInQueries(t *testing.T) {
	c, err := NewCollation(doc(t, `{"locale": "en_US", "strength": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Collation: c}
	f, err := env.Filter(doc(t, `{"x": {"$in": ["PING"]}, "y": {"$gte": "B"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !f.Match(doc(t, `{"x": "ping", "y": "b"}`)) || f.Match(doc(t, `{"x": "pong", "y": "b"}`)) {
		t.Error("collated $in / $gte matched wrongly")
	}
	if _, ok := f.Bounds("x", false); ok {
		t.Error("a collated string predicate bounds a simple-collation index")
	}
	s, err := env.Sort(doc(t, `{"x": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	rows := []bson.Raw{doc(t, `{"x": "b"}`), doc(t, `{"x": "A"}`), doc(t, `{"x": "a"}`)}
	s.Sort(rows)
	if got := rows[0].Lookup("x").StringValue() + rows[1].Lookup("x").StringValue() + rows[2].Lookup("x").StringValue(); got != "Aab" {
		t.Errorf("collated sort gave %s, want Aab (stable, case-insensitive)", got)
	}
	u, err := env.Update(val(t, `{"$addToSet": {"tags": "RED"}}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	out, modified, err := u.Apply(doc(t, `{"_id": 1, "tags": ["red"]}`))
	if err != nil || modified {
		t.Errorf("$addToSet of a collation-equal value changed the document: %s, %v", out, err)
	}
}
