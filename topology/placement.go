package topology

import (
	"context"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// placement keeps database → primary shard in config.databases on the first shard, cached here.
// Several routers agree because the first insert of a database's _id wins and the others read it.
type placement struct {
	config Shard    // holds config.databases
	names  []string // the shards' names, by index
	mu     sync.RWMutex
	cache  map[string]int
	create sync.Mutex // one creation at a time in this router; other routers race through _id
}

func newPlacement(config Shard, names []string) *placement {
	return &placement{config: config, names: names, cache: make(map[string]int)}
}

// configShard holds the cluster metadata, and admin/config commands go there.
const configShard = 0

// PrimaryShard returns the index of db's primary shard. With create, a database not placed yet
// is placed on the shard with the fewest databases; without, it reports the config shard and
// places nothing (a read of a database that does not exist finds nothing anywhere).
// db is bytes so that the cached path, taken by nearly every command, does not allocate.
func (c *Cluster[S]) PrimaryShard(ctx context.Context, db []byte, create bool) (int, error) {
	if len(c.shards) == 1 || isConfigDB(db) {
		return configShard, nil
	}
	p := c.placement
	p.mu.RLock()
	idx, ok := p.cache[string(db)]
	p.mu.RUnlock()
	if ok {
		return idx, nil
	}
	idx, _, err := p.primary(ctx, string(db), create)
	return idx, err
}

// isConfigDB reports the databases that live with the cluster metadata, as on mongos's config
// servers.
func isConfigDB(db []byte) bool { return isConfigName(string(db)) }

func isConfigName(db string) bool {
	switch db {
	case "admin", "config", "local":
		return true
	}
	return false
}

// primary is db's primary shard and whether db is placed; a database that is not (and is not
// placed now, without create) reports the config shard.
func (p *placement) primary(ctx context.Context, db string, create bool) (int, bool, error) {
	p.mu.RLock()
	idx, ok := p.cache[db]
	p.mu.RUnlock()
	if ok {
		return idx, true, nil
	}
	idx, found, err := p.lookup(ctx, db)
	if err != nil || found {
		return idx, found, err
	}
	if !create {
		return configShard, false, nil
	}
	idx, err = p.place(ctx, db)
	return idx, err == nil, err
}

// Forget drops db's placement (after dropDatabase): its next write may land anywhere.
func (c *Cluster[S]) Forget(ctx context.Context, db string) error {
	p := c.placement
	p.flush(db)
	c.cache.flush(db)
	_, err := p.command(ctx, bsoncore.NewDocumentBuilder().
		AppendString("delete", "databases").
		AppendArray("deletes", bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument,
			Data: bsoncore.NewDocumentBuilder().
				AppendDocument("q", bsoncore.NewDocumentBuilder().AppendString("_id", db).Build()).
				AppendInt32("limit", 1).Build()})).
		AppendString("$db", "config").Build())
	return err
}

func (p *placement) lookup(ctx context.Context, db string) (int, bool, error) {
	docs, err := p.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("find", "databases").
		AppendDocument("filter", bsoncore.NewDocumentBuilder().AppendString("_id", db).Build()).
		AppendString("$db", "config").Build())
	if err != nil || len(docs) == 0 {
		return 0, false, err
	}
	idx, err := p.remember(db, docs[0])
	return idx, err == nil, err
}

func (p *placement) remember(db string, entry bsoncore.Document) (int, error) {
	name, _ := entry.Lookup("primary").StringValueOK()
	for i, n := range p.names {
		if n == name {
			p.mu.Lock()
			p.cache[db] = i
			p.mu.Unlock()
			return i, nil
		}
	}
	return 0, mongoerr.New(mongoerr.ShardNotFound, "database %s is placed on shard %q, which is not configured", db, name)
}

// place puts db on the shard with the fewest databases and records it; losing the race to
// another router is fine: its entry is read back and used.
func (p *placement) place(ctx context.Context, db string) (int, error) {
	p.create.Lock()
	defer p.create.Unlock()
	p.mu.RLock()
	idx, ok := p.cache[db]
	p.mu.RUnlock()
	if ok {
		return idx, nil
	}
	counts, err := p.counts(ctx)
	if err != nil {
		return 0, err
	}
	best := 0
	for i := range p.names {
		if counts[i] < counts[best] {
			best = i
		}
	}
	return p.placeOn(ctx, db, best)
}

// PlaceDatabase places db on shard (enableSharding's primaryShard) unless it is placed already,
// and returns its primary shard.
func (c *Cluster[S]) PlaceDatabase(ctx context.Context, db string, shard int) (int, error) {
	p := c.placement
	p.create.Lock()
	defer p.create.Unlock()
	idx, found, err := p.lookup(ctx, db)
	if err != nil || found {
		return idx, err
	}
	return p.placeOn(ctx, db, shard)
}

// placeOn records db on shard best, or reads the entry of the router that placed it first;
// callers hold p.create.
func (p *placement) placeOn(ctx context.Context, db string, best int) (int, error) {
	entry := bsoncore.NewDocumentBuilder().AppendString("_id", db).AppendString("primary", p.names[best]).Build()
	reply, err := p.command(ctx, bsoncore.NewDocumentBuilder().
		AppendString("insert", "databases").
		AppendArray("documents", bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: entry})).
		AppendDocument("writeConcern", bsoncore.NewDocumentBuilder().AppendString("w", "majority").Build()).
		AppendString("$db", "config").Build())
	if err != nil {
		return 0, err
	}
	if _, dup := reply.Lookup("writeErrors").ArrayOK(); dup {
		idx, found, err := p.lookup(ctx, db)
		if err == nil && !found {
			err = mongoerr.New(mongoerr.InternalError, "placement of database %s failed and no other router placed it", db)
		}
		return idx, err
	}
	p.mu.Lock()
	p.cache[db] = best
	p.mu.Unlock()
	return best, nil
}

// counts returns how many databases each shard is primary for.
func (p *placement) counts(ctx context.Context) ([]int, error) {
	counts := make([]int, len(p.names))
	groups, err := p.docs(ctx, bsoncore.NewDocumentBuilder().
		AppendString("aggregate", "databases").
		AppendArray("pipeline", bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument,
			Data: bsoncore.NewDocumentBuilder().AppendDocument("$group", bsoncore.NewDocumentBuilder().
				AppendString("_id", "$primary").
				AppendDocument("n", bsoncore.NewDocumentBuilder().AppendInt32("$sum", 1).Build()).Build()).Build()})).
		AppendDocument("cursor", bsoncore.NewDocumentBuilder().AppendInt32("batchSize", 1000).Build()).
		AppendString("$db", "config").Build())
	if err != nil {
		return nil, err
	}
	for _, doc := range groups {
		name, _ := doc.Lookup("_id").StringValueOK()
		n, _ := doc.Lookup("n").AsInt64OK()
		for i, s := range p.names {
			if s == name {
				counts[i] = int(n)
			}
		}
	}
	return counts, nil
}

// docs runs a find or an aggregate on the config shard and returns its first batch's documents
// (every command here asks for all of them in one batch).
func (p *placement) docs(ctx context.Context, body bsoncore.Document) ([]bsoncore.Document, error) {
	reply, err := p.command(ctx, body)
	if err != nil {
		return nil, err
	}
	batch, _ := reply.Lookup("cursor", "firstBatch").ArrayOK()
	vals, _ := batch.Values()
	out := make([]bsoncore.Document, 0, len(vals))
	for _, v := range vals {
		if d, ok := v.DocumentOK(); ok {
			out = append(out, d)
		}
	}
	return out, nil
}

func (p *placement) command(ctx context.Context, body bsoncore.Document) (bsoncore.Document, error) {
	reply, err := p.config.Command(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("config.databases on shard %s: %w", p.config.Name(), err)
	}
	if err := reply.Err(); err != nil {
		return nil, err
	}
	return reply.Body, nil
}
