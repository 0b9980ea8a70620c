package sessionid

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// This file mirrors the parts of MongoDB's IDL parser (src/mongo/idl/idl_parser.cpp) that session
// commands go through, so that every error carries the server's code and text: a parse context is
// a dotted path, type errors name BSON types as typeName() does, null and undefined count as absent.

// invalidBSON is InvalidBSON(22): a document whose bytes do not parse. mongoerr has no constant for
// it yet, and the router validates frames first, so this only guards against panics.
const invalidBSON mongoerr.Code = 22

// ctx is an IDL parser context: the path MongoDB prints, e.g. "OperationSessionInfo.lsid". It is
// a chain of names joined only when an error is returned, so that a command that parses cleanly
// builds no strings (ParseOpInfo runs on every command). A child points at its parent's variable,
// so it must not outlive it, and a ctx is never passed as an interface (that would move the chain
// to the heap): messages take c.path().
type ctx struct {
	parent *ctx
	name   string // may hold dots: a root such as "KillAllSessionsCmd.killAllSessions"
}

func root(path string) ctx { return ctx{name: path} }

// child is c's field name. It refers to c, so it must not outlive c.
func (c *ctx) child(name string) ctx { return ctx{parent: c, name: name} }

// path joins the chain: "parent.name". It copies the names, so that no part of c flows into an
// error (escape analysis does not tell c.name from c.parent, and would move every parent to the
// heap).
func (c ctx) path() string { return string(c.appendPath(nil)) }

func (c *ctx) appendPath(dst []byte) []byte {
	if c.parent != nil {
		dst = append(c.parent.appendPath(dst), '.')
	}
	return append(dst, c.name...)
}

func (c ctx) wrongType(got, want bsoncore.Type) *mongoerr.Error {
	return mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s' is the wrong type '%s', expected type '%s'",
		c.path(), mongoerr.TypeName(got), mongoerr.TypeName(want))
}

func (c ctx) wrongBinType(got, want byte) *mongoerr.Error {
	return mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s' is the wrong binData type '%s', expected type '%s'",
		c.path(), mongoerr.BinDataTypeName(got), mongoerr.BinDataTypeName(want))
}

func (c ctx) missing() *mongoerr.Error {
	return mongoerr.New(mongoerr.IDLFailedToParse, "BSON field '%s' is missing but a required field", c.path())
}

// unknown reports the field key (raw bytes of the document) as an unknown field of c.
func (c ctx) unknown(key []byte) *mongoerr.Error {
	return mongoerr.New(mongoerr.IDLUnknownField, "BSON field '%s.%s' is an unknown field.", c.path(), key)
}

func (c ctx) duplicate() *mongoerr.Error {
	return mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '%s' is a duplicate field", c.path())
}

func (c ctx) malformed() *mongoerr.Error {
	return mongoerr.New(invalidBSON, "invalid BSON in '%s'", c.path())
}

// absent reports whether the IDL parser ignores a value of the expected field: null and undefined
// never raise a type error, they leave the field unset.
func absent(v bsoncore.Value) bool {
	return v.Type == bsoncore.TypeNull || v.Type == bsoncore.TypeUndefined
}

// fields walks the elements of a document without building a slice (Document.Elements would
// allocate on every command).
type fields struct {
	rem    []byte
	length int32 // bytes left as the document's length counts them
}

// walk validates the whole document, nested values included, before any field is looked at, and
// starts the walk; c names the document in the error.
func walk(c ctx, doc bsoncore.Document) (fields, error) {
	if err := doc.Validate(); err != nil {
		return fields{}, c.malformed()
	}
	length, rem, _ := bsoncore.ReadLength(doc)
	return fields{rem: rem, length: length - 4}, nil
}

// next is the loop of Document.Elements, which cannot fail once Validate passed.
func (f *fields) next() (bsoncore.Element, bool) {
	if f.length <= 1 {
		return nil, false
	}
	el, rem, ok := bsoncore.ReadElement(f.rem)
	if !ok {
		return nil, false
	}
	f.rem, f.length = rem, f.length-int32(len(el))
	return el, true
}

// seen tracks which known fields of a struct were set, to raise 40413 on a repeat.
type seen uint32

func (s *seen) mark(bit seen, c ctx) error {
	if *s&bit != 0 {
		return c.duplicate()
	}
	*s |= bit
	return nil
}

// expect checks a field value's BSON type. ok is false when the value is absent (null/undefined).
func expect(c ctx, v bsoncore.Value, want bsoncore.Type) (ok bool, err error) {
	if v.Type == want {
		return true, nil
	}
	if absent(v) {
		return false, nil
	}
	return false, c.wrongType(v.Type, want)
}

// expectBinary checks a binData field and its subtype.
func expectBinary(c ctx, v bsoncore.Value, subtype byte) (data []byte, ok bool, err error) {
	if ok, err := expect(c, v, bsoncore.TypeBinary); !ok {
		return nil, false, err
	}
	st, data, ok := v.BinaryOK()
	if !ok {
		return nil, false, c.malformed()
	}
	if st != subtype {
		return nil, false, c.wrongBinType(st, subtype)
	}
	return data, true, nil
}

// expectDoc checks that v is an object and returns it.
func expectDoc(c ctx, v bsoncore.Value) (bsoncore.Document, bool, error) {
	if ok, err := expect(c, v, bsoncore.TypeEmbeddedDocument); !ok {
		return nil, false, err
	}
	doc, ok := v.DocumentOK()
	if !ok {
		return nil, false, c.malformed()
	}
	return doc, true, nil
}

// expectArray checks that v is an array and returns it; ok is false when v is absent.
func expectArray(c ctx, v bsoncore.Value) (bsoncore.Array, bool, error) {
	if ok, err := expect(c, v, bsoncore.TypeArray); !ok {
		return nil, false, err
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, false, c.malformed()
	}
	return arr, true, nil
}

// eachObject walks the elements of an IDL array<struct>. c is the array's context: an element's
// type error is reported at c.N, its fields at c.<field> (the IDL parser does not put the index in
// nested paths). Field names must count 0,1,2... (40422/40423); null and undefined elements are
// skipped, as the generated parsers do.
func eachObject(c ctx, arr bsoncore.Array, fn func(c ctx, doc bsoncore.Document) error) error {
	elems, err := walk(c, bsoncore.Document(arr))
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		e, ok := elems.next()
		if !ok {
			return nil
		}
		key := e.KeyBytes()
		n, valid := arrayIndex(key)
		if !valid {
			return mongoerr.New(mongoerr.Code(40422),
				"BSON array field '%s' has an invalid value '%s' for an array field name.", c.path(), key)
		}
		if n != uint64(i) {
			return mongoerr.New(mongoerr.Code(40423),
				"BSON array field '%s' has a non-sequential value '%d' for an array field name, expected value '%d'.", c.path(), n, i)
		}
		doc, ok := e.Value().DocumentOK()
		if !ok || e.Value().Type != bsoncore.TypeEmbeddedDocument {
			// Not a document: the element's own context names it in the error (a key string is
			// built only here, so that a long array of sessions costs no allocation per element).
			var err error
			if doc, ok, err = expectDoc(c.child(e.Key()), e.Value()); err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		if err := fn(c, doc); err != nil {
			return err
		}
	}
}

// arrayIndex reads an array field name, a decimal index below 2^32 as IDL's parser accepts it.
func arrayIndex(key []byte) (uint64, bool) {
	if len(key) == 0 || len(key) > 10 {
		return 0, false
	}
	var n uint64
	for _, b := range key {
		if b < '0' || b > '9' {
			return 0, false
		}
		n = n*10 + uint64(b-'0')
	}
	return n, n <= 1<<32-1
}
