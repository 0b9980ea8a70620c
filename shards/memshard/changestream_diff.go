package memshard

import (
	"bytes"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// updateDescription is an update event's description of what changed, as mongod derives it from
// an update's oplog diff (change_stream_document_diff_parser.cpp): the dotted paths set, the
// paths removed, the arrays cut short, and — for paths a dotted string cannot tell apart (a
// numeric field name or an array index) — the path's parts.
type updateDescription struct {
	updated       bson.Raw // updatedFields
	removed       bson.Raw // removedFields: an array of paths
	truncated     bson.Raw // truncatedArrays: [{field, newSize}]
	disambiguated bson.Raw // disambiguatedPaths
}

// pathPart is one step of a path: a field name or an array index.
type pathPart struct {
	name  string
	index bool
}

type docDiff struct {
	updated, disambiguated *bsoncore.DocumentBuilder
	removed, truncated     *bsoncore.ArrayBuilder
}

// diffDocs describes how after differs from before, as mongod's computeDiff (doc_diff.cpp)
// would log it: changed values by path, descending into documents and arrays both sides have.
func diffDocs(before, after bson.Raw) updateDescription {
	d := docDiff{
		updated: bsoncore.NewDocumentBuilder(), disambiguated: bsoncore.NewDocumentBuilder(),
		removed: bsoncore.NewArrayBuilder(), truncated: bsoncore.NewArrayBuilder(),
	}
	d.doc(nil, before, after)
	return updateDescription{
		updated: bson.Raw(d.updated.Build()), removed: bson.Raw(d.removed.Build()),
		truncated: bson.Raw(d.truncated.Build()), disambiguated: bson.Raw(d.disambiguated.Build()),
	}
}

func (d *docDiff) doc(path []pathPart, before, after bson.Raw) {
	eachElement(after, func(key string, v bson.RawValue) {
		old, _ := bsoncore.Document(before).LookupErr(key)
		d.value(append(path[:len(path):len(path)], pathPart{name: key}), rawValue(old), v)
	})
	eachElement(before, func(key string, _ bson.RawValue) {
		if _, err := bsoncore.Document(after).LookupErr(key); err != nil {
			d.removed.AppendString(d.note(append(path[:len(path):len(path)], pathPart{name: key})))
		}
	})
}

// eachElement calls fn with each element of doc (a document or an array) without building a
// slice of them: updates run this on every write.
func eachElement(doc []byte, fn func(key string, v bson.RawValue)) {
	if len(doc) < 5 {
		return
	}
	for rest := doc[4 : len(doc)-1]; len(rest) > 0; {
		el, r, ok := bsoncore.ReadElement(rest)
		if !ok {
			return
		}
		v := el.Value()
		fn(el.Key(), bson.RawValue{Type: bson.Type(v.Type), Value: v.Data})
		rest = r
	}
}

func (d *docDiff) value(p []pathPart, old, cur bson.RawValue) {
	switch {
	case old.Type == bson.TypeEmbeddedDocument && cur.Type == bson.TypeEmbeddedDocument:
		d.doc(p, old.Document(), cur.Document())
	case old.Type == bson.TypeArray && cur.Type == bson.TypeArray:
		d.array(p, old.Array(), cur.Array())
	case old.Type != cur.Type || !bytes.Equal(old.Value, cur.Value):
		d.updated.AppendValue(d.note(p), bsoncore.Value{Type: bsoncore.Type(cur.Type), Data: cur.Value})
	}
}

func (d *docDiff) array(p []pathPart, before, after bson.RawArray) {
	var olds []bson.RawValue
	eachElement(before, func(_ string, v bson.RawValue) { olds = append(olds, v) })
	n := 0
	eachElement(after, func(key string, v bson.RawValue) {
		ip := append(p[:len(p):len(p)], pathPart{name: key, index: true})
		if n < len(olds) {
			d.value(ip, olds[n], v)
		} else {
			d.updated.AppendValue(d.note(ip), bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value})
		}
		n++
	})
	if n < len(olds) {
		d.truncated.AppendDocument(bsoncore.NewDocumentBuilder().AppendString("field", d.note(p)).
			AppendInt32("newSize", int32(n)).Build())
	}
}

// note returns the dotted path and records its parts in disambiguatedPaths when the dotted form
// is ambiguous: a part is all digits or holds a dot.
func (d *docDiff) note(p []pathPart) string {
	names := make([]string, len(p))
	ambiguous := false
	for i, part := range p {
		names[i] = part.name
		ambiguous = ambiguous || part.index || isDigits(part.name) || strings.Contains(part.name, ".")
	}
	dotted := strings.Join(names, ".")
	if ambiguous {
		parts := bsoncore.NewArrayBuilder()
		for _, part := range p {
			if part.index {
				parts.AppendInt32(int32(atoiDigits(part.name)))
			} else {
				parts.AppendString(part.name)
			}
		}
		d.disambiguated.AppendArray(dotted, parts.Build())
	}
	return dotted
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func atoiDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
