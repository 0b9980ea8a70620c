package router

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/query"
	"github.com/mongos-lite/mongos-lite/topology"
)

// Write targeting on a collection sharded on a hashed key, as mongos targets writes
// (collection_routing_info_targeter.cpp, cluster_find_and_modify_cmd.cpp), with the rules mongos
// had before its two-phase protocol for single writes without the shard key
// (write_without_shard_key_util.cpp, 7.1): that protocol reads every shard and writes one in a
// transaction across shards, which plain replica sets cannot run. So a single update or delete
// must pin the shard key or be an exact _id match (sent to every shard, where _id finds at most
// the one document), and an upsert or a findAndModify must pin the shard key. Each function
// returns the shards a statement goes to, so a transaction's code can use them too.

// shardKeyPattern prints the shard key as mongos prints a ShardKeyPattern.
func shardKeyPattern(rt *topology.Routing) string {
	return auth.BSONText(bsoncore.NewDocumentBuilder().AppendString(rt.Key, "hashed").Build())
}

// insertTarget is the shard a document belongs on: the owner of its shard key's hash, a missing
// key hashing as null (shard_key_pattern.cpp extractShardKeyFromDoc).
func insertTarget(rt *topology.Routing, doc bsoncore.Document) (int, error) {
	v, err := shardKeyOfDoc(doc, rt.Key)
	if err != nil {
		return 0, err
	}
	return ownerOf(rt, v)
}

func ownerOf(rt *topology.Routing, v bsoncore.Value) (int, error) {
	h, err := hashkey.Hash(v)
	if err != nil {
		return 0, err
	}
	return rt.ShardOf(h), nil
}

var nullValue = bsoncore.Value{Type: bsoncore.TypeNull}

// shardKeyOfDoc is the value of the (possibly dotted) key in doc; null when it is missing. A key
// inside or holding an array is refused, as mongos refuses it.
func shardKeyOfDoc(doc bsoncore.Document, key string) (bsoncore.Value, error) {
	cur := doc
	path := strings.Split(key, ".")
	for i, part := range path {
		v, ok := bsonview.Lookup(cur, part)
		if !ok {
			return nullValue, nil
		}
		if v.Type == bsoncore.TypeArray {
			return bsoncore.Value{}, mongoerr.New(mongoerr.ShardKeyNotFound, "Shard key cannot contain array values or array descendants.")
		}
		if i == len(path)-1 {
			return v, nil
		}
		sub, ok := v.DocumentOK()
		if !ok {
			return nullValue, nil
		}
		cur = sub
	}
	return nullValue, nil
}

// exactValue is the value filter pins field to by an equality, as mongos's
// extractShardKeyFromBasicQuery finds one: {field: v} (v neither an operator document, a regular
// expression nor an array) or {field: {$eq: v}}, at the top level or in a top-level $and.
func exactValue(filter bsoncore.Document, field string) (bsoncore.Value, bool) {
	if v, ok := bsonview.Lookup(filter, field); ok {
		return equalityOf(v)
	}
	and, ok := bsonview.Lookup(filter, "$and")
	clauses, isArray := and.ArrayOK()
	if !ok || !isArray {
		return bsoncore.Value{}, false
	}
	var found bsoncore.Value
	pinned := false
	bsonview.Each(bsoncore.Document(clauses), func(el bsoncore.Element) bool {
		clause, _ := el.Value().DocumentOK()
		found, pinned = exactValue(clause, field)
		return !pinned
	})
	return found, pinned
}

func equalityOf(v bsoncore.Value) (bsoncore.Value, bool) {
	if doc, ok := v.DocumentOK(); ok {
		first, err := doc.IndexErr(0)
		if err != nil || !strings.HasPrefix(first.Key(), "$") {
			return v, true
		}
		elems, _ := doc.Elements()
		if len(elems) != 1 || first.Key() != "$eq" {
			return bsoncore.Value{}, false
		}
		v = first.Value()
	}
	switch v.Type {
	case bsoncore.TypeArray:
		return bsoncore.Value{}, false
	case bsoncore.TypeRegex:
		// A regular expression matches strings; only {$eq: /re/} compares it as a value.
		return v, false
	}
	return v, true
}

// keyTarget is the shard of the value filter pins the shard key to, if it pins one that a
// write may be targeted by: under a collation that is not simple, equal strings may hash apart.
func keyTarget(rt *topology.Routing, filter bsoncore.Document, simple bool) (int, bsoncore.Value, bool) {
	v, ok := exactValue(filter, rt.Key)
	if !ok || !simple && hasCollatable(v) {
		return 0, bsoncore.Value{}, false
	}
	shard, err := ownerOf(rt, v)
	return shard, v, err == nil
}

// exactID reports an exact match on _id (CollectionRoutingInfoTargeter::isExactIdQuery).
func exactID(filter bsoncore.Document, simple bool) bool {
	v, ok := exactValue(filter, "_id")
	return ok && (simple || !hasCollatable(v))
}

// hasCollatable reports a value a collation compares: a string, or one inside it.
func hasCollatable(v bsoncore.Value) bool {
	switch v.Type {
	case bsoncore.TypeString, bsoncore.TypeSymbol:
		return true
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		found := false
		bsonview.Each(bsoncore.Document(v.Data), func(el bsoncore.Element) bool {
			found = hasCollatable(el.Value())
			return !found
		})
		return found
	}
	return false
}

// simpleCollationOf reports whether a statement's collation compares strings bytewise.
func simpleCollationOf(stmt bsoncore.Document) bool {
	coll, _ := stmt.Lookup("collation").DocumentOK()
	return simpleCollation(coll)
}

// updateTargets are the shards an update statement goes to.
func updateTargets(rt *topology.Routing, stmt bsoncore.Document) ([]int, error) {
	q, _ := stmt.Lookup("q").DocumentOK()
	u := stmt.Lookup("u")
	multi, upsert := flag(stmt, "multi"), flag(stmt, "upsert")
	simple := simpleCollationOf(stmt)
	shard, key, exact := keyTarget(rt, q, simple)
	if err := checkKeyKept(rt, u, key, exact, multi); err != nil {
		return nil, err
	}
	switch {
	case exact:
		return []int{shard}, nil
	case upsert:
		return nil, mongoerr.New(mongoerr.ShardKeyNotFound, "Failed to target upsert by query :: could not extract exact shard key")
	case multi:
		return rt.Shards(), nil
	}
	if replacement, ok := u.DocumentOK(); ok && !isModifierDoc(replacement) {
		// A replacement is targeted by its own shard key (missing: null), the _id of an exact _id
		// query standing in for a missing one.
		target, err := insertTarget(rt, replacement)
		if err != nil {
			return nil, mongoerr.New(mongoerr.ShardKeyNotFound, "Failed to target update by replacement document :: %s", mongoerr.As(err).Msg)
		}
		return []int{target}, nil
	}
	if exactID(q, simple) {
		return rt.Shards(), nil
	}
	return nil, mongoerr.New(mongoerr.InvalidOptions,
		"A {multi:false} update on a sharded collection must contain an exact match on _id (and have the "+
			"collection default collation) or target a single shard (and have the simple collation), but this "+
			"update targeted %d shards. Update request: %s, shard key pattern: %s",
		len(rt.Shards()), auth.BSONText(stmt), shardKeyPattern(rt))
}

// deleteTargets are the shards a delete statement goes to.
func deleteTargets(rt *topology.Routing, stmt bsoncore.Document) ([]int, error) {
	q, _ := stmt.Lookup("q").DocumentOK()
	simple := simpleCollationOf(stmt)
	if shard, _, exact := keyTarget(rt, q, simple); exact {
		return []int{shard}, nil
	}
	limit, _ := stmt.Lookup("limit").AsInt64OK()
	if limit == 0 || exactID(q, simple) {
		return rt.Shards(), nil
	}
	return nil, mongoerr.New(mongoerr.ShardKeyNotFound,
		"A single delete on a sharded collection must contain an exact match on _id (and have the collection "+
			"default collation) or contain the shard key (and have the simple collation). Delete request: %s, "+
			"shard key pattern: %s", auth.BSONText(stmt), shardKeyPattern(rt))
}

// findAndModifyTarget is the shard a findAndModify goes to: its query must pin the shard key
// (cluster_find_and_modify_cmd.cpp), and its update must keep it.
func findAndModifyTarget(rt *topology.Routing, body bsoncore.Document) (int, error) {
	q, _ := body.Lookup("query").DocumentOK()
	shard, key, exact := keyTarget(rt, q, simpleCollationOf(body))
	if !exact {
		return 0, mongoerr.New(mongoerr.ShardKeyNotFound, "Query for sharded findAndModify must contain the shard key")
	}
	if u, ok := body.LookupErr("update"); ok == nil {
		if err := checkKeyKept(rt, u, key, true, false); err != nil {
			return 0, err
		}
	}
	return shard, nil
}

// flag reads an optional flag by its truth value (trueValue); absent is false. A flag of the
// wrong type is the shard's to refuse.
func flag(doc bsoncore.Document, key string) bool {
	v, err := doc.LookupErr(key)
	return err == nil && trueValue(v)
}

// isModifierDoc reports an update document of $-operators (not a replacement).
func isModifierDoc(u bsoncore.Document) bool {
	first, err := u.IndexErr(0)
	return err == nil && strings.HasPrefix(first.Key(), "$")
}

// checkKeyKept refuses an update that may change a document's shard key: a document never
// changes shards in mongos-lite (chunks never move, and a document moved between shards needs
// a transaction across them). What the update does to the key is read from the update itself:
// a modifier on the key's path (or a parent or a child of it), a replacement with another key
// than the query pins, a pipeline stage that may rewrite it. Setting the key to the value the query pins is no
// change, as mongod counts it. The errors are mongod's for an update of the shard key
// (update_stage.cpp) and of an immutable field (update/storage_validation.cpp).
func checkKeyKept(rt *topology.Routing, u bsoncore.Value, pinned bsoncore.Value, exact, multi bool) error {
	changed := ""
	switch u.Type {
	case bsoncore.TypeEmbeddedDocument:
		doc := u.Document()
		if isModifierDoc(doc) {
			changed = modifierTouchesKey(doc, rt.Key, pinned, exact)
		} else if exact && !sameValue(doc, rt.Key, pinned) {
			// Without the key in the query, a replacement goes to its own key's shard, so the
			// document it replaces there stays where it belongs.
			changed = rt.Key
		}
	case bsoncore.TypeArray:
		changed = pipelineTouchesKey(bsoncore.Document(u.Data), rt.Key)
	}
	switch {
	case changed == "":
		return nil
	case multi:
		return mongoerr.New(mongoerr.InvalidOptions, "Multi-update operations are not allowed when updating the shard key field.")
	case !exact:
		return mongoerr.New(31025, "Shard key update is not allowed without specifying the full shard key in the query")
	}
	return mongoerr.New(mongoerr.ImmutableField,
		"Performing an update on the path '%s' would modify the immutable field '%s': a document's shard key "+
			"value cannot change in mongos-lite, whose documents never move between shards", changed, rt.Key)
}

// sameValue reports whether doc holds pinned at key (a replacement that keeps the key).
func sameValue(doc bsoncore.Document, key string, pinned bsoncore.Value) bool {
	v, err := shardKeyOfDoc(doc, key)
	return err == nil && query.Compare(rawValue(v), rawValue(pinned)) == 0 && v.Type == pinned.Type
}

func rawValue(v bsoncore.Value) bson.RawValue {
	return bson.RawValue{Type: bson.Type(v.Type), Value: v.Data}
}

// touches reports whether an update of path reaches key: the same path, a parent, or a child.
func touches(path, key string) bool {
	return path == key || strings.HasPrefix(key, path+".") || strings.HasPrefix(path, key+".")
}

// modifierTouchesKey is the first path of a modifier update that reaches the key, "" if none
// does. $set and $setOnInsert of the key to the pinned value change nothing.
func modifierTouchesKey(u bsoncore.Document, key string, pinned bsoncore.Value, exact bool) string {
	hit := ""
	bsonview.Each(u, func(op bsoncore.Element) bool {
		fields, ok := op.Value().DocumentOK()
		if !ok {
			return true
		}
		bsonview.Each(fields, func(f bsoncore.Element) bool {
			paths := []string{f.Key()}
			if op.Key() == "$rename" {
				to, _ := f.Value().StringValueOK()
				paths = append(paths, to)
			}
			for _, p := range paths {
				if !touches(p, key) {
					continue
				}
				keep := (op.Key() == "$set" || op.Key() == "$setOnInsert") && p == key && exact &&
					query.Compare(rawValue(f.Value()), rawValue(pinned)) == 0 && f.Value().Type == pinned.Type
				if !keep {
					hit = p
					return false
				}
			}
			return true
		})
		return hit == ""
	})
	return hit
}

// pipelineTouchesKey is what an update pipeline's stages may do to the key: "" when none can
// reach it ($set, $addFields and $unset of other paths), else the stage's path or name.
func pipelineTouchesKey(stages bsoncore.Document, key string) string {
	hit := ""
	bsonview.Each(stages, func(el bsoncore.Element) bool {
		stage, _ := el.Value().DocumentOK()
		first, err := stage.IndexErr(0)
		if err != nil {
			return true
		}
		switch first.Key() {
		case "$set", "$addFields":
			spec, _ := first.Value().DocumentOK()
			bsonview.Each(spec, func(f bsoncore.Element) bool {
				if touches(f.Key(), key) {
					hit = f.Key()
				}
				return hit == ""
			})
		case "$unset":
			v := first.Value()
			names := []bsoncore.Value{v}
			if arr, ok := v.ArrayOK(); ok {
				names, _ = arr.Values()
			}
			for _, n := range names {
				if s, _ := n.StringValueOK(); touches(s, key) {
					hit = s
				}
			}
		default:
			hit = fmt.Sprintf("%s (a %s stage may rewrite any field)", key, first.Key())
		}
		return hit == ""
	})
	return hit
}
