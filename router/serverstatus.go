package router

import (
	"context"
	"encoding/binary"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/command"
)

// counters are serverStatus's opcounters and network figures, counted on the per-command path
// with atomics only.
type counters struct {
	insert, query, update, delete, getmore, command atomic.Int64

	bytesIn, bytesOut                 atomic.Int64 // logical: decompressed
	physicalBytesIn, physicalBytesOut atomic.Int64 // on the wire
	requests                          atomic.Int64
}

// count adds a parsed command to the opcounters as mongod and mongos count it: find as a query
// and getMore as a getmore (their shouldAffectQueryCounter / shouldAffectCommandCounter), each
// statement of an insert, update or delete as one of its kind (mongos's cluster_write_cmd.cpp
// counts the statements of a batch, and so of a bulkWrite), and every other command as a
// command.
func (k *counters) count(cmd *command.Command) {
	switch string(cmd.Name) {
	case "find":
		k.query.Add(1)
	case "getMore":
		k.getmore.Add(1)
	case "insert":
		k.insert.Add(statements(cmd, "documents"))
	case "update":
		k.update.Add(statements(cmd, "updates"))
	case "delete":
		k.delete.Add(statements(cmd, "deletes"))
	case "bulkWrite":
		k.bulkWrite(cmd)
	default:
		k.command.Add(1)
	}
}

// statements counts the documents of a command's array or document sequence without reading
// them: the command's own parse reports malformed ones.
func statements(cmd *command.Command, field string) int64 {
	for _, s := range cmd.Sequences {
		if s.Identifier != field {
			continue
		}
		var n int64
		for raw := s.Raw; len(raw) >= 5; n++ {
			size := int(binary.LittleEndian.Uint32(raw))
			if size < 5 || size > len(raw) {
				break
			}
			raw = raw[size:]
		}
		return n
	}
	v, _ := cmd.Lookup(field)
	arr, ok := v.ArrayOK()
	if !ok {
		return 0
	}
	var n int64
	bsonview.Each(bsoncore.Document(arr), func(bsoncore.Element) bool { n++; return true })
	return n
}

// bulkWrite counts each operation of ops by its kind, its first key.
func (k *counters) bulkWrite(cmd *command.Command) {
	_ = cmd.EachDoc("ops", func(op bsoncore.Document) error {
		switch string(bsonview.FirstKey(op)) {
		case "insert":
			k.insert.Add(1)
		case "update":
			k.update.Add(1)
		case "delete":
			k.delete.Add(1)
		}
		return nil
	})
}

// received counts one request frame: its size on the wire, and its size once decompressed.
func (k *counters) received(physical, logical int) {
	k.requests.Add(1)
	k.physicalBytesIn.Add(int64(physical))
	k.bytesIn.Add(int64(logical))
}

// sent counts one reply frame.
func (k *counters) sent(physical, logical int) {
	k.physicalBytesOut.Add(int64(physical))
	k.bytesOut.Add(int64(logical))
}

// defaultMaxChunkSize is what mongos reports as sharding.maxChunkSizeInBytes without a chunksize
// setting: 128 MB since 6.0 (balancer_configuration.h).
const defaultMaxChunkSize = 128 << 20

// defaultMaxConns is mongod's default maxIncomingConnections, from which connections.available
// is counted when --max-conns sets no cap.
const defaultMaxConns = 1_000_000

// serverStatus answers the router's own status in mongos's shape (process "mongos"): a section
// given as {<section>: 0} is left out, as mongod leaves it out.
func (c *conn) serverStatus(_ context.Context, r *request) (bsoncore.Document, error) {
	s := c.s
	host, _ := os.Hostname()
	uptime := time.Since(startTime)
	b := bsoncore.NewDocumentBuilder().
		AppendString("host", host).
		AppendString("version", Version).
		AppendString("process", "mongos").
		AppendInt64("pid", int64(os.Getpid())).
		AppendDouble("uptime", float64(uptime/time.Second)).
		AppendInt64("uptimeMillis", uptime.Milliseconds()).
		AppendInt64("uptimeEstimate", int64(uptime/time.Second)).
		AppendDateTime("localTime", time.Now().UnixMilli())
	sections := []struct {
		name string
		doc  func() bsoncore.Document
	}{
		{"connections", s.connectionsStatus},
		{"logicalSessionRecordCache", func() bsoncore.Document { return s.sessions.Stats().AppendDoc(nil) }},
		{"mem", func() bsoncore.Document {
			// The router does not measure its resident and virtual size, as mongod on a
			// platform it cannot read them from.
			return bsoncore.NewDocumentBuilder().AppendInt32("bits", 64).AppendBoolean("supported", false).Build()
		}},
		{"metrics", func() bsoncore.Document {
			return bsoncore.NewDocumentBuilder().
				AppendDocument("cursor", appendCursorMetrics(nil, s.cursors.Stats())).Build()
		}},
		{"network", s.networkStatus},
		{"opcounters", s.opcountersStatus},
		{"sharding", s.shardingStatus},
		{"transactions", func() bsoncore.Document { return s.TxnStats().AppendDoc(nil) }},
	}
	for _, sec := range sections {
		if wanted(r, sec.name) {
			b.AppendDocument(sec.name, sec.doc())
		}
	}
	return b.AppendDouble("ok", 1).Build(), nil
}

// wanted reports whether serverStatus includes a section: unless the command gives it a false
// value ({opcounters: 0}).
func wanted(r *request, section string) bool {
	v, ok := r.Lookup(section)
	return !ok || trueValue(v)
}

// trueValue is BSONElement::trueValue: a boolean's value, whether a number is not zero, false for
// null and undefined, true for anything else.
func trueValue(v bsoncore.Value) bool {
	switch v.Type {
	case bsoncore.TypeBoolean:
		return v.Boolean()
	case bsoncore.TypeInt32, bsoncore.TypeInt64, bsoncore.TypeDouble:
		f, _ := v.AsFloat64OK()
		return f != 0
	case bsoncore.TypeNull, bsoncore.TypeUndefined:
		return false
	}
	return true
}

func (s *Server) connectionsStatus() bsoncore.Document {
	s.mu.Lock()
	current := int64(len(s.conns))
	s.mu.Unlock()
	limit := int64(defaultMaxConns)
	if s.cfg.MaxConns > 0 {
		limit = int64(s.cfg.MaxConns)
	}
	awaiting := s.awaiting.Load()
	return bsoncore.NewDocumentBuilder().
		AppendInt32("current", int32(current)).
		AppendInt32("available", int32(max(limit-current, 0))).
		AppendInt64("totalCreated", s.nextConn.Load()).
		AppendInt64("rejected", s.rejected.Load()).
		AppendInt32("active", int32(max(s.inFlight.Load()-awaiting, 0))).
		AppendInt32("threaded", int32(current)).
		AppendInt64("exhaustIsMaster", 0).
		AppendInt64("exhaustHello", 0).
		AppendInt64("awaitingTopologyChanges", awaiting).
		AppendInt64("loadBalanced", 0).Build()
}

func (s *Server) networkStatus() bsoncore.Document {
	k := &s.counters
	return bsoncore.NewDocumentBuilder().
		AppendInt64("bytesIn", k.bytesIn.Load()).
		AppendInt64("bytesOut", k.bytesOut.Load()).
		AppendInt64("physicalBytesIn", k.physicalBytesIn.Load()).
		AppendInt64("physicalBytesOut", k.physicalBytesOut.Load()).
		AppendInt64("numSlowDNSOperations", 0).
		AppendInt64("numSlowSSLOperations", 0).
		AppendInt64("numRequests", k.requests.Load()).Build()
}

func (s *Server) opcountersStatus() bsoncore.Document {
	k := &s.counters
	return bsoncore.NewDocumentBuilder().
		AppendInt64("insert", k.insert.Load()).
		AppendInt64("query", k.query.Load()).
		AppendInt64("update", k.update.Load()).
		AppendInt64("delete", k.delete.Load()).
		AppendInt64("getmore", k.getmore.Load()).
		AppendInt64("command", k.command.Load()).Build()
}

// shardingStatus is mongos's sharding section. There is no config server: the cluster metadata
// lives on the config shard, whose connection string stands where mongos names its config
// servers'.
func (s *Server) shardingStatus() bsoncore.Document {
	return bsoncore.NewDocumentBuilder().
		AppendString("configsvrConnectionString", connString(s.cluster.Shard(0))).
		AppendInt64("maxChunkSizeInBytes", defaultMaxChunkSize).Build()
}

// connString is a shard's replica-set connection string, "set/host1,host2", as mongos names a
// shard (config.shards host, getShardMap, dbStats's raw).
func connString(sh interface {
	SetName() string
	Members() []string
}) string {
	return sh.SetName() + "/" + strings.Join(sh.Members(), ",")
}
