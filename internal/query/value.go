package query

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The readers in this file never panic on malformed bytes: documents reach the engine from
// clients, and the driver's accessors panic (or slice out of range) on some corrupt lengths.

// missing is what a path yields where a document has no such field.
var missing = bson.RawValue{}

// docBody returns the elements region of a document (without length and terminator).
func docBody(doc []byte) ([]byte, bool) {
	if len(doc) < 5 {
		return nil, false
	}
	l := int(int32(binary.LittleEndian.Uint32(doc)))
	if l < 5 || l > len(doc) || doc[l-1] != 0 {
		return nil, false
	}
	return doc[4 : l-1], true
}

// iter walks a document's elements; it stops quietly at the first malformed element.
type iter struct{ rem []byte }

func newIter(doc []byte) iter {
	body, _ := docBody(doc)
	return iter{rem: body}
}

func (it *iter) next() (key []byte, v bson.RawValue, ok bool) {
	if len(it.rem) == 0 {
		return nil, missing, false
	}
	el, rem, ok := bsoncore.ReadElement(it.rem)
	if !ok {
		it.rem = nil
		return nil, missing, false
	}
	it.rem = rem
	k := bytes.IndexByte(el[1:], 0) + 1 // ReadElement guarantees the terminator
	return el[1:k], bson.RawValue{Type: bson.Type(el[0]), Value: el[k+1:]}, true
}

// lookup finds the first element named key in doc.
func lookup(doc []byte, key string) (bson.RawValue, bool) {
	it := newIter(doc)
	for {
		k, v, ok := it.next()
		if !ok {
			return missing, false
		}
		if string(k) == key {
			return v, true
		}
	}
}

// subDoc returns the document or array bytes of v.
func subDoc(v bson.RawValue) ([]byte, bool) {
	if v.Type != bson.TypeEmbeddedDocument && v.Type != bson.TypeArray {
		return nil, false
	}
	if _, ok := docBody(v.Value); !ok {
		return nil, false
	}
	return v.Value[:binary.LittleEndian.Uint32(v.Value)], true
}

func isDoc(v bson.RawValue) bool { return v.Type == bson.TypeEmbeddedDocument }

// values returns the values of a document or array.
func values(v bson.RawValue) []bson.RawValue {
	d, ok := subDoc(v)
	if !ok {
		return nil
	}
	var out []bson.RawValue
	it := newIter(d)
	for _, e, ok := it.next(); ok; _, e, ok = it.next() {
		out = append(out, e)
	}
	return out
}

// strBytes returns the bytes of a string, symbol or JavaScript value.
func strBytes(v bson.RawValue) ([]byte, bool) {
	return readStr(v.Value)
}

func readStr(b []byte) ([]byte, bool) {
	if len(b) < 5 {
		return nil, false
	}
	l := int(int32(binary.LittleEndian.Uint32(b)))
	if l < 1 || l > len(b)-4 || b[3+l] != 0 {
		return nil, false
	}
	return b[4 : 3+l], true
}

func readCString(b []byte) (s, rest []byte, ok bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, false
	}
	return b[:i], b[i+1:], true
}

func regexParts(v bson.RawValue) (pattern, options []byte, ok bool) {
	if v.Type != bson.TypeRegex {
		return nil, nil, false
	}
	pattern, rest, ok := readCString(v.Value)
	if !ok {
		return nil, nil, false
	}
	options, _, ok = readCString(rest)
	return pattern, options, ok
}

func fixed(v bson.RawValue, n int) ([]byte, bool) {
	if len(v.Value) < n {
		return nil, false
	}
	return v.Value[:n], true
}

func i64(v bson.RawValue) (int64, bool) {
	b, ok := fixed(v, 8)
	if !ok {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(b)), true
}

// number is a BSON number reduced to an exact integer or a double (decimal128 approximated).
type number struct {
	isInt bool
	i     int64
	f     float64
}

func isNumber(v bson.RawValue) bool {
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		return true
	}
	return false
}

func numberOf(v bson.RawValue) (number, bool) {
	switch v.Type {
	case bson.TypeInt32:
		b, ok := fixed(v, 4)
		if !ok {
			return number{}, false
		}
		return number{isInt: true, i: int64(int32(binary.LittleEndian.Uint32(b)))}, true
	case bson.TypeInt64:
		i, ok := i64(v)
		return number{isInt: true, i: i}, ok
	case bson.TypeDouble:
		b, ok := fixed(v, 8)
		if !ok {
			return number{}, false
		}
		return number{f: math.Float64frombits(binary.LittleEndian.Uint64(b))}, true
	case bson.TypeDecimal128:
		b, ok := fixed(v, 16)
		if !ok {
			return number{}, false
		}
		d := bson.NewDecimal128(binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b))
		f, err := strconv.ParseFloat(d.String(), 64)
		if err != nil && !isRangeErr(err) {
			f = math.NaN()
		}
		return number{f: f}, true
	}
	return number{}, false
}

// isRangeErr accepts ParseFloat's range errors, whose result is still the nearest value.
func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func (n number) float() float64 {
	if n.isInt {
		return float64(n.i)
	}
	return n.f
}

// compareNumbers orders numbers numerically; NaN sorts below every other number and equals NaN.
func compareNumbers(a, b number) int {
	switch {
	case a.isInt && b.isInt:
		return cmp3(a.i < b.i, a.i > b.i)
	case !a.isInt && !b.isInt:
		an, bn := math.IsNaN(a.f), math.IsNaN(b.f)
		if an || bn {
			return cmp3(an && !bn, bn && !an)
		}
		return cmp3(a.f < b.f, a.f > b.f)
	case a.isInt:
		return compareIntFloat(a.i, b.f)
	default:
		return -compareIntFloat(b.i, a.f)
	}
}

// compareIntFloat compares exactly, without rounding the integer to a double.
func compareIntFloat(i int64, f float64) int {
	switch {
	case math.IsNaN(f):
		return 1
	case f >= 9.223372036854775808e18:
		return -1
	case f < -9.223372036854775808e18:
		return 1
	}
	t := int64(f)
	if i != t {
		return cmp3(i < t, i > t)
	}
	frac := f - float64(t)
	return cmp3(frac > 0, frac < 0)
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

// typeName is the server's name for a BSON type (as in error messages and $type).
func typeName(t bson.Type) string { return mongoerr.TypeName(bsoncore.Type(t)) }

// formatValue renders a value the way the server prints BSON elements in error messages,
// e.g. 5, "x", { a: 1 }, [ 1, 2 ], ObjectId('...').
func formatValue(v bson.RawValue) string {
	var sb strings.Builder
	writeValue(&sb, v)
	return sb.String()
}

// formatElem renders "key: value".
func formatElem(key string, v bson.RawValue) string {
	return key + ": " + formatValue(v)
}

func writeValue(sb *strings.Builder, v bson.RawValue) {
	switch v.Type {
	case bson.TypeString, bson.TypeSymbol:
		s, _ := strBytes(v)
		sb.WriteString(strconv.Quote(string(s)))
	case bson.TypeInt32, bson.TypeInt64:
		n, _ := numberOf(v)
		sb.WriteString(strconv.FormatInt(n.i, 10))
	case bson.TypeDouble:
		n, _ := numberOf(v)
		s := strconv.FormatFloat(n.f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".eEnN") {
			s += ".0"
		}
		sb.WriteString(s)
	case bson.TypeDecimal128:
		b, _ := fixed(v, 16)
		if b == nil {
			sb.WriteString("NumberDecimal(?)")
			return
		}
		d := bson.NewDecimal128(binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b))
		sb.WriteString("NumberDecimal(\"" + d.String() + "\")")
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		writeContainer(sb, v)
	case bson.TypeObjectID:
		b, _ := fixed(v, 12)
		sb.WriteString("ObjectId('" + hex.EncodeToString(b) + "')")
	case bson.TypeBoolean:
		b, _ := fixed(v, 1)
		sb.WriteString(strconv.FormatBool(len(b) == 1 && b[0] != 0))
	case bson.TypeDateTime:
		i, _ := i64(v)
		sb.WriteString("new Date(" + strconv.FormatInt(i, 10) + ")")
	case bson.TypeTimestamp:
		i, _ := i64(v)
		sb.WriteString("Timestamp(" + strconv.FormatUint(uint64(i)>>32, 10) + ", " +
			strconv.FormatUint(uint64(i)&0xffffffff, 10) + ")")
	case bson.TypeRegex:
		p, o, _ := regexParts(v)
		sb.WriteString("/" + string(p) + "/" + string(o))
	case bson.TypeBinary:
		if len(v.Value) >= 5 {
			sb.WriteString("BinData(" + strconv.Itoa(int(v.Value[4])) + ", " +
				strings.ToUpper(hex.EncodeToString(v.Value[5:])) + ")")
		}
	case bson.TypeNull:
		sb.WriteString("null")
	case bson.TypeUndefined:
		sb.WriteString("undefined")
	case bson.TypeMinKey:
		sb.WriteString("MinKey")
	case bson.TypeMaxKey:
		sb.WriteString("MaxKey")
	default:
		sb.WriteString(typeName(v.Type))
	}
}

func writeContainer(sb *strings.Builder, v bson.RawValue) {
	open, close := "{", "}"
	if v.Type == bson.TypeArray {
		open, close = "[", "]"
	}
	d, _ := subDoc(v)
	it := newIter(d)
	sb.WriteString(open)
	n := 0
	for k, e, ok := it.next(); ok; k, e, ok = it.next() {
		if n > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(" ")
		if v.Type == bson.TypeEmbeddedDocument {
			sb.WriteString(string(k) + ": ")
		}
		writeValue(sb, e)
		n++
	}
	if n > 0 {
		sb.WriteString(" ")
	}
	sb.WriteString(close)
}

// trueValue is the server's truthiness of a value ($exists, projection flags).
func trueValue(v bson.RawValue) bool {
	switch v.Type {
	case 0, bson.TypeNull, bson.TypeUndefined:
		return false
	case bson.TypeBoolean:
		b, ok := fixed(v, 1)
		return ok && b[0] != 0
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		n, _ := numberOf(v)
		return n.float() != 0
	}
	return true
}

// IndexKey returns a key such that IndexKey(a) == IndexKey(b) exactly when Compare(a, b) == 0
// (decimal128 values are approximated by doubles): 1, int64(1) and 1.0 share a key. memshard
// can key its _id index with it, and $group keys its groups with it.
func IndexKey(v bson.RawValue) string { return string(appendKey(nil, v, nil)) }

// IndexKey is the package's IndexKey with strings keyed by the collation, so that values the
// collation calls equal share a key.
func (c *Collation) IndexKey(v bson.RawValue) string { return string(appendKey(nil, v, c)) }

func appendKey(dst []byte, v bson.RawValue, coll *Collation) []byte {
	dst = append(dst, byte(typeRank(v.Type)))
	switch v.Type {
	case bson.TypeInt32, bson.TypeInt64, bson.TypeDouble, bson.TypeDecimal128:
		n, _ := numberOf(v)
		if !n.isInt && n.f == math.Trunc(n.f) && n.f >= -9.223372036854775808e18 && n.f < 9.223372036854775808e18 {
			n = number{isInt: true, i: int64(n.f)}
		}
		if n.isInt {
			return binary.BigEndian.AppendUint64(append(dst, 'i'), uint64(n.i))
		}
		if math.IsNaN(n.f) {
			return append(dst, 'n')
		}
		return binary.BigEndian.AppendUint64(append(dst, 'f'), math.Float64bits(n.f))
	case bson.TypeString, bson.TypeSymbol:
		s, _ := strBytes(v)
		s = coll.stringKey(s)
		return append(binary.BigEndian.AppendUint32(dst, uint32(len(s))), s...)
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		d, _ := subDoc(v)
		it := newIter(d)
		for k, e, ok := it.next(); ok; k, e, ok = it.next() {
			dst = append(dst, 1)
			dst = append(append(dst, k...), 0)
			dst = appendKey(dst, e, coll)
		}
		return append(dst, 0)
	case 0, bson.TypeNull, bson.TypeUndefined, bson.TypeMinKey, bson.TypeMaxKey:
		return dst
	}
	return append(binary.BigEndian.AppendUint32(dst, uint32(len(v.Value))), v.Value...)
}

// appendValue appends an element key: v to an open document.
func appendValue(dst []byte, key string, v bson.RawValue) []byte {
	return bsoncore.AppendValueElement(dst, key, bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
}

// docValue wraps finished document bytes as a value.
func docValue(doc []byte) bson.RawValue {
	return bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc}
}

func arrayValue(vals []bson.RawValue) bson.RawValue {
	idx, dst := bsoncore.AppendArrayStart(nil)
	for i, v := range vals {
		dst = appendValue(dst, strconv.Itoa(i), v)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return bson.RawValue{Type: bson.TypeArray, Value: dst}
}

func int32Value(i int32) bson.RawValue {
	return bson.RawValue{Type: bson.TypeInt32, Value: bsoncore.AppendInt32(nil, i)}
}

func int64Value(i int64) bson.RawValue {
	return bson.RawValue{Type: bson.TypeInt64, Value: bsoncore.AppendInt64(nil, i)}
}

func doubleValue(f float64) bson.RawValue {
	return bson.RawValue{Type: bson.TypeDouble, Value: bsoncore.AppendDouble(nil, f)}
}

var nullValue = bson.RawValue{Type: bson.TypeNull}

// decimalValue converts a double to decimal128 (memshard's decimal arithmetic goes through
// doubles, so it is approximate).
func decimalValue(f float64) bson.RawValue {
	d, _ := bson.ParseDecimal128(strconv.FormatFloat(f, 'g', -1, 64)) // accepts NaN and ±Inf too
	h, l := d.GetBytes()
	return bson.RawValue{Type: bson.TypeDecimal128, Value: bsoncore.AppendDecimal128(nil, h, l)}
}

// isOperatorDoc reports whether v is a document whose first field starts with '$' (an operator
// expression), not counting DBRef-like documents ({$ref, $id, ...}), which are values.
func isOperatorDoc(v bson.RawValue) bool {
	if !isDoc(v) {
		return false
	}
	it := newIter(v.Value)
	k, _, ok := it.next()
	if !ok || len(k) == 0 || k[0] != '$' {
		return false
	}
	var ref, id bool
	it = newIter(v.Value)
	for k, _, ok := it.next(); ok; k, _, ok = it.next() {
		ref = ref || string(k) == "$ref"
		id = id || string(k) == "$id"
	}
	return !(ref && id)
}

// maxDepth bounds the nesting of specs, as the server bounds BSON nesting, so that parsing
// (which recurses) stays shallow whatever a client sends.
const maxDepth = 200

// validDoc checks a whole document tree; constructors use it so parsing never meets garbage.
func validDoc(doc []byte) bool { return validNested(doc, 0) }

func validNested(doc []byte, depth int) bool {
	body, ok := docBody(doc)
	if !ok || len(body) != len(doc)-5 || depth > maxDepth {
		return false
	}
	for len(body) > 0 {
		el, rem, ok := bsoncore.ReadElement(body)
		if !ok {
			return false
		}
		body = rem
		k := bytes.IndexByte(el[1:], 0) + 1
		if !validValue(bson.RawValue{Type: bson.Type(el[0]), Value: el[k+1:]}, depth) {
			return false
		}
	}
	return true
}

func validValue(v bson.RawValue, depth int) bool {
	switch v.Type {
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		return validNested(v.Value, depth+1)
	case bson.TypeString, bson.TypeSymbol, bson.TypeJavaScript:
		s, ok := strBytes(v)
		return ok && len(s)+5 == len(v.Value)
	case bson.TypeBinary:
		return len(v.Value) >= 5 && int(int32(binary.LittleEndian.Uint32(v.Value)))+5 == len(v.Value)
	case bson.TypeDBPointer:
		s, ok := readStr(v.Value)
		return ok && len(s)+5+12 == len(v.Value)
	case bson.TypeCodeWithScope:
		if len(v.Value) < 4 || int(int32(binary.LittleEndian.Uint32(v.Value))) != len(v.Value) {
			return false
		}
		s, ok := readStr(v.Value[4:])
		return ok && validNested(v.Value[4+4+len(s)+1:], depth+1)
	case bson.TypeRegex:
		_, _, ok := regexParts(v)
		return ok
	}
	return typeRank(v.Type) != rankUnknown
}

// Format renders a value the way mongod's messages print BSON (shell-like).
func Format(v bson.RawValue) string { return formatValue(v) }
