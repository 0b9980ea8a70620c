package router

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// The per-command path reads a few fields of the body; these helpers do it without allocating,
// which bsoncore's string-returning accessors cannot.

// eachElement calls fn for every element of doc until fn returns false. doc is already validated.
func eachElement(doc bsoncore.Document, fn func(bsoncore.Element) bool) {
	if len(doc) < 5 {
		return
	}
	rem := doc[4 : len(doc)-1]
	for len(rem) > 0 {
		el, rest, ok := bsoncore.ReadElement(rem)
		if !ok || !fn(el) {
			return
		}
		rem = rest
	}
}

// lookup finds a top-level field.
func lookup(doc bsoncore.Document, key string) (bsoncore.Value, bool) {
	var v bsoncore.Value
	found := false
	eachElement(doc, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) == key {
			v, found = el.Value(), true
			return false
		}
		return true
	})
	return v, found
}

// stringBytes returns a string value's bytes without copying.
func stringBytes(v bsoncore.Value) ([]byte, bool) {
	if v.Type != bsoncore.TypeString || len(v.Data) < 5 {
		return nil, false
	}
	return v.Data[4 : len(v.Data)-1], true
}

// firstKey is the command name: the first key of the body.
func firstKey(doc bsoncore.Document) []byte {
	var key []byte
	eachElement(doc, func(el bsoncore.Element) bool {
		key = el.KeyBytes()
		return false
	})
	return key
}

// lookupCode reads an error reply's code.
func lookupCode(doc bsoncore.Document) (int32, bool) {
	v, ok := lookup(doc, "code")
	if !ok {
		return 0, false
	}
	return v.AsInt32OK()
}

// commandName interns the command name through the handler table, so known names cost no
// allocation; unknown names are reported as "other" to bound metric cardinality.
func commandName(body bsoncore.Document) string {
	key := firstKey(body)
	if name, ok := knownNames[string(key)]; ok {
		return name
	}
	return "other"
}
