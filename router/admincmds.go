package router

import (
	"context"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The admin commands a mongos answers from its own state, answered by the router
// (docs/commands.md).

// requireAdmin refuses an admin command run against another database, as mongod refuses every
// command whose adminOnly() is true.
func requireAdmin(r *request) error {
	if string(r.DB) != "admin" {
		return mongoerr.New(mongoerr.Unauthorized, "%s may only be run against the admin database.", r.Name)
	}
	return nil
}

// balancerStatus answers as a mongos whose balancer is stopped (cluster_control_balancer_cmd.cpp
// passes the config server's _configsvrBalancerStatus on): chunks never move here, so the mode
// is always off and no round ever ran.
func (c *conn) balancerStatus(_ context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	return bsoncore.NewDocumentBuilder().
		AppendString("mode", "off").
		AppendBoolean("inBalancerRound", false).
		AppendInt64("numBalancerRounds", 0).
		AppendDouble("ok", 1).Build(), nil
}

// balancerStop succeeds at once: the balancer is already stopped, and a mongos answers a stop
// of a stopped balancer with ok.
func (c *conn) balancerStop(_ context.Context, r *request) (bsoncore.Document, error) {
	return nil, requireAdmin(r)
}

// balancerStart is refused: there is no balancer to start.
func (c *conn) balancerStart(_ context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	return nil, mongoerr.New(mongoerr.IllegalOperation,
		"mongos-lite has no balancer: chunks never move between shards that are plain replica sets")
}

// flushRouterConfig drops the router's cached placements and routing tables
// (cluster_flush_router_config_cmd.cpp): all of them for a number or a boolean, and the routing
// state is read again before the next command; one database's for its name; one collection's
// for its namespace.
func (c *conn) flushRouterConfig(_ context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	v, _ := bsonview.Lookup(r.Body, string(r.Name))
	switch v.Type {
	case bsoncore.TypeInt32, bsoncore.TypeInt64, bsoncore.TypeDouble, bsoncore.TypeDecimal128, bsoncore.TypeBoolean:
		c.s.cluster.Flush()
	case bsoncore.TypeString:
		if db, coll, isColl := strings.Cut(v.StringValue(), "."); isColl {
			c.s.cluster.FlushCollection(db, coll)
		} else {
			c.s.cluster.FlushDatabase(db)
		}
	default:
		// BSONElement::checkAndGetStringData's error.
		return nil, mongoerr.New(13111, "wrong type for field (%s) %s != string", r.Name, mongoerr.TypeName(v.Type))
	}
	c.log.Info().Msg("routing metadata flushed")
	return bsoncore.NewDocumentBuilder().AppendBoolean("flushed", true).AppendDouble("ok", 1).Build(), nil
}

// getShardMap lists the shards as mongos's shard registry does (cluster_get_shard_map_cmd.cpp,
// ShardRegistryData::toBSON): map (name → connection string), hosts (member → name) and
// connStrings (connection string → name). There is no config server to list.
func (c *conn) getShardMap(_ context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	type entry struct{ key, value string }
	var byName, hosts, conns []entry
	for _, sh := range c.s.cluster.Shards() {
		cs := connString(sh)
		byName = append(byName, entry{sh.Name(), cs})
		conns = append(conns, entry{cs, sh.Name()})
		for _, h := range sh.Members() {
			hosts = append(hosts, entry{h, sh.Name()})
		}
	}
	doc := func(entries []entry) bsoncore.Document {
		slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		b := bsoncore.NewDocumentBuilder()
		for _, e := range entries {
			b.AppendString(e.key, e.value)
		}
		return b.Build()
	}
	return bsoncore.NewDocumentBuilder().
		AppendDocument("map", doc(byName)).
		AppendDocument("hosts", doc(hosts)).
		AppendDocument("connStrings", doc(conns)).
		AppendDouble("ok", 1).Build(), nil
}

// CommandLine is what getCmdLineOpts reports: the process's arguments as given, and the options
// it parsed, each at its path in mongos's configuration file ("net.port").
type CommandLine struct {
	Argv   []string
	Parsed []Option
}

// Option is one parsed option: its dotted path and its value (a string, number, bool or []string).
type Option struct {
	Path  string
	Value any
}

// getCmdLineOpts answers {argv, parsed} as mongod and mongos do (CmdGetCmdLineOpts, adminOnly).
func (c *conn) getCmdLineOpts(_ context.Context, r *request) (bsoncore.Document, error) {
	if err := requireAdmin(r); err != nil {
		return nil, err
	}
	argv := make([]bsoncore.Value, len(c.s.cfg.CommandLine.Argv))
	for i, a := range c.s.cfg.CommandLine.Argv {
		argv[i] = bsoncore.Value{Type: bsoncore.TypeString, Data: bsoncore.AppendString(nil, a)}
	}
	parsed, err := nestOptions(c.s.cfg.CommandLine.Parsed, "")
	if err != nil {
		return nil, mongoerr.New(mongoerr.InternalError, "getCmdLineOpts: %v", err)
	}
	return bsoncore.NewDocumentBuilder().
		AppendArray("argv", bsoncore.BuildArray(nil, argv...)).
		AppendDocument("parsed", parsed).
		AppendDouble("ok", 1).Build(), nil
}

// nestOptions builds the document of the options under prefix: "net.port" and "net.bindIp"
// become {net: {port, bindIp}}, in the order the options first name each part.
func nestOptions(opts []Option, prefix string) (bsoncore.Document, error) {
	b := bsoncore.NewDocumentBuilder()
	done := map[string]bool{}
	for _, o := range opts {
		rest, ok := strings.CutPrefix(o.Path, prefix)
		if !ok {
			continue
		}
		head, _, nested := strings.Cut(rest, ".")
		if done[head] {
			continue
		}
		done[head] = true
		if nested {
			sub, err := nestOptions(opts, prefix+head+".")
			if err != nil {
				return nil, err
			}
			b.AppendDocument(head, sub)
			continue
		}
		t, data, err := bson.MarshalValue(o.Value)
		if err != nil {
			return nil, err
		}
		b.AppendValue(head, bsoncore.Value{Type: bsoncore.Type(t), Data: data})
	}
	return b.Build(), nil
}
