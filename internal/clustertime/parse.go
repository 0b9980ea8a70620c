package clustertime

import (
	"errors"
	"math"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Parse reads the $clusterTime a command carries, as mongod 8.0 parses the generic argument
// (vector_clock.idl: ClusterTime {clusterTime: timestamp, signature?: {hash: bindata_generic,
// keyId: safeInt64}}, non-strict structs) and then vector_clock.cpp's SignedComponentFormat::in:
// no signature is read as the dummy one; a hash that is not 20 bytes is UnsupportedFormat.
// present is false when the command has none (or null). cmd names the IDL parse context
// ("find" gives "find.$clusterTime.clusterTime"). Nothing in body can make it panic, and a
// command that parses allocates nothing.
func Parse(cmd string, body bsoncore.Document) (s Signed, present bool, err error) {
	var v bsoncore.Value
	if err := eachField(path{cmd: cmd}, body, func(el bsoncore.Element) error {
		if string(el.KeyBytes()) == Field {
			v = el.Value()
			return errFound
		}
		return nil
	}); err != nil && err != errFound {
		return Signed{}, false, err
	}
	p := path{cmd: cmd, field: Field}
	doc, ok, err := expectDoc(p, v)
	if !ok {
		return Signed{}, false, err
	}
	var hasTime, hasSig bool
	var sig bsoncore.Document
	err = eachField(p, doc, func(el bsoncore.Element) error {
		switch string(el.KeyBytes()) {
		case "clusterTime":
			p := p.sub(".clusterTime")
			if err := once(&hasTime, p); err != nil {
				return err
			}
			v := el.Value()
			t, i, ok := v.TimestampOK()
			if !ok {
				hasTime = false
				if absent(v) {
					return nil
				}
				return mongoerr.WrongType(p.String(), v.Type, "timestamp")
			}
			s.Time = bson.Timestamp{T: t, I: i}
		case "signature":
			p := p.sub(".signature")
			if err := once(&hasSig, p); err != nil {
				return err
			}
			var err error
			sig, hasSig, err = expectDoc(p, el.Value())
			return err
		}
		return nil
	})
	switch {
	case err != nil:
		return Signed{}, false, err
	case !hasTime:
		return Signed{}, false, missing(p.sub(".clusterTime"))
	case hasSig:
		if s.Signature, err = parseSignature(p.sub(".signature"), sig); err != nil {
			return Signed{}, false, err
		}
	}
	return s, true, nil
}

func parseSignature(p path, doc bsoncore.Document) (Signature, error) {
	var sig Signature
	var hash []byte
	var hasHash, hasKeyID bool
	err := eachField(p, doc, func(el bsoncore.Element) error {
		switch string(el.KeyBytes()) {
		case "hash":
			p := p.sub(".signature.hash")
			if err := once(&hasHash, p); err != nil {
				return err
			}
			v := el.Value()
			if absent(v) {
				hasHash = false
				return nil
			}
			sub, data, ok := v.BinaryOK()
			switch {
			case !ok:
				return mongoerr.WrongType(p.String(), v.Type, "binData")
			case sub != bson.TypeBinaryGeneric:
				return mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s' is the wrong binData type '%s', expected type '%s'",
					p, mongoerr.BinDataTypeName(sub), mongoerr.BinDataTypeName(bson.TypeBinaryGeneric))
			}
			hash = data
		case "keyId":
			p := p.sub(".signature.keyId")
			if err := once(&hasKeyID, p); err != nil {
				return err
			}
			id, ok, err := safeInt64(p, el.Value())
			hasKeyID = ok
			sig.KeyID = id
			return err
		}
		return nil
	})
	switch {
	case err != nil:
		return Signature{}, err
	case !hasHash:
		return Signature{}, missing(p.sub(".signature.hash"))
	case !hasKeyID:
		return Signature{}, missing(p.sub(".signature.keyId"))
	case len(hash) != hashLen: // SHA1Block::fromBinData (hash_block.h)
		return Signature{}, mongoerr.New(mongoerr.UnsupportedFormat, "Unsupported SHA1Block hash length: %d", len(hash))
	}
	copy(sig.Hash[:], hash)
	return sig, nil
}

// safeInt64 is the IDL type of keyId: any number, converted as BSONElement::safeNumberLong does
// (truncated toward zero, NaN as 0, out of range clamped).
func safeInt64(p path, v bsoncore.Value) (int64, bool, error) {
	var f float64
	switch v.Type {
	case bsoncore.TypeInt32, bsoncore.TypeInt64:
		n, _ := v.AsInt64OK()
		return n, true, nil
	case bsoncore.TypeDouble:
		f, _ = v.DoubleOK()
	case bsoncore.TypeDecimal128:
		h, l, _ := v.Decimal128OK()
		f, _ = strconv.ParseFloat(bson.NewDecimal128(h, l).String(), 64)
	default:
		if absent(v) {
			return 0, false, nil
		}
		return 0, false, mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s' is the wrong type '%s', expected types '[long, int, decimal, double]'",
			p, mongoerr.TypeName(v.Type))
	}
	switch {
	case math.IsNaN(f):
		return 0, true, nil
	case f >= math.MaxInt64:
		return math.MaxInt64, true, nil
	case f <= math.MinInt64:
		return math.MinInt64, true, nil
	}
	return int64(f), true, nil
}

// path is an IDL parse context, "cmd.$clusterTime.signature.hash", joined only for an error
// message so that parsing allocates nothing.
type path struct {
	cmd, field, rest string
}

// sub is the path of a field below $clusterTime; rest is the whole suffix, a constant.
func (p path) sub(rest string) path { return path{cmd: p.cmd, field: Field, rest: rest} }

func (p path) String() string {
	if p.field == "" {
		return p.cmd
	}
	return p.cmd + "." + p.field + p.rest
}

// The IDL parser's rules and messages (src/mongo/idl/idl_parser.cpp): null and undefined leave a
// field unset, a repeated known field is 40413, a missing required one 40414.

func absent(v bsoncore.Value) bool {
	return v.Type == bsoncore.TypeNull || v.Type == bsoncore.TypeUndefined
}

func expectDoc(p path, v bsoncore.Value) (bsoncore.Document, bool, error) {
	if v.Type == 0 || absent(v) {
		return nil, false, nil
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, false, mongoerr.WrongType(p.String(), v.Type, "object")
	}
	return doc, true, nil
}

func missing(p path) error {
	return mongoerr.New(mongoerr.IDLFailedToParse, "BSON field '%s' is missing but a required field", p)
}

func once(seen *bool, p path) error {
	if *seen {
		return mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '%s' is a duplicate field", p)
	}
	*seen = true
	return nil
}

// errFound ends a walk early.
var errFound = errors.New("found")

// eachField walks a document's elements without allocating; bytes that do not parse end the walk
// with InvalidBSON instead of a panic.
func eachField(p path, doc bsoncore.Document, fn func(bsoncore.Element) error) error {
	length, rem, ok := bsoncore.ReadLength(doc)
	if !ok || length < 5 || int(length) > len(doc) {
		return mongoerr.New(mongoerr.InvalidBSON, "invalid BSON in '%s'", p)
	}
	rem = rem[:length-5] // the elements, without the length and the final NUL
	for len(rem) > 0 {
		el, next, ok := bsoncore.ReadElement(rem)
		if !ok {
			return mongoerr.New(mongoerr.InvalidBSON, "invalid BSON in '%s'", p)
		}
		if err := fn(el); err != nil {
			return err
		}
		rem = next
	}
	return nil
}
