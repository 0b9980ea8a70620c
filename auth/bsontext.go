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

// BSONText renders doc as mongod's BSONObj::toString does (how currentOp shows a truncated
// command).
func BSONText(doc bsoncore.Document) string { return bsonText(doc) }

// ElementText renders one element as mongod prints it in a message ("op: 1.1").
func ElementText(key string, v bsoncore.Value) string {
	text := bsonText(bsoncore.NewDocumentBuilder().AppendValue(key, v).Build())
	return strings.TrimSuffix(strings.TrimPrefix(text, "{ "), " }")
}

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
	// Only the OK accessors: Validate lets through values the panicking ones choke on.
	if !writeScalar(b, v) && !writeComposite(b, v, depth) {
		b.WriteString("?type=" + strconv.Itoa(int(v.Type)))
	}
}

// writeComposite writes documents, arrays, code with scope, strings and binaries.
func writeComposite(b *strings.Builder, v bsoncore.Value, depth int) bool {
	if d, ok := v.DocumentOK(); ok {
		writeDoc(b, d, false, depth+1)
		return true
	}
	if a, ok := v.ArrayOK(); ok {
		writeDoc(b, bsoncore.Document(a), true, depth+1)
		return true
	}
	if code, scope, ok := v.CodeWithScopeOK(); ok {
		b.WriteString("CodeWScope( " + code + ", ")
		writeDoc(b, scope, false, depth+1)
		b.WriteString(")")
		return true
	}
	s, ok := v.StringValueOK()
	if !ok {
		s, ok = v.SymbolOK()
	}
	if ok {
		if len(s)+1 > longString {
			s = s[:longStringKeep] + "..."
		}
		b.WriteString(`"` + s + `"`)
		return true
	}
	if code, ok := v.JavaScriptOK(); ok {
		if len(code)+1 > longBinary {
			code = code[:longBinaryKeep] + "..."
		}
		b.WriteString(code)
		return true
	}
	subtype, data, ok := v.BinaryOK()
	if !ok {
		return false
	}
	if subtype == bson.TypeBinaryUUID && len(data) == 16 {
		h := hex.EncodeToString(data)
		b.WriteString(`UUID("` + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:] + `")`)
		return true
	}
	b.WriteString("BinData(" + strconv.Itoa(int(subtype)) + ", ")
	if len(data) > longBinary {
		b.WriteString(strings.ToUpper(hex.EncodeToString(data[:longBinaryKeep])) + "...)")
	} else {
		b.WriteString(strings.ToUpper(hex.EncodeToString(data)) + ")")
	}
	return true
}

// writeScalar writes the fixed-size types and regular expressions.
func writeScalar(b *strings.Builder, v bsoncore.Value) bool {
	switch v.Type {
	case bsoncore.TypeUndefined:
		b.WriteString("undefined")
		return true
	case bsoncore.TypeNull:
		b.WriteString("null")
		return true
	case bsoncore.TypeMaxKey:
		b.WriteString("MaxKey")
		return true
	case bsoncore.TypeMinKey:
		b.WriteString("MinKey")
		return true
	}
	if ms, ok := v.DateTimeOK(); ok {
		b.WriteString("new Date(" + strconv.FormatInt(ms, 10) + ")")
	} else if pattern, options, ok := v.RegexOK(); ok {
		b.WriteString("/" + pattern + "/" + options)
	} else if h, l, ok := v.Decimal128OK(); ok {
		b.WriteString(`NumberDecimal("` + bson.NewDecimal128(h, l).String() + `")`)
	} else if f, ok := v.DoubleOK(); ok {
		b.WriteString(doubleNice(f))
	} else if i, ok := v.Int64OK(); ok {
		b.WriteString(strconv.FormatInt(i, 10))
	} else if i, ok := v.Int32OK(); ok {
		b.WriteString(strconv.FormatInt(int64(i), 10))
	} else if t, ok := v.BooleanOK(); ok {
		b.WriteString(strconv.FormatBool(t))
	} else if ns, oid, ok := v.DBPointerOK(); ok {
		b.WriteString("DBRef('" + ns + "'," + hex.EncodeToString(oid[:]) + ")")
	} else if oid, ok := v.ObjectIDOK(); ok {
		b.WriteString("ObjectId('" + hex.EncodeToString(oid[:]) + "')")
	} else if t, i, ok := v.TimestampOK(); ok {
		b.WriteString("Timestamp(" + strconv.FormatUint(uint64(t), 10) + ", " + strconv.FormatUint(uint64(i), 10) + ")")
	} else {
		return false
	}
	return true
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
