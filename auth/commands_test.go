package auth

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// commandOf is body as the router parses it, without document sequences; an empty or invalid
// body has no name.
func commandOf(db string, body bsoncore.Document, seqs ...wire.Sequence) *command.Command {
	c := &command.Command{DB: []byte(db), Body: body, Sequences: seqs}
	if first, err := body.IndexErr(0); err == nil {
		c.Name = first.KeyBytes()
	}
	return c
}

// ejson is a command written as relaxed extended JSON, keys in order.
func ejson(t *testing.T, s string) bsoncore.Document {
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

func TestAuthorize(t *testing.T) {
	testDB, anyColl := "test", ""
	roles := []RoleDef{{Role: "sessionKiller", DB: "admin", Privileges: []PrivilegeSpec{
		{Resource: ResourceSpec{Cluster: true}, Actions: []string{"killAnySession"}}}},
		{Role: "statsOnly", DB: "admin", Privileges: []PrivilegeSpec{
			{Resource: ResourceSpec{DB: &testDB, Collection: &anyColl}, Actions: []string{"collStats"}}}}}
	users := usersFrom(t, roles,
		testEntry{user: "reader", db: "test", password: "p", roles: []RoleRef{{"read", "test"}}},
		testEntry{user: "writer", db: "test", password: "p", roles: []RoleRef{{"readWrite", "test"}}},
		testEntry{user: "root", db: "admin", password: "p", roles: []RoleRef{{"root", "admin"}}},
		testEntry{user: "killer", db: "admin", password: "p", roles: []RoleRef{{"sessionKiller", "admin"}}},
		testEntry{user: "stats", db: "admin", password: "p", roles: []RoleRef{{"statsOnly", "admin"}}},
	)
	internal, err := InternalUser("0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	reader, writer, root, killer := users.Lookup("reader", "test"), users.Lookup("writer", "test"),
		users.Lookup("root", "admin"), users.Lookup("killer", "admin")
	stats := users.Lookup("stats", "admin")
	notAuthorized := func(db, text string) error {
		return mongoerr.New(mongoerr.Unauthorized, "not authorized on %s to execute command %s", db, text)
	}
	tests := []struct {
		name string
		user *User
		db   string
		cmd  string
		want error
	}{
		{"hello before authentication", nil, "admin", `{"hello": 1}`, nil},
		{"saslStart before authentication", nil, "admin", `{"saslStart": 1}`, nil},
		{"ping before authentication", nil, "admin", `{"ping": 1}`, nil},
		{"buildInfo before authentication", nil, "admin", `{"buildInfo": 1}`, nil},
		{"find before authentication", nil, "test", `{"find": "c"}`,
			mongoerr.New(mongoerr.Unauthorized, "command find requires authentication")},
		{"startSession before authentication", nil, "admin", `{"startSession": 1}`,
			mongoerr.New(mongoerr.Unauthorized, "command startSession requires authentication")},
		{"endSessions before authentication", nil, "admin", `{"endSessions": []}`,
			mongoerr.New(mongoerr.Unauthorized, "command endSessions requires authentication")},
		{"unknown command before authentication", nil, "admin", `{"frobnicate": 1}`,
			mongoerr.New(mongoerr.Unauthorized, "command frobnicate requires authentication")},
		{"reader finds", reader, "test", `{"find": "c", "filter": {}}`, nil},
		{"reader counts", reader, "test", `{"count": "c"}`, nil},
		{"reader getMore", reader, "test", `{"getMore": {"$numberLong": "5"}, "collection": "c"}`, nil},
		// A cursor is its owner's wherever it reads: the router checks ownership per cursor.
		{"reader getMore elsewhere", reader, "other", `{"getMore": {"$numberLong": "5"}, "collection": "c", "$db": "other"}`, nil},
		{"reader getMore with a term", reader, "test", `{"getMore": {"$numberLong": "5"}, "collection": "c", "term": {"$numberLong": "1"}}`,
			notAuthorized("test", `{ getMore: 5, collection: "c", term: 1 }`)},
		{"reader finds elsewhere", reader, "other", `{"find": "c", "$db": "other"}`,
			notAuthorized("other", `{ find: "c", $db: "other" }`)},
		{"reader inserts", reader, "test", `{"insert": "c", "documents": [{"_id": 1}], "ordered": true, "$db": "test"}`,
			notAuthorized("test", `{ insert: "c", documents: [ { _id: 1 } ], ordered: true, $db: "test" }`)},
		{"writer inserts", writer, "test", `{"insert": "c", "documents": []}`, nil},
		{"writer bypasses validation", writer, "test", `{"insert": "c", "bypassDocumentValidation": true}`,
			notAuthorized("test", `{ insert: "c", bypassDocumentValidation: true }`)},
		{"writer upserts", writer, "test", `{"update": "c", "updates": [{"q": {}, "u": {}, "upsert": true}]}`, nil},
		{"reader upserts", reader, "test", `{"update": "c", "updates": [{"q": {}, "u": {}, "upsert": true}]}`,
			notAuthorized("test", `{ update: "c", updates: [ { q: {}, u: {}, upsert: true } ] }`)},
		{"writer findAndModify remove", writer, "test", `{"findAndModify": "c", "remove": true}`, nil},
		{"writer drops the database", writer, "test", `{"dropDatabase": 1}`,
			notAuthorized("test", `{ dropDatabase: 1 }`)},
		{"writer creates", writer, "test", `{"create": "c"}`, nil},
		// readWrite holds renameCollectionSameDB; root holds the actions on every database.
		{"writer renames within its database", writer, "admin", `{"renameCollection": "test.a", "to": "test.b"}`, nil},
		{"writer renames into another database", writer, "admin", `{"renameCollection": "test.a", "to": "other.b"}`,
			notAuthorized("admin", `{ renameCollection: "test.a", to: "other.b" }`)},
		{"reader renames", reader, "admin", `{"renameCollection": "test.a", "to": "test.b"}`,
			notAuthorized("admin", `{ renameCollection: "test.a", to: "test.b" }`)},
		{"root renames across databases dropping the target", root, "admin", `{"renameCollection": "test.a", "to": "other.b", "dropTarget": 1}`, nil},
		{"rename with a number", root, "admin", `{"renameCollection": 1, "to": "test.b"}`,
			mongoerr.New(mongoerr.TypeMismatch, "'renameCollection' must be of type String")},
		{"writer bulkWrite", writer, "admin", `{"bulkWrite": 1, "ops": [{"insert": 0, "document": {}}, {"delete": 0, "filter": {}}], "nsInfo": [{"ns": "test.c"}]}`, nil},
		{"reader bulkWrite", reader, "admin", `{"bulkWrite": 1, "ops": [{"insert": 0, "document": {}}], "nsInfo": [{"ns": "test.c"}]}`,
			notAuthorized("admin", `{ bulkWrite: 1, ops: [ { insert: 0, document: {} } ], nsInfo: [ { ns: "test.c" } ] }`)},
		{"reader explains a find", reader, "test", `{"explain": {"find": "c"}}`, nil},
		{"reader explains a delete", reader, "test", `{"explain": {"delete": "c", "deletes": []}}`,
			notAuthorized("test", `{ explain: { delete: "c", deletes: [] } }`)},
		{"reader aggregates", reader, "test", `{"aggregate": "c", "pipeline": [{"$match": {}}]}`, nil},
		{"reader $lookup elsewhere is fine in the same database", reader, "test",
			`{"aggregate": "c", "pipeline": [{"$lookup": {"from": "d"}}]}`, nil},
		{"reader $out", reader, "test", `{"aggregate": "c", "pipeline": [{"$out": "d"}]}`,
			notAuthorized("test", `{ aggregate: "c", pipeline: [ { $out: "d" } ] }`)},
		{"writer $merge into another database", writer, "test", `{"aggregate": "c", "pipeline": [{"$merge": {"into": {"db": "x", "coll": "y"}}}]}`,
			notAuthorized("test", `{ aggregate: "c", pipeline: [ { $merge: { into: { db: "x", coll: "y" } } } ] }`)},
		{"reader $unionWith in a $facet elsewhere", reader, "test", `{"aggregate": "c", "pipeline": [{"$facet": {"a": [{"$unionWith": {"coll": "d", "pipeline": [{"$lookup": {"from": {"db": "x", "coll": "y"}}}]}}]}}]}`,
			notAuthorized("test", `{ aggregate: "c", pipeline: [ { $facet: { a: [ { $unionWith: { coll: "d", pipeline: [ { $lookup: { from: { db: "x", coll: "y" } } } ] } } ] } } ] }`)},
		{"own $listLocalSessions", reader, "admin", `{"aggregate": 1, "pipeline": [{"$listLocalSessions": {}}]}`, nil},
		{"own user listed", reader, "admin", `{"aggregate": 1, "pipeline": [{"$listLocalSessions": {"users": [{"user": "reader", "db": "test"}]}}]}`, nil},
		{"$listLocalSessions of all users", reader, "admin", `{"aggregate": 1, "pipeline": [{"$listLocalSessions": {"allUsers": true}}]}`,
			notAuthorized("admin", `{ aggregate: 1, pipeline: [ { $listLocalSessions: { allUsers: true } } ] }`)},
		{"$listSessions of another user", reader, "config", `{"aggregate": "system.sessions", "pipeline": [{"$listSessions": {"users": [{"user": "x", "db": "y"}]}}]}`,
			notAuthorized("config", `{ aggregate: "system.sessions", pipeline: [ { $listSessions: { users: [ { user: "x", db: "y" } ] } } ] }`)},
		{"root lists all sessions", root, "admin", `{"aggregate": 1, "pipeline": [{"$listLocalSessions": {"allUsers": true}}]}`, nil},
		{"reader kills own sessions", reader, "admin", `{"killSessions": []}`, nil},
		{"reader kills all sessions", reader, "admin", `{"killAllSessions": [], "$db": "admin"}`,
			notAuthorized("admin", `{ killAllSessions: [], $db: "admin" }`)},
		{"killer kills all sessions", killer, "admin", `{"killAllSessions": []}`, nil},
		{"killer kills by pattern", killer, "admin", `{"killAllSessionsByPattern": [{"uid": {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "subType": "00"}}}]}`, nil},
		{"killer impersonates in a pattern", killer, "admin", `{"killAllSessionsByPattern": [{"users": []}]}`,
			mongoerr.New(mongoerr.Unauthorized, "Not authorized to impersonate in killAllSessionsByPattern")},
		{"root impersonates in a pattern", root, "admin", `{"killAllSessionsByPattern": [{"roles": []}]}`,
			mongoerr.New(mongoerr.Unauthorized, "Not authorized to impersonate in killAllSessionsByPattern")},
		{"internal user impersonates", internal, "admin", `{"killAllSessionsByPattern": [{"users": []}]}`, nil},
		{"reader listDatabases (filtered)", reader, "admin", `{"listDatabases": 1}`, nil},
		{"reader listDatabases unfiltered", reader, "admin", `{"listDatabases": 1, "authorizedDatabases": false}`,
			notAuthorized("admin", `{ listDatabases: 1, authorizedDatabases: false }`)},
		{"reader listCollections", reader, "test", `{"listCollections": 1}`, nil},
		{"reader listCollections elsewhere, own names", reader, "other", `{"listCollections": 1, "authorizedCollections": true, "nameOnly": true}`, nil},
		{"reader serverStatus", reader, "admin", `{"serverStatus": 1}`, notAuthorized("admin", `{ serverStatus: 1 }`)},
		{"root serverStatus", root, "admin", `{"serverStatus": 1}`, nil},
		{"$collStats needs collStats, not find", stats, "test", `{"aggregate": "c", "pipeline": [{"$collStats": {"storageStats": {}}}]}`, nil},
		{"collStats alone does not find", stats, "test", `{"aggregate": "c", "pipeline": [{"$match": {}}]}`,
			notAuthorized("test", `{ aggregate: "c", pipeline: [ { $match: {} } ] }`)},
		{"reader $collStats elsewhere", reader, "other", `{"aggregate": "c", "pipeline": [{"$collStats": {}}]}`,
			notAuthorized("other", `{ aggregate: "c", pipeline: [ { $collStats: {} } ] }`)},
		{"reader $shardedDataDistribution", reader, "admin", `{"aggregate": 1, "pipeline": [{"$shardedDataDistribution": {}}]}`,
			notAuthorized("admin", `{ aggregate: 1, pipeline: [ { $shardedDataDistribution: {} } ] }`)},
		{"root $shardedDataDistribution", root, "admin", `{"aggregate": 1, "pipeline": [{"$shardedDataDistribution": {}}]}`, nil},
		{"reader dataSize of its collection", reader, "admin", `{"dataSize": "test.c"}`, nil},
		{"reader dataSize elsewhere", reader, "test", `{"datasize": "other.c"}`, notAuthorized("test", `{ datasize: "other.c" }`)},
		{"reader dbstats", reader, "test", `{"dbstats": 1}`, nil},
		{"reader collstats elsewhere", reader, "other", `{"collstats": "c"}`, notAuthorized("other", `{ collstats: "c" }`)},
		{"reader balancerStatus", reader, "admin", `{"balancerStatus": 1}`, notAuthorized("admin", `{ balancerStatus: 1 }`)},
		{"root balancerStatus", root, "admin", `{"balancerStatus": 1}`, nil},
		{"root balancerStop", root, "admin", `{"balancerStop": 1}`, nil},
		{"reader balancerStart", reader, "admin", `{"balancerStart": 1}`, notAuthorized("admin", `{ balancerStart: 1 }`)},
		{"reader flushRouterConfig", reader, "admin", `{"flushRouterConfig": 1}`, notAuthorized("admin", `{ flushRouterConfig: 1 }`)},
		{"root flushrouterconfig", root, "admin", `{"flushrouterconfig": 1}`, nil},
		{"reader getShardMap", reader, "admin", `{"getShardMap": 1}`, notAuthorized("admin", `{ getShardMap: 1 }`)},
		{"root getShardMap", root, "admin", `{"getShardMap": 1}`, nil},
		{"reader startSession", reader, "admin", `{"startSession": 1}`, nil},
		{"reader commits", reader, "admin", `{"commitTransaction": 1}`, nil},
		{"root runs an unlisted command", root, "admin", `{"replSetGetStatus": 1}`, notAuthorized("admin", `{ replSetGetStatus: 1 }`)},
		{"internal user runs an unlisted command", internal, "admin", `{"replSetGetStatus": 1}`, nil},
		{"empty command", reader, "admin", `{}`, mongoerr.New(mongoerr.InvalidBSON, "invalid command document")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Authorize(tt.user, commandOf(tt.db, ejson(t, tt.cmd)))
			if codeOf(err) != codeOf(tt.want) || msgOf(err) != msgOf(tt.want) {
				t.Fatalf("got  %v\nwant %v", err, tt.want)
			}
		})
	}
}
