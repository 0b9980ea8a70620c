package memshard

import (
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// cmdCollMod is {collMod: coll, ...options}. memshard keeps changeStreamPreAndPostImages
// ({enabled: bool}): whether change events record the documents before and after each write
// (collection_options.h); a collection's validator (validator, validationLevel,
// validationAction); and a view's definition (viewOn, pipeline). Other options are accepted
// and, like every collMod, logged as a modify event.
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
		if err := r.modifyDefinition(c); err != nil {
			return err
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

// modifyDefinition applies collMod's validator options to a collection, or viewOn and pipeline
// to a view (coll_mod.cpp refuses each on the other kind).
func (r *request) modifyDefinition(c *collection) error {
	if _, err := r.body.LookupErr("index"); err == nil {
		return mongoerr.New(mongoerr.BadValue, "memshard does not support collMod of an index")
	}
	if c.meta.view != nil {
		return r.modifyView(c)
	}
	for _, k := range []string{"viewOn", "pipeline"} {
		if _, err := r.body.LookupErr(k); err == nil {
			return mongoerr.New(mongoerr.InvalidOptions, "option only supported on a view: %s", k)
		}
	}
	v, err := parseValidator(r.body, r.name, c.meta.validator)
	if err != nil {
		return err
	}
	c.meta.validator = v
	if v != nil {
		c.meta.options = v.options(c.meta.options)
	}
	return nil
}

// modifyView replaces a view's source and pipeline.
func (r *request) modifyView(c *collection) error {
	for _, k := range []string{"validator", "validationLevel", "validationAction"} {
		if _, err := r.body.LookupErr(k); err == nil {
			return mongoerr.New(mongoerr.OptionNotSupportedOnView, "option not supported on a view: %s", k)
		}
	}
	on, ok := r.body.Lookup("viewOn").StringValueOK()
	if !ok {
		return mongoerr.New(mongoerr.InvalidOptions, "must specify both 'viewOn' and 'pipeline' when modifying a view and auth is enabled")
	}
	stages, err := r.pipelineArg()
	if err != nil {
		return err
	}
	if _, err := query.NewPipeline(stages); err != nil {
		return err
	}
	c.meta.view = &viewDef{on: on, pipeline: stages}
	c.meta.options = bsoncore.NewDocumentBuilder().AppendString("viewOn", on).AppendArray("pipeline", stagesArray(stages)).Build()
	return nil
}
