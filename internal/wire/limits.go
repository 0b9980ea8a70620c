package wire

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Every document a message carries is checked as mongod checks a Validated<BSONObj> on arrival
// (src/mongo/rpc/op_msg.cpp, src/mongo/bson/bson_validate.cpp), before anything reads it.
const (
	// MaxDocSize is BSONObjMaxInternalSize: the 16 MB user limit plus 16 KB of room for the
	// fields a server adds.
	MaxDocSize = 16*1024*1024 + 16*1024
	// MaxDepth is BSONDepth::kDefaultMaxAllowableDepth: levels of nesting below the top level.
	MaxDepth = 200
)

// checkLimits checks doc's size, then walks every document and array it holds, without
// recursion: one that nests more than MaxDepth levels is refused (Overflow), and so are malformed
// bytes at any level (InvalidBSON). bsoncore's Validate checks only the top level's elements:
// an embedded document's own elements are read by whoever looks inside it, and bsoncore's
// accessors panic on what does not parse.
func checkLimits(doc bsoncore.Document) error {
	if len(doc) > MaxDocSize {
		return frameErr(mongoerr.BSONObjectTooLarge,
			"BSONObj size: %d (0x%X) is invalid. Size must be between 0 and %d(16MB) First element: %s",
			len(doc), len(doc), MaxDocSize, firstKeyOf(doc))
	}
	switch walk(doc) {
	case tooDeep:
		return frameErr(mongoerr.Overflow, "BSONObj exceeds maximum nested object depth")
	case malformed:
		return frameErr(mongoerr.InvalidBSON, "invalid BSON: a document or array does not parse")
	}
	return nil
}

func firstKeyOf(doc bsoncore.Document) string {
	el, err := doc.IndexErr(0)
	if err != nil {
		return "EOO"
	}
	return el.Key()
}

// walkResult is what walk found.
type walkResult int

const (
	sound walkResult = iota
	tooDeep
	malformed
)

// walk reads every element of doc and of every document and array it holds, with an explicit
// stack of what is left of each open level, so a hostile nesting costs no Go stack.
func walk(doc bsoncore.Document) walkResult {
	body, ok := documentBody(doc)
	if !ok {
		return malformed
	}
	var open [MaxDepth + 1][]byte
	top := 0
	open[0] = body
	for top >= 0 {
		if len(open[top]) == 0 {
			top--
			continue
		}
		el, rest, ok := bsoncore.ReadElement(open[top])
		if !ok || el.Validate() != nil {
			return malformed
		}
		open[top] = rest
		inner, levels, ok := nested(el.Value())
		switch {
		case !ok:
			return malformed
		case levels == 0:
			continue
		case top+levels > MaxDepth:
			return tooDeep
		}
		for ; levels > 1; levels-- { // code with scope: its code's frame holds nothing to walk
			top++
			open[top] = nil
		}
		top++
		open[top] = inner
	}
	return sound
}

// documentBody is the elements of a document or array: between its length, which must be its
// own, and its final null.
func documentBody(d []byte) ([]byte, bool) {
	length, _, ok := bsoncore.ReadLength(d)
	if !ok || length < 5 || int(length) != len(d) || d[len(d)-1] != 0 {
		return nil, false
	}
	return d[4 : len(d)-1], true
}

// nested returns the elements of a document-valued BSON value and how many levels it opens:
// one for a document or an array, two for code with scope (mongod counts its code as a frame);
// ok is false when the value's document does not parse.
func nested(v bsoncore.Value) (elems []byte, levels int, ok bool) {
	var d bsoncore.Document
	levels = 1
	switch v.Type {
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		d = v.Data
	case bsoncore.TypeCodeWithScope:
		_, scope, found := v.CodeWithScopeOK()
		if !found {
			return nil, 0, false
		}
		d, levels = scope, 2
	default:
		return nil, 0, true
	}
	elems, ok = documentBody(d)
	return elems, levels, ok
}
