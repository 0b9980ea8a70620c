package router

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/shards"
	"github.com/mongos-lite/mongos-lite/topology"
)

// Sharding a collection (docs/architecture.md, "Sharded collections"): a single hashed field, on
// a collection that is new or empty, pre-split into chunks spread over every shard, which never
// move. mongos's shardCollection (cluster_shard_collection_cmd.cpp) hands the work to the
// primary shard's create-collection coordinator (create_collection_coordinator.cpp); here the
// router does it, under the namespace's critical section (topology.BeginChange): no router
// writes to the collection while its shards are checked and prepared and its metadata written.

// maxInitialChunksPerShard and maxInitialChunks bound numInitialChunks, as mongos does.
const (
	maxInitialChunksPerShard = 8192
	maxInitialChunks         = 1000 * 1000
)

// shardSpec is a parsed shardCollection command.
type shardSpec struct {
	ns, db, coll string
	key          string // the hashed field
	chunks       int    // numInitialChunks; 0: 2 per shard
}

func (c *conn) shardCollection(ctx context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	spec, err := parseShardCollection(r, len(c.s.cluster.Shards()))
	if err != nil {
		return nil, err
	}
	if err := c.shardNamespace(ctx, spec); err != nil {
		return nil, err
	}
	return bsoncore.NewDocumentBuilder().
		AppendString("collectionsharded", spec.ns).
		AppendDouble("ok", 1).Build(), nil
}

// parseShardCollection reads and checks the command before anything is done, with mongos's
// errors where mongos refuses the same thing, and errors that say why where mongos-lite refuses
// what mongos allows.
func parseShardCollection(r *request, shards int) (shardSpec, error) {
	var spec shardSpec
	nsv, _ := bsonview.Lookup(r.Body, string(r.Name))
	ns, ok := nsv.StringValueOK()
	if !ok {
		return spec, mongoerr.WrongType("shardCollection.shardCollection", nsv.Type, "string")
	}
	db, coll, found := strings.Cut(ns, ".")
	if !found || db == "" || coll == "" || strings.ContainsAny(db, "/\\ \"$") {
		return spec, mongoerr.New(mongoerr.InvalidNamespace, "Invalid namespace specified '%s'", ns)
	}
	spec.ns, spec.db, spec.coll = ns, db, coll
	switch {
	case isInternalDB(db):
		return spec, mongoerr.New(mongoerr.IllegalOperation,
			"mongos-lite does not shard collections of the %s database: it lives whole on the config shard", db)
	case strings.HasPrefix(coll, "system."):
		return spec, mongoerr.New(mongoerr.IllegalOperation, "can't shard system namespaces")
	}
	kv, present := bsonview.Lookup(r.Body, "key")
	if !present {
		return spec, mongoerr.New(mongoerr.IDLFailedToParse, "BSON field 'shardCollection.key' is missing but a required field")
	}
	key, ok := kv.DocumentOK()
	if !ok {
		return spec, mongoerr.WrongType("shardCollection.key", kv.Type, "object")
	}
	field, err := hashedKeyField(key)
	if err != nil {
		return spec, err
	}
	spec.key = field
	if flag(r.Body, "unique") {
		return spec, mongoerr.New(mongoerr.InvalidOptions,
			"Hashed shard keys cannot be declared unique. It's possible to ensure uniqueness on the hashed field by "+
				"declaring an additional (non-hashed) unique index on the field.")
	}
	if v, ok := bsonview.Lookup(r.Body, "numInitialChunks"); ok {
		n, isNumber := v.AsInt64OK()
		if !isNumber {
			return spec, mongoerr.WrongType("shardCollection.numInitialChunks", v.Type, "long")
		}
		if n < 0 || n > int64(shards*maxInitialChunksPerShard) || n > maxInitialChunks {
			return spec, mongoerr.New(mongoerr.InvalidOptions,
				"numInitialChunks cannot be more than either: %d, %d * number of shards; or %d",
				shards*maxInitialChunksPerShard, maxInitialChunksPerShard, maxInitialChunks)
		}
		spec.chunks = int(n)
	}
	if spec.chunks == 0 {
		// SplitPointsBasedSplitPolicy's default before 7.2 (initial_split_policy.h): two per shard.
		spec.chunks = 2 * shards
	}
	if v, ok := bsonview.Lookup(r.Body, "collation"); ok {
		doc, _ := v.DocumentOK()
		if locale, _ := doc.Lookup("locale").StringValueOK(); locale != "simple" {
			return spec, mongoerr.New(mongoerr.BadValue,
				"The collation for shardCollection must be {locale: 'simple'}, but found: %s", auth.BSONText(doc))
		}
	}
	if flag(r.Body, "presplitHashedZones") {
		return spec, mongoerr.New(mongoerr.InvalidOptions,
			"presplitHashedZones needs zones, and mongos-lite has none: its chunks are spread over every shard")
	}
	if _, ok := bsonview.Lookup(r.Body, "timeseries"); ok {
		return spec, mongoerr.New(mongoerr.InvalidOptions, "mongos-lite does not shard time-series collections")
	}
	return spec, nil
}

// hashedKeyField is the field of a {field: "hashed"} key; other keys are refused, each with
// the reason.
func hashedKeyField(key bsoncore.Document) (string, error) {
	elems, _ := key.Elements()
	text := auth.BSONText(key)
	if len(elems) == 0 {
		return "", mongoerr.New(mongoerr.BadValue, "Shard key pattern cannot be empty")
	}
	for _, e := range elems {
		f := e.Key()
		if f == "" || strings.HasPrefix(f, "$") || strings.Contains(f, "..") || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") {
			return "", mongoerr.New(mongoerr.BadValue, "Unsupported shard key pattern %s. Pattern must either be a "+
				"single hashed field, or a list of ascending fields", text)
		}
		v := e.Value()
		if s, ok := v.StringValueOK(); ok && s == "hashed" {
			continue
		}
		if n, ok := v.AsFloat64OK(); !ok || n != 1 && n != -1 {
			return "", mongoerr.New(mongoerr.BadValue, "Unsupported shard key pattern %s. Pattern must either be a "+
				"single hashed field, or a list of ascending fields", text)
		}
		if len(elems) == 1 {
			return "", mongoerr.New(mongoerr.InvalidOptions,
				"mongos-lite shards a collection on a hashed key only, and %s is a range key: the chunks of a range "+
					"key are split and moved as the data grows, and chunks never move between plain replica sets", text)
		}
	}
	if len(elems) > 1 {
		return "", mongoerr.New(mongoerr.InvalidOptions,
			"mongos-lite shards a collection on a single hashed field only, and %s is a compound key", text)
	}
	return elems[0].Key(), nil
}

func isInternalDB(db string) bool { return db == "admin" || db == "config" || db == "local" }

// shardNamespace shards spec.ns unless it is sharded already with the same key, which succeeds
// as on mongos; another key is AlreadyInitialized.
func (c *conn) shardNamespace(ctx context.Context, spec shardSpec) error {
	cl := c.s.cluster
	if done, err := c.alreadySharded(ctx, spec); done || err != nil {
		return err
	}
	if _, err := cl.PrimaryShard(ctx, []byte(spec.db), true); err != nil {
		return mongoerr.As(err)
	}
	change, err := cl.BeginChange(ctx, spec.ns, "shardCollection")
	if err != nil {
		return mongoerr.As(err)
	}
	defer change.End(ctx)
	if done, err := c.alreadySharded(ctx, spec); done || err != nil {
		return err
	}
	primary, err := cl.PrimaryShard(ctx, []byte(spec.db), true)
	if err != nil {
		return mongoerr.As(err)
	}
	info, err := c.collectionInfo(ctx, primary, spec)
	if err != nil {
		return err
	}
	if err := c.checkEmpty(ctx, spec); err != nil {
		return err
	}
	if err := c.prepareShards(ctx, spec, info); err != nil {
		return err
	}
	// Again, now that every shard has the index: on mongod an index build waits for the
	// transactions that wrote to the collection, whose documents are counted now.
	if err := c.checkEmpty(ctx, spec); err != nil {
		return err
	}
	info, err = c.collectionInfo(ctx, primary, spec)
	if err != nil {
		return err
	}
	uuid := collectionUUID(info)
	ts := bson.Timestamp{T: uint32(time.Now().Unix()), I: 1}
	if now := c.s.clock.load(); now != nil && !now.ts.IsZero() {
		ts = now.ts
	}
	record := topology.ShardedCollection{NS: spec.ns, Key: spec.key, UUID: uuid, Chunks: spec.chunks, Timestamp: ts}
	if err := cl.RecordShardedCollection(ctx, record); err != nil {
		return mongoerr.As(err)
	}
	c.log.Info().Str("ns", spec.ns).Str("key", spec.key).Int("chunks", spec.chunks).Msg("collection sharded")
	return nil
}

// alreadySharded reads ns's metadata: sharded on the same key is done, on another an error.
func (c *conn) alreadySharded(ctx context.Context, spec shardSpec) (bool, error) {
	rt, err := c.s.cluster.ReadRouting(ctx, spec.db, spec.coll)
	if err != nil {
		return false, mongoerr.As(err)
	}
	if !rt.Sharded {
		return false, nil
	}
	if rt.Key == spec.key {
		return true, nil
	}
	return true, mongoerr.New(mongoerr.AlreadyInitialized,
		"sharding already enabled for collection %s with options { key: { %s: \"hashed\" }, unique: false }", spec.ns, rt.Key)
}

// collectionInfo is the primary shard's listCollections entry of the collection (nil when it
// does not exist), refused when it cannot be sharded.
func (c *conn) collectionInfo(ctx context.Context, primary int, spec shardSpec) (bsoncore.Document, error) {
	reply, err := c.shardCommand(ctx, primary, bsoncore.NewDocumentBuilder().
		AppendInt32("listCollections", 1).
		AppendDocument("filter", bsoncore.NewDocumentBuilder().AppendString("name", spec.coll).Build()).
		AppendString("$db", spec.db).Build())
	if err != nil {
		return nil, err
	}
	var info bsoncore.Document
	eachInBatch(reply, "firstBatch", func(d bsoncore.Document) {
		if info == nil {
			info = d
		}
	})
	if info == nil {
		return nil, nil
	}
	if kind, _ := info.Lookup("type").StringValueOK(); kind == "view" {
		return nil, mongoerr.New(mongoerr.CommandNotSupportedOnView, "Views cannot be sharded.")
	} else if kind == "timeseries" {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "mongos-lite does not shard time-series collections")
	}
	options, _ := info.Lookup("options").DocumentOK()
	if capped, _ := options.Lookup("capped").BooleanOK(); capped {
		return nil, mongoerr.New(mongoerr.InvalidOptions, "can't shard a capped collection")
	}
	if coll, ok := options.Lookup("collation").DocumentOK(); ok {
		if locale, _ := coll.Lookup("locale").StringValueOK(); locale != "simple" {
			return nil, mongoerr.New(mongoerr.InvalidOptions,
				"mongos-lite shards collections whose default collation is simple, and %s's is %s: a hashed key "+
					"hashes strings by their bytes", spec.ns, auth.BSONText(coll))
		}
	}
	return info, nil
}

// checkEmpty refuses a collection that holds documents on any shard: they would stay on the
// shard they are on, whatever their chunk says, since chunks and documents never move here.
func (c *conn) checkEmpty(ctx context.Context, spec shardSpec) error {
	for i, sh := range c.s.cluster.Shards() {
		reply, err := c.shardCommand(ctx, i, bsoncore.NewDocumentBuilder().
			AppendString("find", spec.coll).
			AppendDocument("projection", bsoncore.NewDocumentBuilder().AppendInt32("_id", 1).Build()).
			AppendInt32("limit", 1).
			AppendBoolean("singleBatch", true).
			AppendString("$db", spec.db).Build())
		if err != nil {
			return err
		}
		held := false
		eachInBatch(reply, "firstBatch", func(bsoncore.Document) { held = true })
		if held {
			return mongoerr.New(mongoerr.IllegalOperation,
				"mongos-lite shards a collection only while it is empty, and %s holds documents on shard %s: chunks "+
					"and documents never move between plain replica sets, so its documents could not reach the "+
					"shards their chunks name. Shard a new collection and copy the documents into it", spec.ns, sh.Name())
		}
	}
	return nil
}

// prepareShards creates the collection (with the primary shard's options) and its hashed index on
// every shard.
func (c *conn) prepareShards(ctx context.Context, spec shardSpec, info bsoncore.Document) error {
	options, _ := info.Lookup("options").DocumentOK()
	for i := range c.s.cluster.Shards() {
		create := bsoncore.NewDocumentBuilder().AppendString("create", spec.coll)
		bsonview.Each(options, func(el bsoncore.Element) bool {
			create.AppendValue(el.Key(), el.Value())
			return true
		})
		if _, err := c.shardCommand(ctx, i, create.AppendString("$db", spec.db).Build(), mongoerr.NamespaceExists); err != nil {
			return err
		}
		index := bsoncore.NewDocumentBuilder().
			AppendDocument("key", bsoncore.NewDocumentBuilder().AppendString(spec.key, "hashed").Build()).
			AppendString("name", spec.key+"_hashed").Build()
		// An index of the same key under another name will do (IndexOptionsConflict).
		if _, err := c.shardCommand(ctx, i, bsoncore.NewDocumentBuilder().
			AppendString("createIndexes", spec.coll).
			AppendArray("indexes", bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: index})).
			AppendString("$db", spec.db).Build(), mongoerr.IndexOptionsConflict); err != nil {
			return err
		}
	}
	return nil
}

// shardCommand runs one of the router's own commands on shard i's primary; a failure with one
// of the codes allowed is no failure.
func (c *conn) shardCommand(ctx context.Context, i int, body bsoncore.Document, allowed ...mongoerr.Code) (bsoncore.Document, error) {
	sh := c.s.cluster.Shard(i)
	reply, _, err := sh.RoundTrip(ctx, shards.Primary(), shards.Request{Body: body}, nil)
	if err != nil {
		return nil, mongoerr.As(err)
	}
	if err := reply.Status.Err(reply.Body); err != nil {
		for _, code := range allowed {
			if err.Code == code {
				return reply.Body, nil
			}
		}
		err.Msg = "shard " + sh.Name() + ": " + err.Msg
		return nil, err
	}
	return reply.Body, nil
}

// collectionUUID is the collection's UUID as listCollections reports it, or a fresh one from a
// shard that does not.
func collectionUUID(info bsoncore.Document) []byte {
	if _, uuid, ok := info.Lookup("info", "uuid").BinaryOK(); ok && len(uuid) == 16 {
		return uuid
	}
	uuid := make([]byte, 16)
	_, _ = rand.Read(uuid)
	uuid[6] = uuid[6]&0x0f | 0x40
	uuid[8] = uuid[8]&0x3f | 0x80
	return uuid
}

// enableSharding places a database, on its primaryShard when one is named, as mongos 8.0
// creates the database (cluster_enable_sharding_cmd.cpp); every database can hold sharded
// collections.
func (c *conn) enableSharding(ctx context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	v, _ := bsonview.Lookup(r.Body, string(r.Name))
	db, ok := v.StringValueOK()
	if !ok {
		return nil, mongoerr.WrongType("enableSharding.enableSharding", v.Type, "string")
	}
	if db == "" || strings.ContainsAny(db, "/\\. \"$") {
		return nil, mongoerr.New(mongoerr.InvalidNamespace, "Invalid db name specified: %s", db)
	}
	switch db {
	case "admin", "local":
		return nil, mongoerr.New(mongoerr.InvalidOptions, "Enabling sharding on the %s database is not allowed", db)
	case "config":
		return bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build(), nil
	}
	cl := c.s.cluster
	pv, named := bsonview.Lookup(r.Body, "primaryShard")
	// Through the agreement: a database being dropped is placed once the drop is done.
	_, hold, err := cl.Acquire(ctx, db, "", !named)
	hold.Release()
	if err == nil && named {
		name, _ := pv.StringValueOK()
		want := cl.Index(name)
		if want < 0 {
			return nil, mongoerr.New(mongoerr.ShardNotFound, "Shard %s not found", name)
		}
		var got int
		if got, err = cl.PlaceDatabase(ctx, db, want); err == nil && got != want {
			return nil, mongoerr.New(mongoerr.NamespaceExists,
				"database %s already exists on shard %s, not on the requested primary shard %s", db, cl.Shard(got).Name(), name)
		}
	}
	if err != nil {
		return nil, mongoerr.As(err)
	}
	return bsoncore.NewDocumentBuilder().AppendDouble("ok", 1).Build(), nil
}
