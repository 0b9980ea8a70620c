// Package bsonview reads the top level of validated BSON documents without allocating, which
// bsoncore's string-returning accessors cannot: the per-command path reads a few fields of every
// command and every reply through it.
package bsonview

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Each calls fn for every element of doc until fn returns false. doc is already validated: a
// malformed element ends the walk.
func Each(doc bsoncore.Document, fn func(bsoncore.Element) bool) {
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

// Lookup finds a top-level field (the first, if it is given twice).
func Lookup(doc bsoncore.Document, key string) (bsoncore.Value, bool) {
	var v bsoncore.Value
	found := false
	Each(doc, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) == key {
			v, found = el.Value(), true
			return false
		}
		return true
	})
	return v, found
}

// String returns a string value's bytes without copying.
func String(v bsoncore.Value) ([]byte, bool) {
	if v.Type != bsoncore.TypeString || len(v.Data) < 5 {
		return nil, false
	}
	return v.Data[4 : len(v.Data)-1], true
}

// FirstKey is the first key of doc: a command's name.
func FirstKey(doc bsoncore.Document) []byte {
	var key []byte
	Each(doc, func(el bsoncore.Element) bool {
		key = el.KeyBytes()
		return false
	})
	return key
}
