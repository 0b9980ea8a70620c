package query

import (
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"

	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// mdoc is a document or array being modified by an update. Only the containers an update walks
// into are decoded; everything else stays as raw bytes until it is written out.
type mdoc struct {
	array bool
	elems []melem
}

type melem struct {
	key string // unused in arrays: positions are the keys
	val bson.RawValue
	sub *mdoc // decoded form of val, once opened
}

func decodeDoc(b []byte, array bool) *mdoc {
	d := &mdoc{array: array}
	it := newIter(b)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		d.elems = append(d.elems, melem{key: string(k), val: v})
	}
	return d
}

// appendTo writes d as a document or array body (the caller writes the type and key).
func (d *mdoc) appendTo(dst []byte) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for i := range d.elems {
		e := &d.elems[i]
		key := e.key
		if d.array {
			key = strconv.Itoa(i)
		}
		if e.sub != nil {
			t := bsoncore.TypeEmbeddedDocument
			if e.sub.array {
				t = bsoncore.TypeArray
			}
			dst = e.sub.appendTo(bsoncore.AppendHeader(dst, t, key))
		} else {
			dst = appendValue(dst, key, e.val)
		}
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// value is the element's current value.
func (e *melem) value() bson.RawValue {
	if e.sub == nil {
		return e.val
	}
	t := bson.TypeEmbeddedDocument
	if e.sub.array {
		t = bson.TypeArray
	}
	return bson.RawValue{Type: t, Value: e.sub.appendTo(nil)}
}

func (e *melem) typ() bson.Type {
	switch {
	case e.sub == nil:
		return e.val.Type
	case e.sub.array:
		return bson.TypeArray
	}
	return bson.TypeEmbeddedDocument
}

// open returns the element's container, decoding it on first use; nil for scalars.
func (e *melem) open() *mdoc {
	if e.sub == nil {
		if d, ok := subDoc(e.val); ok {
			e.sub = decodeDoc(d, e.val.Type == bson.TypeArray)
		}
	}
	return e.sub
}

func (e *melem) set(v bson.RawValue) { e.val, e.sub = v, nil }

// index finds a field (or array position); -1 when absent.
func (d *mdoc) index(key string) int {
	if d.array {
		if i, ok := arrayIndex(key); ok && i < len(d.elems) {
			return i
		}
		return -1
	}
	for i := range d.elems {
		if d.elems[i].key == key {
			return i
		}
	}
	return -1
}

func arrayIndex(key string) (int, bool) {
	if !isIndex(key) {
		return 0, false
	}
	i, err := strconv.Atoi(key)
	return i, err == nil
}

// add appends a new field; in an array the key must be a position, and the gap before it is
// filled with nulls. owner names d for the error message.
func (d *mdoc) add(key string, v bson.RawValue, owner string) (*melem, error) {
	if d.array {
		i, ok := arrayIndex(key)
		if !ok {
			return nil, errorf(mongoerr.PathNotViable, "Cannot create field '%s' in element {%s}",
				key, formatElem(owner, d.value()))
		}
		for len(d.elems) < i {
			d.elems = append(d.elems, melem{val: nullValue})
		}
	}
	d.elems = append(d.elems, melem{key: key, val: v})
	return &d.elems[len(d.elems)-1], nil
}

func (d *mdoc) value() bson.RawValue {
	e := melem{sub: d}
	return e.value()
}

// navigate walks to the container of path's last component. With create, missing fields on
// the way become empty documents; without, a missing or scalar step returns a nil container.
func navigate(root *mdoc, path []string, create bool) (*mdoc, error) {
	d, owner := root, ""
	for i, p := range path[:len(path)-1] {
		idx := d.index(p)
		if idx < 0 {
			if !create {
				return nil, nil
			}
			e, err := d.add(p, docValue(emptyDoc), owner)
			if err != nil {
				return nil, err
			}
			e.sub = &mdoc{}
			d, owner = e.sub, p
			continue
		}
		e := &d.elems[idx]
		sub := e.open()
		if sub == nil {
			if !create {
				return nil, nil
			}
			return nil, errorf(mongoerr.PathNotViable, "Cannot create field '%s' in element {%s}",
				path[i+1], formatElem(p, e.val))
		}
		d, owner = sub, p
	}
	return d, nil
}

// setPath stores v at path, creating what is missing.
func setPath(root *mdoc, path []string, v bson.RawValue) error {
	d, err := navigate(root, path, true)
	if err != nil {
		return err
	}
	last := path[len(path)-1]
	if i := d.index(last); i >= 0 {
		d.elems[i].set(v)
		return nil
	}
	_, err = d.add(last, v, parentName(path))
	return err
}

func parentName(path []string) string {
	if len(path) < 2 {
		return ""
	}
	return path[len(path)-2]
}

// idOf returns the _id element of a document, for error messages ("{_id: 1}").
func idOf(root *mdoc) string {
	if i := root.index("_id"); i >= 0 {
		return formatElem("_id", root.elems[i].value())
	}
	return "no id"
}

// removePath deletes the field at path, if it is there; an array element becomes null, as
// $unset leaves it.
func removePath(root *mdoc, path []string) {
	d, _ := navigate(root, path, false)
	if d == nil {
		return
	}
	if i := d.index(path[len(path)-1]); i >= 0 {
		if d.array {
			d.elems[i].set(nullValue)
		} else {
			d.elems = slices.Delete(d.elems, i, i+1)
		}
	}
}
