package memshard

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// cmdCollMod is {collMod: coll, ...options}. memshard keeps one option, changeStreamPreAndPostImages
// ({enabled: bool}): whether change events record the documents before and after each write
// (collection_options.h). Other options are accepted and, like every collMod, logged as a modify
// event.
func cmdCollMod(r *request) error {
	coll, err := r.collName()
	if err != nil {
		return err
	}
	var images *bool
	if v, err := r.body.LookupErr("changeStreamPreAndPostImages"); err == nil {
		d, ok := v.DocumentOK()
		if !ok {
			return mongoerr.WrongType("collMod.changeStreamPreAndPostImages", v.Type, "object")
		}
		ev, err := d.LookupErr("enabled")
		if err != nil {
			return mongoerr.New(mongoerr.IDLFailedToParse,
				"BSON field 'collMod.changeStreamPreAndPostImages.enabled' is missing but a required field")
		}
		b, ok := ev.BooleanOK()
		if !ok {
			return mongoerr.WrongType("collMod.changeStreamPreAndPostImages.enabled", ev.Type, "bool")
		}
		images = &b
	}
	return r.write(func(s *store) error {
		c := s.coll(r.db, coll, nil)
		if c == nil {
			return mongoerr.New(mongoerr.NamespaceNotFound, "ns does not exist: %s", r.ns(coll))
		}
		before := bsoncore.NewDocumentBuilder()
		if images != nil {
			before.AppendDocument("changeStreamPreAndPostImages",
				bsoncore.NewDocumentBuilder().AppendBoolean("enabled", c.cs.images).Build())
			c.cs.images = *images
		}
		s.stamp()
		e := catalogChange(opModify, c, collModOptions(r.body))
		e.before = bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument("collectionOptions", before.Build()).Build())
		s.appendChange(e)
		r.wrote(s)
		return nil
	})
}

// collModOptions is what collMod's oplog entry holds besides the collection name: the command's
// own fields, without the generic ones every command may carry.
func collModOptions(body bsoncore.Document) bson.Raw {
	b := bsoncore.NewDocumentBuilder()
	elems, _ := body.Elements()
	for _, e := range elems[1:] {
		switch k := e.Key(); {
		case strings.HasPrefix(k, "$"), k == "lsid", k == "txnNumber", k == "autocommit", k == "writeConcern",
			k == "comment", k == "maxTimeMS", k == "readConcern", k == "apiVersion", k == "apiStrict",
			k == "apiDeprecationErrors":
		default:
			b.AppendValue(k, e.Value())
		}
	}
	return bson.Raw(b.Build())
}
