package memshard

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Resume tokens as mongod writes them (src/mongo/db/pipeline/resume_token.cpp): the fields of
// ResumeTokenData — clusterTime, version, tokenType, txnOpIndex, fromInvalidate, the collection
// UUID (null when none) and the event identifier — encoded as a KeyString V1
// (src/mongo/db/storage/key_string.cpp) and hex-encoded into {_data: "..."}. KeyString sorts
// like the values it encodes, so tokens sort by cluster time, then position in a transaction.
// _typeBits carries what KeyString cannot tell apart (int, long or double) when it is not all
// zeros.

// tokenVersion is the resume token version mongod 7.0+ writes.
const tokenVersion = 2

// Token types (resume_token.h): a high-water mark names a point in time, an event token an event.
const (
	tokenHighWaterMark = 0
	tokenEvent         = 128
)

// KeyString canonical types (key_string.cpp CType).
const (
	ksMinKey        = 10
	ksUndefined     = 15
	ksNullish       = 20
	ksNumeric       = 30
	ksNumericNaN    = 30
	ksNegLarge      = 31
	ksNeg8ByteInt   = 32
	ksNeg1ByteInt   = 39
	ksNegSmall      = 40
	ksNumericZero   = 41
	ksPosSmall      = 42
	ksPos1ByteInt   = 43
	ksPos8ByteInt   = 50
	ksPosLarge      = 51
	ksStringLike    = 60
	ksObject        = 70
	ksArray         = 80
	ksBinData       = 90
	ksOID           = 100
	ksBoolFalse     = 110
	ksBoolTrue      = 111
	ksDate          = 120
	ksTimestamp     = 130
	ksRegEx         = 140
	ksDBRef         = 150
	ksCode          = 160
	ksCodeWithScope = 170
	ksMaxKey        = 240
	ksEnd           = 4
)

// resumeToken is ResumeTokenData.
type resumeToken struct {
	clusterTime    bson.Timestamp
	version        int32
	tokenType      int32
	txnOpIndex     int32
	fromInvalidate bool
	uuid           []byte   // nil: none (null in the key)
	eventID        bson.Raw // {operationType, documentKey | operationDescription}; nil for high-water marks
}

func highWaterMark(ts bson.Timestamp) resumeToken {
	return resumeToken{clusterTime: ts, version: tokenVersion, tokenType: tokenHighWaterMark}
}

// encode is the token's {_data, _typeBits?} document.
func (t resumeToken) encode() bson.Raw {
	var tb typeBits
	ks := []byte{ksTimestamp}
	ks = binary.BigEndian.AppendUint64(ks, uint64(t.clusterTime.T)<<32|uint64(t.clusterTime.I))
	ks = appendKSInt(ks, int64(t.version), &tb)
	ks = appendKSInt(ks, int64(t.tokenType), &tb)
	ks = appendKSInt(ks, int64(t.txnOpIndex), &tb)
	ks = appendKSBool(ks, t.fromInvalidate)
	if t.uuid != nil {
		ks = appendKSBinData(ks, bson.TypeBinaryUUID, t.uuid)
	} else {
		ks = append(ks, ksNullish)
	}
	if t.eventID != nil {
		ks = appendKSValue(ks, bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: t.eventID}, &tb)
	}
	ks = append(ks, ksEnd)
	b := bsoncore.NewDocumentBuilder().AppendString("_data", upperHex(ks))
	if bits := tb.bytes(); bits != nil {
		b.AppendBinary("_typeBits", bson.TypeBinaryGeneric, bits)
	}
	return bson.Raw(b.Build())
}

// upperHex is b in hex with capital letters, as mongod's hexblob::encode writes it.
func upperHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// data is the token's _data string.
func (t resumeToken) data() string {
	s, _ := t.encode().Lookup("_data").StringValueOK()
	return s
}

// badToken is the error for a token that is not one memshard (or mongod) could have written.
func badToken(code mongoerr.Code, msg string) *mongoerr.Error { return mongoerr.New(code, "%s", msg) }

// parseResumeToken reads a client's resume token document, with mongod's checks and codes.
func parseResumeToken(doc bson.Raw) (resumeToken, string, error) {
	var t resumeToken
	dv := doc.Lookup("_data")
	data, ok := dv.StringValueOK()
	if !ok {
		return t, "", mongoerr.New(40647, "Bad resume token: _data of missing or of wrong type. Expected string, got %s", doc)
	}
	if tb := doc.Lookup("_typeBits"); tb.Type != 0 {
		if st, _, ok := tb.BinaryOK(); !ok || st != bson.TypeBinaryGeneric {
			return t, "", mongoerr.New(40648, "Bad resume token: _typeBits of wrong type %s", doc)
		}
	}
	ks, err := hex.DecodeString(data)
	if err != nil {
		return t, "", mongoerr.New(mongoerr.FailedToParse, "resume token string was not a valid hex string")
	}
	r := ksReader{b: ks}
	if len(ks) == 0 || ks[0] == ksEnd {
		return t, "", badToken(40649, "invalid empty resume token")
	}
	if r.byte() != ksTimestamp || len(r.b) < 8 {
		return t, "", badToken(50811, "KeyString format error: resume token clusterTime is not a Timestamp")
	}
	ts := binary.BigEndian.Uint64(r.take(8))
	t.clusterTime = bson.Timestamp{T: uint32(ts >> 32), I: uint32(ts)}
	fields := []struct {
		dst              *int32
		missCode, badTyp int32
		miss, bad        string
	}{
		{&t.version, 50796, 50854, "Resume Token does not contain version", "Invalid resume token: wrong type for version"},
		{&t.tokenType, 51055, 51056, "Resume Token does not contain tokenType", "Resume Token tokenType is not an int."},
		{&t.txnOpIndex, 50793, 50855, "Resume Token does not contain txnOpIndex", "Resume Token txnOpIndex is not an integer"},
	}
	for i, f := range fields {
		if r.done() {
			return t, "", badToken(mongoerr.Code(f.missCode), f.miss)
		}
		n, ok := r.int()
		if !ok {
			return t, "", badToken(mongoerr.Code(f.badTyp), f.bad)
		}
		*f.dst = int32(n)
		if i == 0 && t.version != 1 && t.version != 2 {
			return t, "", badToken(50795, "Invalid Resume Token: only supports version 0, 1 and 2")
		}
	}
	if t.tokenType != tokenEvent && t.tokenType != tokenHighWaterMark {
		return t, "", mongoerr.New(51057, "Token type %d not recognized", t.tokenType)
	}
	if t.txnOpIndex < 0 {
		return t, "", badToken(50794, "Invalid Resume Token: txnOpIndex should be non-negative")
	}
	switch r.byte() {
	case ksBoolTrue:
		t.fromInvalidate = true
	case ksBoolFalse:
	default:
		return t, "", badToken(50870, "Resume Token fromInvalidate is not a boolean.")
	}
	switch c := r.byte(); {
	case c == ksEnd && t.version <= 1:
		return t, data, nil
	case c == ksNullish:
	case c == ksBinData && len(r.b) >= 18 && r.b[0] == 16 && r.b[1] == byte(bson.TypeBinaryUUID):
		t.uuid = r.take(18)[2:]
	default:
		return t, "", badToken(mongoerr.InvalidUUID, "Expected UUID or null")
	}
	if c := r.peek(); c != ksEnd {
		if t.tokenType == tokenHighWaterMark {
			return t, "", badToken(6189504, "Invalid high water mark token")
		}
		if c != ksObject || !r.skipValue(0) {
			return t, "", badToken(6189503, "Resume Token eventIdentifier is not an object")
		}
		t.eventID = bson.Raw{} // present; the bytes are compared whole via _data
	} else if t.tokenType == tokenEvent && t.version >= 2 {
		return t, "", badToken(6189501, "Expected an eventIdentifier for an event resume token")
	}
	if t.eventID != nil && r.peek() >= ksNumeric && r.peek() <= ksPosLarge { // fragmentNum
		r.skipValue(0)
	}
	if r.byte() != ksEnd || !r.done() {
		return t, "", badToken(40646, "invalid oversized resume token")
	}
	return t, strings.ToUpper(data), nil
}

// typeBits is KeyString's side channel of original types (key_string.h TypeBits), bits
// appended least significant first.
type typeBits struct {
	buf  []byte
	n    int
	zero bool
}

func (tb *typeBits) bit(b byte) {
	if tb.n%8 == 0 {
		tb.buf = append(tb.buf, 0)
	}
	if b != 0 {
		tb.buf[tb.n/8] |= 1 << (tb.n % 8)
	}
	tb.n++
}

// bytes is the serialized form, nil when all zeros: one byte when the bits fit in 7, else a
// size byte with the high bit set followed by the bytes.
func (tb *typeBits) bytes() []byte {
	allZero := true
	for _, b := range tb.buf {
		allZero = allZero && b == 0
	}
	switch {
	case allZero:
		return nil
	case tb.n <= 7:
		return []byte{tb.buf[0]}
	}
	return append([]byte{0x80 | byte(len(tb.buf))}, tb.buf...)
}

func appendKSBool(ks []byte, v bool) []byte {
	if v {
		return append(ks, ksBoolTrue)
	}
	return append(ks, ksBoolFalse)
}

func appendKSBinData(ks []byte, subtype byte, data []byte) []byte {
	ks = append(ks, ksBinData)
	if len(data) < 0xff {
		ks = append(ks, byte(len(data)))
	} else {
		ks = append(ks, 0xff)
		ks = binary.BigEndian.AppendUint32(ks, uint32(len(data)))
	}
	return append(append(ks, subtype), data...)
}

// appendKSInt is an int32 (type bits 00); tokens' numbers are all ints.
func appendKSInt(ks []byte, n int64, tb *typeBits) []byte {
	tb.bit(0)
	tb.bit(0)
	return appendKSInteger(ks, n)
}

func appendKSInteger(ks []byte, n int64) []byte {
	switch {
	case n == 0:
		return append(ks, ksNumericZero)
	case n == math.MinInt64:
		return appendKSLargeDouble(ks, float64(n))
	case n < 0:
		return appendKSPreshifted(ks, uint64(-n)<<1, true)
	}
	return appendKSPreshifted(ks, uint64(n)<<1, false)
}

// appendKSPreshifted writes an integer part already shifted left by one (the low bit says a
// fraction follows), in as few big-endian bytes as it needs; negatives are inverted.
func appendKSPreshifted(ks []byte, v uint64, negative bool) []byte {
	n := 1
	for v>>(8*n) != 0 && n < 8 {
		n++
	}
	var be [8]byte
	binary.BigEndian.PutUint64(be[:], v)
	if negative {
		ks = append(ks, byte(ksNeg1ByteInt-(n-1)))
		for _, b := range be[8-n:] {
			ks = append(ks, ^b)
		}
		return ks
	}
	ks = append(ks, byte(ksPos1ByteInt+(n-1)))
	return append(ks, be[8-n:]...)
}

// appendKSDouble is the V1 double encoding (kDCMEqualToDouble) without type bits.
func appendKSDouble(ks []byte, f float64) []byte {
	neg := f < 0
	mag := math.Abs(f)
	switch {
	case math.IsNaN(f):
		return append(ks, ksNumericNaN)
	case mag == 0:
		return append(ks, ksNumericZero)
	case mag < 1:
		c := byte(ksPosSmall)
		if neg {
			c = ksNegSmall
		}
		enc := math.Float64bits(mag)
		if mag >= math.Ldexp(1, -255) {
			enc <<= 2
		} else {
			enc = (math.Float64bits(mag*math.Ldexp(1, 256)) << 1) + 1<<62
		}
		return appendMaybeInverted(append(ks, c), enc, neg)
	case mag >= math.Ldexp(1, 63):
		return appendKSLargeDouble(ks, f)
	}
	ip := uint64(mag)
	if float64(ip) == mag {
		return appendKSPreshifted(ks, ip<<1, neg)
	}
	frac := 0 // bytes of fraction: the leading zero bytes of the shifted integer part
	for v := ip << 1; frac < 8 && v>>(56-8*frac) == 0; frac++ {
	}
	c := byte(ksPos8ByteInt - frac)
	if neg {
		c = byte(ksNeg8ByteInt + frac)
	}
	enc := uint64(mag * math.Pow(256, float64(frac)))
	enc += (ip + 1) << (8 * frac)
	return appendMaybeInverted(append(ks, c), enc, neg)
}

func appendKSLargeDouble(ks []byte, f float64) []byte {
	c := byte(ksPosLarge)
	if f < 0 {
		c = ksNegLarge
	}
	enc := ^uint64(0)
	if !math.IsInf(f, 0) {
		enc = (math.Float64bits(f) << 1) &^ (1 << 63)
	}
	return appendMaybeInverted(append(ks, c), enc, f < 0)
}

func appendMaybeInverted(ks []byte, v uint64, invert bool) []byte {
	if invert {
		v = ^v
	}
	return binary.BigEndian.AppendUint64(ks, v)
}

// appendKSString writes a string's bytes with NUL escaped as 00 FF, then a terminating NUL.
func appendKSString(ks []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		ks = append(ks, s[i])
		if s[i] == 0 {
			ks = append(ks, 0xff)
		}
	}
	return append(ks, 0)
}

// genericCType is the type byte that precedes a field name in an object (bsonTypeToGenericKeyStringType).
func genericCType(t bson.Type) byte {
	switch t {
	case bson.TypeMinKey:
		return ksMinKey
	case bson.TypeNull:
		return ksNullish
	case bson.TypeUndefined:
		return ksUndefined
	case bson.TypeDouble, bson.TypeInt32, bson.TypeInt64, bson.TypeDecimal128:
		return ksNumeric
	case bson.TypeString, bson.TypeSymbol:
		return ksStringLike
	case bson.TypeEmbeddedDocument:
		return ksObject
	case bson.TypeArray:
		return ksArray
	case bson.TypeBinary:
		return ksBinData
	case bson.TypeObjectID:
		return ksOID
	case bson.TypeBoolean:
		return ksBoolFalse
	case bson.TypeDateTime:
		return ksDate
	case bson.TypeTimestamp:
		return ksTimestamp
	case bson.TypeRegex:
		return ksRegEx
	case bson.TypeDBPointer:
		return ksDBRef
	case bson.TypeJavaScript:
		return ksCode
	case bson.TypeCodeWithScope:
		return ksCodeWithScope
	}
	return ksMaxKey
}

// appendKSValue writes one BSON value (_appendBsonValue). Decimal128 is written as its nearest
// double: memshard's tokens stay ordered, though not byte-identical to mongod's for decimals.
func appendKSValue(ks []byte, v bson.RawValue, tb *typeBits) []byte {
	switch v.Type {
	case bson.TypeMinKey, bson.TypeMaxKey, bson.TypeNull, bson.TypeUndefined:
		return append(ks, genericCType(v.Type))
	case bson.TypeDouble:
		tb.bit(0)
		tb.bit(1)
		return appendKSDouble(ks, v.Double())
	case bson.TypeInt32:
		return appendKSInt(ks, int64(v.Int32()), tb)
	case bson.TypeInt64:
		tb.bit(1)
		tb.bit(0)
		return appendKSInteger(ks, v.Int64())
	case bson.TypeDecimal128:
		tb.bit(1)
		tb.bit(1)
		f, _ := strconv.ParseFloat(v.Decimal128().String(), 64)
		return appendKSDouble(ks, f)
	case bson.TypeString, bson.TypeSymbol:
		tb.bit(boolBit(v.Type == bson.TypeSymbol))
		s, _ := bsoncore.Value{Type: bsoncore.TypeString, Data: v.Value}.StringValueOK()
		return appendKSString(append(ks, ksStringLike), s)
	case bson.TypeEmbeddedDocument:
		ks = append(ks, ksObject)
		elems, _ := bson.Raw(v.Value).Elements()
		for _, e := range elems {
			ev := e.Value()
			ks = append(ks, genericCType(ev.Type))
			ks = append(append(ks, e.Key()...), 0)
			ks = appendKSValue(ks, ev, tb)
		}
		return append(ks, 0)
	case bson.TypeArray:
		ks = append(ks, ksArray)
		vals, _ := bson.Raw(v.Value).Values()
		for _, ev := range vals {
			ks = appendKSValue(ks, ev, tb)
		}
		return append(ks, 0)
	case bson.TypeBinary:
		st, data := v.Binary()
		return appendKSBinData(ks, st, data)
	case bson.TypeObjectID:
		oid := v.ObjectID()
		return append(append(ks, ksOID), oid[:]...)
	case bson.TypeBoolean:
		return appendKSBool(ks, v.Boolean())
	case bson.TypeDateTime:
		return binary.BigEndian.AppendUint64(append(ks, ksDate), uint64(v.DateTime())^(1<<63))
	case bson.TypeTimestamp:
		t, i := v.Timestamp()
		return binary.BigEndian.AppendUint64(append(ks, ksTimestamp), uint64(t)<<32|uint64(i))
	case bson.TypeRegex:
		p, o := v.Regex()
		return append(append(append(append(ks, ksRegEx), p...), 0), append([]byte(o), 0)...)
	case bson.TypeJavaScript:
		return appendKSString(append(ks, ksCode), v.JavaScript())
	}
	return append(ks, ksMaxKey) // DBPointer and code with scope never make an _id here
}

func boolBit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// ksReader walks a KeyString.
type ksReader struct{ b []byte }

func (r *ksReader) done() bool { return len(r.b) == 0 }

func (r *ksReader) peek() byte {
	if len(r.b) == 0 {
		return 0
	}
	return r.b[0]
}

func (r *ksReader) byte() byte {
	c := r.peek()
	if len(r.b) > 0 {
		r.b = r.b[1:]
	}
	return c
}

func (r *ksReader) take(n int) []byte {
	if n > len(r.b) {
		n = len(r.b)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// int reads an integer-valued number; false for anything else.
func (r *ksReader) int() (int64, bool) {
	c := r.byte()
	switch {
	case c == ksNumericZero:
		return 0, true
	case c >= ksPos1ByteInt && c <= ksPos8ByteInt:
		n := int(c-ksPos1ByteInt) + 1
		if len(r.b) < n {
			return 0, false
		}
		var v uint64
		for _, b := range r.take(n) {
			v = v<<8 | uint64(b)
		}
		if v&1 != 0 || v>>1 > math.MaxInt32 {
			return 0, false
		}
		return int64(v >> 1), true
	}
	return 0, false
}

// cstring skips a NUL-terminated string whose NULs are escaped as 00 FF.
func (r *ksReader) cstring() bool {
	for len(r.b) > 0 {
		c := r.byte()
		if c == 0 {
			if r.peek() != 0xff {
				return true
			}
			r.byte()
		}
	}
	return false
}

// skipValue skips one value; false when the bytes are not a value memshard writes.
func (r *ksReader) skipValue(depth int) bool {
	if depth > 100 {
		return false
	}
	c := r.byte()
	switch {
	case c == ksMinKey || c == ksMaxKey || c == ksNullish || c == ksUndefined || c == ksNumericZero ||
		c == ksNumericNaN || c == ksBoolTrue || c == ksBoolFalse:
		return true
	case c == ksNegSmall || c == ksPosSmall || c == ksNegLarge || c == ksPosLarge || c == ksDate || c == ksTimestamp:
		return len(r.take(8)) == 8
	case c >= ksPos1ByteInt && c <= ksPos8ByteInt, c >= ksNeg8ByteInt && c <= ksNeg1ByteInt:
		n := int(c-ksPos1ByteInt) + 1
		if c <= ksNeg1ByteInt {
			n = int(ksNeg1ByteInt-c) + 1
		}
		b := r.take(n)
		if len(b) != n {
			return false
		}
		last := b[n-1]
		if c <= ksNeg1ByteInt {
			last = ^last
		}
		if last&1 != 0 { // a fraction follows in the rest of 8 bytes
			return len(r.take(8-n)) == 8-n
		}
		return true
	case c == ksStringLike || c == ksCode:
		return r.cstring()
	case c == ksOID:
		return len(r.take(12)) == 12
	case c == ksBinData:
		n := int(r.byte())
		if n == 0xff {
			if len(r.b) < 4 {
				return false
			}
			n = int(binary.BigEndian.Uint32(r.take(4)))
		}
		return len(r.take(n+1)) == n+1
	case c == ksRegEx:
		return r.cstring() && r.cstring()
	case c == ksObject:
		for {
			switch r.byte() {
			case 0:
				return true
			case ksEnd:
				return false
			}
			if !r.cstring() || !r.skipValue(depth+1) {
				return false
			}
		}
	case c == ksArray:
		for r.peek() != 0 {
			if r.done() || !r.skipValue(depth+1) {
				return false
			}
		}
		r.byte()
		return true
	}
	return false
}
