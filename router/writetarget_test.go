package router

import (
	"errors"
	"math"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/hashkey"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/topology"
)

// fourShards is a table sharded on {k: "hashed"}, a quarter of the hash space per shard.
var fourShards = &topology.Routing{NS: "d.c", Sharded: true, Key: "k", Chunks: []topology.Chunk{
	{Min: math.MinInt64, Shard: 0}, {Min: math.MinInt64 / 2, Shard: 1}, {Min: 0, Shard: 2}, {Min: math.MaxInt64 / 2, Shard: 3}}}

func ext(t *testing.T, s string) bsoncore.Document {
	t.Helper()
	var d bson.D
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// shardOfValue is the shard of k's hash in fourShards.
func shardOfValue(t *testing.T, x any) int {
	t.Helper()
	typ, data, err := bson.MarshalValue(x)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hashkey.Hash(bsoncore.Value{Type: bsoncore.Type(typ), Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return fourShards.ShardOf(h)
}

func TestExactValue(t *testing.T) {
	for _, tc := range []struct {
		filter string
		want   any // nil: not pinned
	}{
		{`{"k": 5}`, int32(5)},
		{`{"k": {"$eq": "x"}}`, "x"},
		{`{"a": 1, "$and": [{"b": 2}, {"k": 7}]}`, int32(7)},
		{`{"k": {"sub": 1}}`, bson.D{{Key: "sub", Value: int32(1)}}},
		{`{"k": null}`, "null"},
		{`{"k": {"$in": [1, 2]}}`, nil},
		{`{"k": {"$gt": 1}}`, nil},
		{`{"k": {"$regularExpression": {"pattern": "^a", "options": ""}}}`, nil},
		{`{"k": [1, 2]}`, nil},
		{`{"$or": [{"k": 1}, {"k": 2}]}`, nil},
		{`{"a": 1}`, nil},
	} {
		v, ok := exactValue(ext(t, tc.filter), "k")
		switch {
		case tc.want == nil && ok:
			t.Errorf("%s pins %v", tc.filter, v)
		case tc.want == "null" && (!ok || v.Type != bsoncore.TypeNull):
			t.Errorf("%s: %v %v, want null", tc.filter, v, ok)
		case tc.want != nil && tc.want != "null":
			typ, data, _ := bson.MarshalValue(tc.want)
			if !ok || v.Type != bsoncore.Type(typ) || string(v.Data) != string(data) {
				t.Errorf("%s: %v %v, want %v", tc.filter, v, ok, tc.want)
			}
		}
	}
}

func TestWriteTargets(t *testing.T) {
	all := []int{0, 1, 2, 3}
	for _, tc := range []struct {
		name string
		kind func(*topology.Routing, bsoncore.Document) ([]int, error)
		stmt string
		want []int
		code mongoerr.Code
	}{
		{"update by key", updateTargets, `{"q": {"k": 5}, "u": {"$set": {"x": 1}}}`, []int{shardOfValue(t, int32(5))}, 0},
		{"update by key, $in", updateTargets, `{"q": {"k": {"$in": [1, 2]}}, "u": {"$set": {"x": 1}}}`, nil, mongoerr.InvalidOptions},
		{"multi update", updateTargets, `{"q": {"x": 1}, "u": {"$set": {"y": 1}}, "multi": true}`, all, 0},
		{"update by _id", updateTargets, `{"q": {"_id": 3}, "u": {"$set": {"y": 1}}}`, all, 0},
		{"update by _id, collation", updateTargets, `{"q": {"_id": "a"}, "u": {"$set": {"y": 1}}, "collation": {"locale": "fr"}}`, nil, mongoerr.InvalidOptions},
		{"replacement by its key", updateTargets, `{"q": {"x": 1}, "u": {"k": 9, "x": 2}}`, []int{shardOfValue(t, int32(9))}, 0},
		{"upsert without key", updateTargets, `{"q": {"_id": 1}, "u": {"$set": {"y": 1}}, "upsert": true}`, nil, mongoerr.ShardKeyNotFound},
		{"upsert by key", updateTargets, `{"q": {"k": 1}, "u": {"$set": {"y": 1}}, "upsert": true}`, []int{shardOfValue(t, int32(1))}, 0},
		{"key string, collation", updateTargets, `{"q": {"k": "a"}, "u": {"$set": {"y": 1}}, "collation": {"locale": "fr"}}`, nil, mongoerr.InvalidOptions},
		{"key changed", updateTargets, `{"q": {"k": 1}, "u": {"$set": {"k": 2}}}`, nil, mongoerr.ImmutableField},
		{"key set to its value", updateTargets, `{"q": {"k": 1}, "u": {"$set": {"k": 1}}}`, []int{shardOfValue(t, int32(1))}, 0},
		{"key's parent set", updateTargets, `{"q": {"k": 1}, "u": {"$unset": {"k": ""}}}`, nil, mongoerr.ImmutableField},
		{"key renamed onto", updateTargets, `{"q": {"k": 1}, "u": {"$rename": {"x": "k"}}}`, nil, mongoerr.ImmutableField},
		{"key changed, multi", updateTargets, `{"q": {}, "u": {"$inc": {"k": 1}}, "multi": true}`, nil, mongoerr.InvalidOptions},
		{"key changed, no key", updateTargets, `{"q": {"_id": 1}, "u": {"$set": {"k": 1}}}`, nil, 31025},
		{"replacement keeps key", updateTargets, `{"q": {"k": 1}, "u": {"k": 1, "x": 3}}`, []int{shardOfValue(t, int32(1))}, 0},
		{"replacement drops key", updateTargets, `{"q": {"k": 1}, "u": {"x": 3}}`, nil, mongoerr.ImmutableField},
		{"pipeline elsewhere", updateTargets, `{"q": {"k": 1}, "u": [{"$set": {"x": 1}}, {"$unset": ["y"]}]}`, []int{shardOfValue(t, int32(1))}, 0},
		{"pipeline on key", updateTargets, `{"q": {"k": 1}, "u": [{"$set": {"k": 5}}]}`, nil, mongoerr.ImmutableField},
		{"pipeline replaceWith", updateTargets, `{"q": {"k": 1}, "u": [{"$replaceWith": {"a": 1}}]}`, nil, mongoerr.ImmutableField},
		{"delete by key", deleteTargets, `{"q": {"k": 5}, "limit": 1}`, []int{shardOfValue(t, int32(5))}, 0},
		{"delete many", deleteTargets, `{"q": {"x": 5}, "limit": 0}`, all, 0},
		{"delete by _id", deleteTargets, `{"q": {"_id": 5}, "limit": 1}`, all, 0},
		{"delete one without key", deleteTargets, `{"q": {"x": 5}, "limit": 1}`, nil, mongoerr.ShardKeyNotFound},
		{"insert", insertKind.target, `{"_id": 1, "k": 5}`, []int{shardOfValue(t, int32(5))}, 0},
		{"insert without key", insertKind.target, `{"_id": 1}`, []int{shardOfValue(t, bson.Null{})}, 0},
		{"insert with an array key", insertKind.target, `{"k": [1]}`, nil, mongoerr.ShardKeyNotFound},
	} {
		got, err := tc.kind(fourShards, ext(t, tc.stmt))
		var me *mongoerr.Error
		switch {
		case tc.code != 0 && (!errors.As(err, &me) || me.Code != tc.code):
			t.Errorf("%s: %v %v, want code %d", tc.name, got, err, tc.code)
		case tc.code == 0 && (err != nil || !slices.Equal(got, tc.want)):
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestFindAndModifyTarget(t *testing.T) {
	if got, err := findAndModifyTarget(fourShards, ext(t, `{"findAndModify": "c", "query": {"k": 3}, "update": {"$set": {"x": 1}}}`)); err != nil || got != shardOfValue(t, int32(3)) {
		t.Fatalf("by key: %d %v", got, err)
	}
	for _, body := range []string{
		`{"findAndModify": "c", "query": {"_id": 3}, "update": {"$set": {"x": 1}}}`,
		`{"findAndModify": "c", "query": {"x": 3}, "remove": true}`,
		`{"findAndModify": "c", "query": {"k": 3}, "update": {"$set": {"k": 4}}}`,
	} {
		if _, err := findAndModifyTarget(fourShards, ext(t, body)); err == nil {
			t.Errorf("%s was targeted", body)
		}
	}
}

func TestShardKeyOfDottedPath(t *testing.T) {
	for _, tc := range []struct {
		doc     string
		null    bool
		refused bool
	}{
		{`{"a": {"b": 1}}`, false, false},
		{`{"a": 1}`, true, false},
		{`{}`, true, false},
		{`{"a": [{"b": 1}]}`, false, true},
		{`{"a": {"b": [1]}}`, false, true},
	} {
		v, err := shardKeyOfDoc(ext(t, tc.doc), "a.b")
		if tc.refused != (err != nil) || !tc.refused && tc.null != (v.Type == bsoncore.TypeNull) {
			t.Errorf("%s: %v %v", tc.doc, v, err)
		}
	}
}
