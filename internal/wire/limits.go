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

// checkLimits checks doc's size, then its nesting depth without recursion. Callers validate the
// rest of the structure after it, so bsoncore's recursive Validate stays within MaxDepth calls
// whatever a peer sends.
func checkLimits(doc bsoncore.Document) error {
	if len(doc) > MaxDocSize {
		return frameErr(mongoerr.BSONObjectTooLarge,
			"BSONObj size: %d (0x%X) is invalid. Size must be between 0 and %d(16MB) First element: %s",
			len(doc), len(doc), MaxDocSize, firstKeyOf(doc))
	}
	if tooDeep(doc) {
		return frameErr(mongoerr.Overflow, "BSONObj exceeds maximum nested object depth")
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

// tooDeep reports whether doc nests more than MaxDepth levels of documents and arrays. It walks
// with an explicit stack of what is left of each open level, so a hostile nesting costs no Go
// stack. Malformed bytes end the walk: Validate reports them.
func tooDeep(doc bsoncore.Document) bool {
	if len(doc) < 5 {
		return false
	}
	var open [MaxDepth + 1][]byte
	top := 0
	open[0] = doc[4 : len(doc)-1]
	for top >= 0 {
		if len(open[top]) == 0 {
			top--
			continue
		}
		el, rest, ok := bsoncore.ReadElement(open[top])
		if !ok {
			return false
		}
		open[top] = rest
		inner, levels := nested(el.Value())
		if levels == 0 {
			continue
		}
		if top+levels > MaxDepth {
			return true
		}
		for ; levels > 1; levels-- { // code with scope: its code's frame holds nothing to walk
			top++
			open[top] = nil
		}
		top++
		open[top] = inner
	}
	return false
}

// nested returns the elements of a document-valued BSON value and how many levels it opens:
// one for a document or an array, two for code with scope (mongod counts its code as a frame).
func nested(v bsoncore.Value) ([]byte, int) {
	var d bsoncore.Document
	levels := 1
	switch v.Type {
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		d = v.Data
	case bsoncore.TypeCodeWithScope:
		_, scope, ok := v.CodeWithScopeOK()
		if !ok {
			return nil, 0
		}
		d, levels = scope, 2
	default:
		return nil, 0
	}
	if len(d) < 5 {
		return nil, 0
	}
	return d[4 : len(d)-1], levels
}
