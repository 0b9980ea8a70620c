package query

import (
	"bytes"
	"strings"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Collation compares strings by a locale's rules, as mongod's ICU collator does; Unicode's
// CLDR tables come from golang.org/x/text. A nil *Collation is the simple (binary) collation.
// A Collation is not safe for concurrent use: each command compiles its own.
type Collation struct {
	c   *collate.Collator
	buf collate.Buffer
}

// NewCollation parses a collation document (collator_factory_icu.cpp's rules). It returns nil
// for an absent or empty spec and for {locale: "simple"}.
func NewCollation(spec bson.Raw) (*Collation, error) {
	if len(spec) <= 5 {
		return nil, nil
	}
	if !validDoc(spec) {
		return nil, errorf(mongoerr.InvalidBSON, "collation is not a valid BSON document")
	}
	shown := formatValue(docValue(spec))
	locale, ok := lookup(spec, "locale")
	if !ok {
		return nil, errorf(mongoerr.NoSuchKey, "Missing expected field \"locale\"")
	}
	name, _ := strBytes(locale)
	if locale.Type != bson.TypeString {
		return nil, errorf(mongoerr.FailedToParse, "Field 'locale' must be of type string in: %s", shown)
	}
	if string(name) == "simple" {
		if n := len(fieldNames(spec)); n > 1 {
			return nil, errorf(mongoerr.FailedToParse, "If locale=default, no other fields should be present in: %s", shown)
		}
		return nil, nil
	}
	tag, err := language.Parse(string(name))
	if err != nil || bytes.IndexByte(name, 0) >= 0 {
		return nil, errorf(mongoerr.BadValue, "Field 'locale' is not a valid ICU locale in: %s", shown)
	}
	ext := []string{}
	it := newIter(spec)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		key, opt, err := collationOption(string(k), v, shown)
		if err != nil {
			return nil, err
		}
		if key != "" {
			ext = append(ext, key+"-"+opt)
		}
	}
	if len(ext) > 0 {
		if tag, err = language.Parse(tag.String() + "-u-" + strings.Join(ext, "-")); err != nil {
			return nil, errorf(mongoerr.BadValue, "Field 'locale' is not a valid ICU locale in: %s", shown)
		}
	}
	return &Collation{c: collate.New(tag)}, nil
}

// collationOption maps one collation field to a BCP 47 -u- extension keyword ("" when it
// needs none), checking its type and range as mongod does.
func collationOption(field string, v bson.RawValue, shown string) (string, string, error) {
	boolOpt := func(key string) (string, string, error) {
		if v.Type != bson.TypeBoolean {
			return "", "", errorf(mongoerr.TypeMismatch, "Field '%s' must be of type bool in: %s", field, shown)
		}
		if trueValue(v) {
			return key, "true", nil
		}
		return key, "false", nil
	}
	strOpt := func(key string, allowed map[string]string) (string, string, error) {
		s, _ := strBytes(v)
		opt, ok := allowed[string(s)]
		if v.Type != bson.TypeString || !ok {
			return "", "", errorf(mongoerr.FailedToParse, "Field '%s' must be one of the documented values in: %s", field, shown)
		}
		return key, opt, nil
	}
	switch field {
	case "locale", "version":
		return "", "", nil
	case "strength":
		n, ok := integer(v)
		if !ok || n < 1 || n > 5 {
			return "", "", errorf(mongoerr.FailedToParse, "Field 'strength' must be an integer 1 through 5. Got: %s", formatValue(v))
		}
		return "ks", [...]string{"level1", "level2", "level3", "level4", "identic"}[n-1], nil
	case "caseLevel":
		return boolOpt("kc")
	case "numericOrdering":
		return boolOpt("kn")
	case "backwards":
		return boolOpt("kb")
	case "normalization":
		_, _, err := boolOpt("kk")
		return "", "", err // x/text always normalizes
	case "caseFirst":
		return strOpt("kf", map[string]string{"upper": "upper", "lower": "lower", "off": "false"})
	case "alternate":
		return strOpt("ka", map[string]string{"non-ignorable": "noignore", "shifted": "shifted"})
	case "maxVariable":
		_, _, err := strOpt("", map[string]string{"punct": "", "space": ""})
		return "", "", err
	}
	return "", "", errorf(mongoerr.FailedToParse, "Collation spec contains unknown field. Collation spec: %s", shown)
}

func (c *Collation) compareStrings(a, b []byte) int {
	if c == nil {
		return bytes.Compare(a, b)
	}
	return c.c.Compare(a, b)
}

// stringKey is what a string is keyed by: equal keys for strings the collation calls equal.
func (c *Collation) stringKey(s []byte) []byte {
	if c == nil {
		return s
	}
	c.buf.Reset()
	return c.c.Key(&c.buf, s)
}

func fieldNames(doc []byte) []string {
	var names []string
	it := newIter(doc)
	for k, _, ok := it.next(); ok; k, _, ok = it.next() {
		names = append(names, string(k))
	}
	return names
}
