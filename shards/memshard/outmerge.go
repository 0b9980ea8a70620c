package memshard

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
)

// An aggregate may end with $out or $merge, which write the pipeline's output to a collection
// and answer an empty cursor. They touch the store, so they run here rather than in the query
// engine, which computes the documents they write.

// writeStage is a pipeline's final $out or $merge.
type writeStage struct {
	name     string // "$out" or "$merge"
	db, coll string
	// $merge only
	on             []string // the fields that identify a target document
	whenMatched    string   // replace, keepExisting, merge, fail
	whenNotMatched string   // insert, discard, fail
}

// Error codes of mongod's $out and $merge stages.
const (
	codeNotLastStage         mongoerr.Code = 40601
	codeOutBadSpec           mongoerr.Code = 16990
	codeOutSpecialColl       mongoerr.Code = 17385
	codeOutInternalDB        mongoerr.Code = 31321
	codeMergeBadSpec         mongoerr.Code = 51182
	codeMergeBadModes        mongoerr.Code = 51181
	codeMergeSpecialColl     mongoerr.Code = 31319
	codeMergeInternalDB      mongoerr.Code = 31320
	codeMergeNoUniqueIndex   mongoerr.Code = 51183
	codeMergeOnNullish       mongoerr.Code = 51132
	codeMergeOnArray         mongoerr.Code = 51185
	codeMergeNoMatch         mongoerr.Code = 13113
	codeMergeDuplicateOn     mongoerr.Code = 31465
	codeMergeLetNeedsPipe    mongoerr.Code = 51199
	codeMergeOnType          mongoerr.Code = 51186
	codeMergeOnElementType   mongoerr.Code = 51134
	codeMergeOnEmpty         mongoerr.Code = 51187
	codeMergeWhenMatchedType mongoerr.Code = 51191
)

// mergeModes lists the whenMatched / whenNotMatched pairs mongod supports.
var mergeModes = map[[2]string]bool{
	{"replace", "insert"}: true, {"replace", "fail"}: true, {"replace", "discard"}: true,
	{"merge", "insert"}: true, {"merge", "fail"}: true, {"merge", "discard"}: true,
	{"keepExisting", "insert"}: true, {"fail", "insert"}: true,
}

// splitWriteStage takes a final $out or $merge off stages; either stage anywhere else is
// refused as mongod does.
func splitWriteStage(db string, stages []bson.Raw) ([]bson.Raw, *writeStage, error) {
	for i, st := range stages {
		el, err := st.IndexErr(0)
		if err != nil {
			continue // the pipeline parser reports malformed stages
		}
		name := el.Key()
		if name != "$out" && name != "$merge" {
			continue
		}
		if i != len(stages)-1 {
			return nil, nil, mongoerr.New(codeNotLastStage, "%s can only be the final stage in the pipeline", name)
		}
		v := el.Value()
		var ws *writeStage
		if name == "$out" {
			ws, err = parseOut(db, v)
		} else {
			ws, err = parseMerge(db, v)
		}
		return stages[:i], ws, err
	}
	return stages, nil, nil
}

func parseOut(db string, v bson.RawValue) (*writeStage, error) {
	ws := &writeStage{name: "$out", db: db}
	switch v.Type {
	case bson.TypeString:
		ws.coll = v.StringValue()
	case bson.TypeEmbeddedDocument:
		doc := bsoncore.Document(v.Value)
		var err error
		if ws.db, err = stringField(doc, "$out", "db", true); err != nil {
			return nil, err
		}
		if ws.coll, err = stringField(doc, "$out", "coll", true); err != nil {
			return nil, err
		}
		if err := knownFields(doc, "$out", "db", "coll", "timeseries"); err != nil {
			return nil, err
		}
		if _, err := doc.LookupErr("timeseries"); err == nil {
			return nil, mongoerr.New(mongoerr.BadValue, "memshard does not support $out to time-series collections")
		}
	default:
		return nil, mongoerr.New(codeOutBadSpec, "$out only supports a string or object argument, but found %s", mongoerr.TypeName(bsoncore.Type(v.Type)))
	}
	return ws, ws.checkTarget()
}

func parseMerge(db string, v bson.RawValue) (*writeStage, error) {
	ws := &writeStage{name: "$merge", db: db, on: []string{"_id"}, whenMatched: "merge", whenNotMatched: "insert"}
	switch v.Type {
	case bson.TypeString:
		ws.coll = v.StringValue()
		return ws, ws.checkTarget()
	case bson.TypeEmbeddedDocument:
	default:
		return nil, mongoerr.New(codeMergeBadSpec, "$merge only supports a string or object argument, not %s", mongoerr.TypeName(bsoncore.Type(v.Type)))
	}
	doc := bsoncore.Document(v.Value)
	if err := knownFields(doc, "$merge", "into", "on", "let", "whenMatched", "whenNotMatched", "targetCollectionVersion"); err != nil {
		return nil, err
	}
	into, err := doc.LookupErr("into")
	switch {
	case err != nil:
		return nil, missingField("$merge.into")
	case into.Type == bsoncore.TypeString:
		ws.coll = into.StringValue()
	case into.Type == bsoncore.TypeEmbeddedDocument:
		nsDoc := into.Document()
		if ws.coll, err = stringField(nsDoc, "$merge.into", "coll", true); err != nil {
			return nil, err
		}
		if d, err := stringField(nsDoc, "$merge.into", "db", false); err != nil {
			return nil, err
		} else if d != "" {
			ws.db = d
		}
	default:
		return nil, mongoerr.WrongType("$merge.into", into.Type, "[string, object]")
	}
	if on, err := doc.LookupErr("on"); err == nil {
		if ws.on, err = parseMergeOn(on); err != nil {
			return nil, err
		}
	}
	if wm, err := doc.LookupErr("whenMatched"); err == nil {
		switch s, ok := wm.StringValueOK(); {
		case wm.Type == bsoncore.TypeArray:
			return nil, mongoerr.New(mongoerr.BadValue, "memshard does not support $merge with a whenMatched pipeline")
		case !ok:
			return nil, mongoerr.New(codeMergeWhenMatchedType, "$merge 'whenMatched' field  must be either a string or an array, but found %s", mongoerr.TypeName(wm.Type))
		case s != "replace" && s != "keepExisting" && s != "merge" && s != "fail":
			return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field '$merge.whenMatched' is not a valid value.", s)
		default:
			ws.whenMatched = s
		}
	}
	if s, err := stringField(doc, "$merge", "whenNotMatched", false); err != nil {
		return nil, err
	} else if s != "" {
		if s != "insert" && s != "discard" && s != "fail" {
			return nil, mongoerr.New(mongoerr.BadValue, "Enumeration value '%s' for field '$merge.whenNotMatched' is not a valid value.", s)
		}
		ws.whenNotMatched = s
	}
	if !mergeModes[[2]string{ws.whenMatched, ws.whenNotMatched}] {
		return nil, mongoerr.New(codeMergeBadModes, "Combination of $merge modes 'whenMatched: %s' and 'whenNotMatched: %s' is not supported",
			ws.whenMatched, ws.whenNotMatched)
	}
	if _, err := doc.LookupErr("let"); err == nil {
		return nil, mongoerr.New(codeMergeLetNeedsPipe, "Cannot use 'let' variables with 'whenMatched: %s' mode", ws.whenMatched)
	}
	return ws, ws.checkTarget()
}

// parseMergeOn reads $merge's on: a field name or an array of distinct field names.
func parseMergeOn(v bsoncore.Value) ([]string, error) {
	if s, ok := v.StringValueOK(); ok {
		return []string{s}, nil
	}
	arr, ok := v.ArrayOK()
	if !ok {
		return nil, mongoerr.New(codeMergeOnType, "$merge 'on' field  must be either a string or an array of strings, but found %s", mongoerr.TypeName(v.Type))
	}
	vals, _ := arr.Values()
	var on []string
	for _, e := range vals {
		s, ok := e.StringValueOK()
		if !ok {
			return nil, mongoerr.New(codeMergeOnElementType, "$merge 'on' array elements must be strings, but found %s", mongoerr.TypeName(e.Type))
		}
		if slices.Contains(on, s) {
			return nil, mongoerr.New(codeMergeDuplicateOn, "Found a duplicate field '%s'", s)
		}
		on = append(on, s)
	}
	if len(on) == 0 {
		return nil, mongoerr.New(codeMergeOnEmpty, "If explicitly specifying $merge 'on', must include at least one field")
	}
	return on, nil
}

// knownFields is the IDL parser's refusal of fields a stage does not define.
func knownFields(doc bsoncore.Document, parent string, known ...string) error {
	elems, _ := doc.Elements()
	for _, e := range elems {
		if !slices.Contains(known, e.Key()) {
			return mongoerr.New(mongoerr.IDLUnknownField, "BSON field '%s.%s' is an unknown field.", parent, e.Key())
		}
	}
	return nil
}

// checkTarget refuses the namespaces mongod does not write aggregation output to.
func (ws *writeStage) checkTarget() error {
	ns := ws.db + "." + ws.coll
	if ws.db == "" || ws.coll == "" || strings.ContainsAny(ws.db, "/\\. \"$\x00") || strings.ContainsRune(ws.coll, 0) || strings.HasPrefix(ws.coll, ".") {
		if ws.name == "$out" {
			return mongoerr.New(mongoerr.InvalidNamespace, "Invalid $out target namespace, %s", ns)
		}
		return mongoerr.New(mongoerr.InvalidNamespace, "Invalid $merge target namespace: '%s'", ns)
	}
	special := strings.HasPrefix(ws.coll, "system.")
	internal := ws.db == "admin" || ws.db == "local" || ws.db == "config"
	switch {
	case special && ws.name == "$out":
		return mongoerr.New(codeOutSpecialColl, "Can't $out to special collection: %s", ws.coll)
	case special:
		return mongoerr.New(codeMergeSpecialColl, "Cannot $merge to special collection: %s", ws.coll)
	case internal && ws.name == "$out":
		return mongoerr.New(codeOutInternalDB, "Can't $out to internal database: %s", ws.db)
	case internal:
		return mongoerr.New(codeMergeInternalDB, "Cannot $merge to internal database: %s", ws.db)
	}
	return nil
}

// runWriteStage writes the pipeline's output docs.
func (r *request) runWriteStage(ws *writeStage, docs []bson.Raw) error {
	if r.txn != nil {
		return mongoerr.New(mongoerr.OperationNotSupportedInTransaction, "%s cannot be used in a transaction", ws.name)
	}
	var err error
	if ws.name == "$out" {
		err = r.write(func(s *store) error {
			if err := s.replaceColl(ws.db, ws.coll, docs); err != nil {
				return err
			}
			r.wrote(s)
			return nil
		})
	} else {
		err = r.merge(ws, docs)
	}
	if err == nil && r.wce == nil {
		r.wce = r.unsatisfiableWriteConcern()
	}
	return err
}

// replaceColl is $out's atomic replacement of a collection by docs: the target keeps its
// indexes, and a duplicate _id leaves it as it was. Callers hold mu exclusively.
func (s *store) replaceColl(db, name string, docs []bson.Raw) error {
	old := s.dbs[db][name]
	c := &collection{db: db, name: name, byID: map[string]*doc{}, cs: newCollStream()}
	if old != nil {
		if old.pending != nil {
			return &blockedError{old.pending}
		}
		for _, d := range old.docs {
			if d.lock != nil {
				return &blockedError{d.lock} // mongod's rename waits for the transactions writing the target
			}
		}
		for _, ix := range old.indexes {
			fresh, err := newIndex(ix.spec)
			if err != nil {
				return err
			}
			c.indexes = append(c.indexes, fresh)
		}
	} else {
		c.indexes = []*index{newIDIndex()}
	}
	raws := make([]bson.Raw, len(docs))
	for i, d := range docs {
		raw, err := query.IDFirst(d)
		if err != nil {
			return err
		}
		id := raw.Lookup("_id")
		key := query.IndexKey(id)
		if c.byID[key] != nil {
			return dupKeyError(c.ns(), id)
		}
		c.records++
		c.newSlot(key).rid, raws[i] = c.records, raw
	}
	writes := make([]pendingWrite, len(raws))
	for i, raw := range raws {
		writes[i] = pendingWrite{raw: raw}
	}
	if err := c.checkWrites(nil, writes); err != nil {
		return err
	}
	s.stamp()
	for i, d := range c.docs {
		s.commitDoc(c, d, raws[i])
	}
	if old != nil {
		s.dropColl(old)
	}
	if s.dbs[db] == nil {
		s.dbs[db] = map[string]*collection{}
	}
	s.dbs[db][name] = c
	return nil
}

// merge is $merge: each output document, identified by its on fields, updates its match or is
// inserted, as whenMatched and whenNotMatched say. Like mongod's, it is not atomic: documents
// written before an error stay.
func (r *request) merge(ws *writeStage, docs []bson.Raw) error {
	s := r.m.rs.store
	s.mu.RLock()
	index, unique := s.coll(ws.db, ws.coll, nil).uniqueIndex(ws.on)
	s.mu.RUnlock()
	if !unique {
		return mongoerr.New(codeMergeNoUniqueIndex, "Cannot find index to verify that join fields will be unique")
	}
	for _, d := range docs {
		d, q, vals, err := mergeKey(d, ws.on)
		if err != nil {
			return err
		}
		var update bson.Raw
		switch ws.whenMatched {
		case "replace":
			update = d
		case "merge":
			update = wrapDoc("$set", d)
		default: // keepExisting and fail never change a match
			update = wrapDoc("$setOnInsert", d)
		}
		u, err := mergeStmt(q, update, ws.whenNotMatched == "insert")
		if err != nil {
			return err
		}
		res, err := r.applyUpdate(ws.db, ws.coll, u)
		switch e := mongoerr.As(err); {
		case e != nil && e.Code == mongoerr.ImmutableField:
			return mongoerr.New(e.Code, "$merge failed to update the matching document, did you attempt to modify the _id or the shard key? :: caused by :: %s", e.Msg)
		case err != nil:
			return err
		case res.n == 0 && ws.whenNotMatched == "fail":
			return mongoerr.New(codeMergeNoMatch, "$merge could not find a matching document in the target collection for at least one document in the source collection")
		case res.n > 0 && res.upserted.Type == 0 && ws.whenMatched == "fail":
			return uniqueKeyError(ws.db+"."+ws.coll, index, ws.on, vals)
		}
	}
	return nil
}

// mergeKey returns d (with an _id generated when on needs one), the filter that finds its
// match, and its on values.
func mergeKey(d bson.Raw, on []string) (bson.Raw, bson.Raw, []bson.RawValue, error) {
	if _, err := d.LookupErr("_id"); err != nil && slices.Contains(on, "_id") {
		var gen error
		if d, gen = query.IDFirst(d); gen != nil {
			return nil, nil, nil, gen
		}
	}
	vals := make([]bson.RawValue, len(on))
	q := bsoncore.NewDocumentBuilder()
	for i, f := range on {
		v, err := d.LookupErr(strings.Split(f, ".")...)
		switch {
		case err != nil || v.Type == bson.TypeNull || v.Type == bson.TypeUndefined:
			return nil, nil, nil, mongoerr.New(codeMergeOnNullish, "$merge write error: 'on' field cannot be missing, null, undefined or an array")
		case v.Type == bson.TypeArray:
			return nil, nil, nil, mongoerr.New(codeMergeOnArray, "$merge write error: 'on' field cannot be missing, null, undefined or an array")
		}
		vals[i] = v
		q.AppendDocument(f, bsoncore.NewDocumentBuilder().AppendValue("$eq", bsoncore.Value{Type: bsoncore.Type(v.Type), Data: v.Value}).Build())
	}
	return d, bson.Raw(q.Build()), vals, nil
}

// mergeStmt is the update statement $merge runs for one output document.
func mergeStmt(q, update bson.Raw, upsert bool) (*updateStmt, error) {
	f, err := query.NewFilter(q)
	if err != nil {
		return nil, err
	}
	u, err := query.NewUpdate(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: update})
	if err != nil {
		return nil, err
	}
	return &updateStmt{q: querySpec{filter: f}, query: q, update: u, upsert: upsert}, nil
}

func wrapDoc(key string, d bson.Raw) bson.Raw {
	return bson.Raw(bsoncore.NewDocumentBuilder().AppendDocument(key, d).Build())
}

// uniqueIndex finds the unique index whose key is exactly fields (in any order): the _id index
// or one createIndexes made with unique: true.
func (c *collection) uniqueIndex(fields []string) (string, bool) {
	if slices.Equal(fields, []string{"_id"}) {
		return "_id_", true
	}
	if c == nil {
		return "", false
	}
	for _, ix := range c.indexes {
		if ix.unique && ix.btree() && len(ix.fields) == len(fields) &&
			!slices.ContainsFunc(ix.fields, func(f string) bool { return !slices.Contains(fields, f) }) {
			return ix.name, true
		}
	}
	return "", false
}
