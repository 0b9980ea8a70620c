// Package command is a client's command parsed once, as the router will send it on: its body
// and document sequences, its name and database, and which of its generic arguments the router
// forwards, replaces, drops or refuses (mongod's generic_argument.idl, as mongos applies it).
// Authorization, placement, session handling and forwarding all read this one parse, so what
// was authorized is what the shards receive.
package command

import (
	"strconv"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// Command is one OP_MSG command. Body and Sequences are views over the client's frame.
type Command struct {
	Name      []byte // the body's first key
	DB        []byte // $db
	Body      bsoncore.Document
	Sequences []wire.Sequence

	dup string // a top-level field the body holds twice
}

// Parse reads the command of an OP_MSG, as mongod's OpMsgRequest parser would: a first key and a
// non-empty string $db. It also notes a top-level field given twice, which CheckDuplicates
// refuses. wire.ParseMsg has already refused a field present both in the body and as a sequence.
func Parse(m wire.Msg) (Command, error) {
	c := Command{Body: m.Body, Sequences: m.Sequences}
	first, err := m.Body.IndexErr(0)
	if err != nil {
		return c, mongoerr.New(mongoerr.FailedToParse, "Empty command object")
	}
	c.Name = first.KeyBytes()
	dbv, ok := c.Lookup("$db")
	if !ok {
		return c, mongoerr.New(40571, "OP_MSG requests require a $db argument")
	}
	if c.DB, ok = bsonview.String(dbv); !ok || len(c.DB) == 0 {
		return c, mongoerr.New(mongoerr.InvalidNamespace, "Invalid database name: '%s'", dbv.String())
	}
	c.dup, _ = duplicateKey(m.Body)
	return c, nil
}

// CheckDuplicates refuses a body that gives a top-level field twice, as mongod's IDL parsers do:
// a shard that took the last of two fields where the router read the first would run a command
// nobody authorized. The router calls it after the session fields are parsed, whose own errors
// come first in document order (internal/sessionid), and before the command has any effect.
func (c *Command) CheckDuplicates() error {
	if c.dup == "" {
		return nil
	}
	return mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '%s.%s' is a duplicate field", c.Name, c.dup)
}

// Lookup finds a top-level field of the body without allocating.
func (c *Command) Lookup(key string) (bsoncore.Value, bool) { return bsonview.Lookup(c.Body, key) }

// EachDoc calls fn with each document of field, whether the client sent it as an array in the
// body or as a document sequence: the request the shard executes has both folded into one. A
// body field that is not an array of documents is refused as mongod's IDL parser refuses it.
func (c *Command) EachDoc(field string, fn func(bsoncore.Document) error) error {
	for _, s := range c.Sequences {
		if s.Identifier != field {
			continue
		}
		docs, err := s.Docs()
		if err != nil {
			return err
		}
		for _, d := range docs {
			if err := fn(d); err != nil {
				return err
			}
		}
		return nil
	}
	v, ok := c.Lookup(field)
	if !ok {
		return nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return mongoerr.WrongType(string(c.Name)+"."+field, v.Type, "array")
	}
	i := 0
	var err error
	bsonview.Each(bsoncore.Document(arr), func(el bsoncore.Element) bool {
		d, ok := el.Value().DocumentOK()
		if !ok {
			err = mongoerr.WrongType(string(c.Name)+"."+field+"."+strconv.Itoa(i), el.Value().Type, "object")
			return false
		}
		i++
		err = fn(d)
		return err == nil
	})
	return err
}

// smallDoc is how many fields duplicateKey compares pairwise before it uses a set.
const smallDoc = 16

// duplicateKey returns a key doc holds twice, if any. Command bodies are small, so it compares
// keys pairwise without allocating; a body of many fields gets a set.
func duplicateKey(doc bsoncore.Document) (string, bool) {
	var keys [smallDoc][]byte
	n := 0
	var seen map[string]struct{}
	dup := ""
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		key := el.KeyBytes()
		if seen != nil {
			if _, ok := seen[string(key)]; ok {
				dup = string(key)
				return false
			}
			seen[string(key)] = struct{}{}
			return true
		}
		for _, k := range keys[:n] {
			if string(k) == string(key) {
				dup = string(key)
				return false
			}
		}
		if n < smallDoc {
			keys[n] = key
			n++
			return true
		}
		seen = make(map[string]struct{}, 2*smallDoc)
		for _, k := range keys {
			seen[string(k)] = struct{}{}
		}
		seen[string(key)] = struct{}{}
		return true
	})
	return dup, dup != ""
}

// UniqueField reads one field of a nested document the router decides on (a statement's upsert,
// an operation's namespace index): absent, its value, or IDLDuplicateField when it is given
// twice, which mongod's IDL parsers refuse too. path names the document in the error.
func UniqueField(doc bsoncore.Document, key, path string) (bsoncore.Value, bool, error) {
	var v bsoncore.Value
	found, twice := false, false
	bsonview.Each(doc, func(el bsoncore.Element) bool {
		if string(el.KeyBytes()) != key {
			return true
		}
		if found {
			twice = true
			return false
		}
		v, found = el.Value(), true
		return true
	})
	if twice {
		return v, false, mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '%s.%s' is a duplicate field", path, key)
	}
	return v, found, nil
}

// TrueValue reads an optional flag as mongod's safeBool does (BSONElement::trueValue over bool
// and the numbers): upsert: 1 upserts. Other types are refused, as mongod refuses them.
func TrueValue(doc bsoncore.Document, key, path string) (bool, error) {
	v, ok, err := UniqueField(doc, key, path)
	if err != nil || !ok {
		return false, err
	}
	switch v.Type {
	case bsoncore.TypeBoolean:
		return v.Boolean(), nil
	case bsoncore.TypeInt32, bsoncore.TypeInt64, bsoncore.TypeDouble:
		f, _ := v.AsFloat64OK()
		return f != 0, nil
	case bsoncore.TypeDecimal128:
		return !decimalIsZero(v), nil
	}
	return false, mongoerr.New(mongoerr.TypeMismatch,
		"BSON field '%s.%s' is the wrong type '%s', expected types '[bool, long, int, decimal, double]'",
		path, key, mongoerr.TypeName(v.Type))
}

// decimalIsZero reports whether a Decimal128 is ±0 (any exponent); NaN counts as true, as in
// mongod.
func decimalIsZero(v bsoncore.Value) bool {
	h, l, ok := v.Decimal128OK()
	if !ok {
		return false
	}
	const combination = 0x1f << 58
	if h&combination == combination { // infinity or NaN
		return false
	}
	return h&((1<<49)-1) == 0 && l == 0
}
