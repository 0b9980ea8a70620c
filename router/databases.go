package router

import (
	"context"
	"sort"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/shards"
)

// listDatabases asks every shard and merges: a database on several shards (admin, config) is
// listed once with its sizes summed and a per-shard breakdown, as mongos reports it.
func (c *conn) listDatabases(ctx context.Context, r *request) (bsoncore.Document, error) {
	type dbInfo struct {
		size   int64
		empty  bool
		shards [][]byte
	}
	merged := map[string]*dbInfo{}
	nameOnly, err := command.TrueValue(r.Body, "nameOnly", "listDatabases")
	if err != nil {
		return nil, err
	}
	visible := r.who.visibleDatabases(r)
	for i, sh := range c.s.cluster.Shards() {
		reply, _, err := c.exchange(ctx, i, shards.Primary(), "", r)
		if err != nil {
			return nil, err
		}
		if err := reply.Err(); err != nil {
			return nil, err
		}
		arr, _ := reply.Body.Lookup("databases").ArrayOK()
		vals, _ := arr.Values()
		for _, v := range vals {
			doc, ok := v.DocumentOK()
			if !ok {
				continue
			}
			name, _ := doc.Lookup("name").StringValueOK()
			if !visible(name) {
				continue
			}
			size, _ := doc.Lookup("sizeOnDisk").AsInt64OK()
			empty, _ := doc.Lookup("empty").BooleanOK()
			info := merged[name]
			if info == nil {
				info = &dbInfo{empty: true}
				merged[name] = info
			}
			info.size += size
			info.empty = info.empty && empty
			info.shards = append(info.shards, bsoncore.AppendInt64Element(nil, sh.Name(), size))
		}
	}
	names := make([]string, 0, len(merged))
	for name := range merged {
		names = append(names, name)
	}
	sort.Strings(names)
	var total int64
	dbs := make([]bsoncore.Value, 0, len(names))
	for _, name := range names {
		info := merged[name]
		total += info.size
		b := bsoncore.NewDocumentBuilder().AppendString("name", name)
		if !nameOnly {
			b.AppendInt64("sizeOnDisk", info.size).AppendBoolean("empty", info.empty).
				AppendDocument("shards", bsoncore.BuildDocument(nil, info.shards...))
		}
		dbs = append(dbs, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument, Data: b.Build()})
	}
	b := bsoncore.NewDocumentBuilder().AppendArray("databases", bsoncore.BuildArray(nil, dbs...))
	if !nameOnly {
		b.AppendInt64("totalSize", total).AppendInt64("totalSizeMb", total/(1024*1024))
	}
	return b.AppendDouble("ok", 1).Build(), nil
}
