package auth

import (
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// mongod quotes a command in "not authorized" errors with BSONObj::toString (bsonobj.cpp,
// bsonelement.cpp): { key: value, ... } with shell-like literals, long strings and binaries cut.
const (
	maxToStringDepth = 100 // BSONObj::maxToStringRecursionDepth
	longString       = 160 // a string whose size with its NUL exceeds this is cut...
	longStringKeep   = 150 // ...to this many bytes
	longBinary       = 80  // a binary (or code, counting its NUL) longer than this is cut...
	longBinaryKeep   = 70  // ...to this many bytes
)

// bsonText renders doc as mongod's BSONObj::toString does.
func bsonText(doc bsoncore.Document) string {
	if doc.Validate() != nil { // the value accessors below trust the bytes
		return "<invalid BSON>"
	}
	var b strings.Builder
	writeDoc(&b, doc, false, 0)
	return b.String()
}

func writeDoc(b *strings.Builder, doc bsoncore.Document, isArray bool, depth int) {
	elems, _ := doc.Elements()
	if len(elems) == 0 {
		if isArray {
			b.WriteString("[]")
		} else {
			b.WriteString("{}")
		}
		return
	}
	if isArray {
		b.WriteString("[ ")
	} else {
		b.WriteString("{ ")
	}
	for i, e := range elems {
		if i > 0 {
			b.WriteString(", ")
		}
		if !isArray {
			b.WriteString(e.Key())
			b.WriteString(": ")
		}
		writeValue(b, e.Value(), depth)
	}
	if isArray {
		b.WriteString(" ]")
	} else {
		b.WriteString(" }")
	}
}

func writeValue(b *strings.Builder, v bsoncore.Value, depth int) {
	if depth > maxToStringDepth {
		b.WriteString("...")
		return
	}
	switch v.Type {
	case bsoncore.TypeEmbeddedDocument:
		writeDoc(b, v.Document(), false, depth+1)
	case bsoncore.TypeArray:
		writeDoc(b, bsoncore.Document(v.Array()), true, depth+1)
	case bsoncore.TypeDateTime:
		b.WriteString("new Date(" + strconv.FormatInt(v.DateTime(), 10) + ")")
	case bsoncore.TypeRegex:
		pattern, options := v.Regex()
		b.WriteString("/" + pattern + "/" + options)
	case bsoncore.TypeDecimal128:
		h, l := v.Decimal128()
		b.WriteString(`NumberDecimal("` + bson.NewDecimal128(h, l).String() + `")`)
	case bsoncore.TypeDouble:
		b.WriteString(doubleNice(v.Double()))
	case bsoncore.TypeInt64:
		b.WriteString(strconv.FormatInt(v.Int64(), 10))
	case bsoncore.TypeInt32:
		b.WriteString(strconv.FormatInt(int64(v.Int32()), 10))
	case bsoncore.TypeBoolean:
		b.WriteString(strconv.FormatBool(v.Boolean()))
	case bsoncore.TypeUndefined:
		b.WriteString("undefined")
	case bsoncore.TypeNull:
		b.WriteString("null")
	case bsoncore.TypeMaxKey:
		b.WriteString("MaxKey")
	case bsoncore.TypeMinKey:
		b.WriteString("MinKey")
	case bsoncore.TypeJavaScript:
		code := v.JavaScript()
		if len(code)+1 > longBinary {
			b.WriteString(code[:longBinaryKeep] + "...")
		} else {
			b.WriteString(code)
		}
	case bsoncore.TypeCodeWithScope:
		code, scope := v.CodeWithScope()
		b.WriteString("CodeWScope( " + code + ", ")
		writeDoc(b, scope, false, depth+1)
		b.WriteString(")")
	case bsoncore.TypeString, bsoncore.TypeSymbol:
		s, ok := v.StringValueOK()
		if !ok {
			s = v.Symbol()
		}
		if len(s)+1 > longString {
			b.WriteString(`"` + s[:longStringKeep] + `..."`)
		} else {
			b.WriteString(`"` + s + `"`)
		}
	case bsoncore.TypeDBPointer:
		ns, oid := v.DBPointer()
		b.WriteString("DBRef('" + ns + "'," + hex.EncodeToString(oid[:]) + ")")
	case bsoncore.TypeObjectID:
		b.WriteString("ObjectId('" + objectIDHex(v) + "')")
	case bsoncore.TypeBinary:
		subtype, data := v.Binary()
		if subtype == bson.TypeBinaryUUID && len(data) == 16 {
			h := hex.EncodeToString(data)
			b.WriteString(`UUID("` + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + `")`)
			return
		}
		b.WriteString("BinData(" + strconv.Itoa(int(subtype)) + ", ")
		if len(data) > longBinary {
			b.WriteString(strings.ToUpper(hex.EncodeToString(data[:longBinaryKeep])) + "...)")
		} else {
			b.WriteString(strings.ToUpper(hex.EncodeToString(data)) + ")")
		}
	case bsoncore.TypeTimestamp:
		t, i := v.Timestamp()
		b.WriteString("Timestamp(" + strconv.FormatUint(uint64(t), 10) + ", " + strconv.FormatUint(uint64(i), 10) + ")")
	default:
		b.WriteString("?type=" + strconv.Itoa(int(v.Type)))
	}
}

// doubleNice is StringBuilder::appendDoubleNice: printf("%.16g"), then ".0" unless the text has
// a '.', 'E' or 'N' (so 1e+20 prints "1e+20.0" and infinity "inf.0", as on the server).
func doubleNice(f float64) string {
	var s string
	switch {
	case math.IsInf(f, 1):
		s = "inf"
	case math.IsInf(f, -1):
		s = "-inf"
	case math.IsNaN(f):
		s = "nan"
	default:
		s = strconv.FormatFloat(f, 'g', 16, 64)
	}
	if !strings.ContainsAny(s, ".EN") {
		s += ".0"
	}
	return s
}

func objectIDHex(v bsoncore.Value) string {
	oid := v.ObjectID()
	return hex.EncodeToString(oid[:])
}
