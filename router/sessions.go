package router

import (
	"context"
	"strconv"
	"time"

	"github.com/mongos-lite/mongos-lite/internal/outcome"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/sessionfanout"
	"github.com/mongos-lite/mongos-lite/shards"
)

// The session commands (docs/architecture.md, "Session fan-out"). Who may name which uid follows
// the caller's identity (identity.go): without authentication, anyone may name any uid
// (src/mongo/db/logical_session_id_helpers.cpp).

// sessionCommands manage sessions rather than run in one, so their own lsid is not vivified.
var sessionCommands = map[string]bool{
	"startSession": true, "refreshSessions": true, "endSessions": true,
	"killSessions": true, "killAllSessions": true, "killAllSessionsByPattern": true,
}

var killFailed = mongoerr.New(mongoerr.HostUnreachable, "Failed to kill sessions on some hosts")

func (c *conn) startSession(_ context.Context, r *request) (bsoncore.Document, error) {
	if err := r.who.requireSessions(); err != nil {
		return nil, err
	}
	id := sessionid.NewID(r.who.uid)
	if err := c.s.sessions.Vivify(id, r.who.owner()); err != nil {
		return nil, err
	}
	return bsoncore.NewDocumentBuilder().
		AppendDocument("id", id.AppendClientDoc(nil)).
		AppendInt32("timeoutMinutes", c.s.sessionTimeoutMinutes()).
		AppendDouble("ok", 1).Build(), nil
}

// refreshSessions vivifies the ids here and refreshes them on every shard's primary: each shard
// keeps its own sessions collection, so each must hear of it.
func (c *conn) refreshSessions(ctx context.Context, r *request) (bsoncore.Document, error) {
	ids, err := sessionid.ParseList(r.Body, r.who.uid, r.who.can(auth.ActionImpersonate))
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if err := c.s.sessions.Vivify(id, r.who.owner()); err != nil {
			return nil, err
		}
	}
	defer c.countShardTime(time.Now())
	return c.s.toPrimaries(ctx, r.who.identify(sessionListCommand("refreshSessions", ids))), nil
}

// endSessions marks the sessions ending here (their router cursors close at the next refresh,
// as on mongod) and ends them on every shard's primary.
func (c *conn) endSessions(ctx context.Context, r *request) (bsoncore.Document, error) {
	ids, err := sessionid.ParseList(r.Body, r.who.uid, r.who.can(auth.ActionImpersonate))
	if err != nil {
		return nil, err
	}
	c.s.sessions.End(ids)
	defer c.countShardTime(time.Now())
	return c.s.toPrimaries(ctx, r.who.identify(sessionListCommand("endSessions", ids))), nil
}

// killSessions serves killSessions, killAllSessions and killAllSessionsByPattern as mongos does:
// the router's own cursors of matching sessions go first, then killAllSessionsByPattern with
// full lsids/uids goes to every member of every shard (secondaries hold cursors too): one
// encoding, shared by every member, in bodies of bounded size however many sessions are named.
func (c *conn) killSessions(ctx context.Context, r *request) (bsoncore.Document, error) {
	p, err := sessionid.ParseKillAs(r.Body, r.who.uid, r.who.auth, r.who.can(auth.ActionKillAnySession))
	if err != nil {
		return nil, err
	}
	if p.Impersonation && !r.who.can(auth.ActionImpersonate) {
		return nil, mongoerr.New(mongoerr.Unauthorized, "Not authorized to impersonate in killAllSessionsByPattern")
	}
	c.s.dropCursors(c.s.sessions.Kill(&p))
	if p.None() {
		return nil, nil
	}
	defer c.countShardTime(time.Now())
	bodies := p.KillCommands(sessionid.MaxKillBatch)
	for i, b := range bodies {
		bodies[i] = r.who.identify(b)
	}
	return c.s.toEveryMember(ctx, bodies, killFailed), nil
}

// sessionListCommand is {<name>: [{id, uid}...], $db: "admin"}.
func sessionListCommand(name string, ids []sessionid.ID) bsoncore.Document {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	aidx, dst := bsoncore.AppendArrayElementStart(dst, name)
	for i, id := range ids {
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, strconv.Itoa(i))
		dst = id.AppendDoc(dst)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, aidx)
	dst = bsoncore.AppendStringElement(dst, "$db", "admin")
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// countShardTime adds a broadcast's wall time, from start, to the command's shard time (the
// metrics' router-own time is the rest).
func (c *conn) countShardTime(start time.Time) { c.shardTime += time.Since(start) }

func (s *Server) fanoutOptions() sessionfanout.Options {
	return sessionfanout.Options{
		MaxConcurrency:   s.cfg.KillSessionsMaxConcurrency,
		PerTargetTimeout: s.cfg.KillSessionsPerHostTimeout,
	}
}

// shardTarget is one shard's primary in a fan-out; raw names it by the shard's name.
type shardTarget struct{ shard *shards.Shard }

func (t shardTarget) String() string { return t.shard.Name() }

// memberTarget is one member in a fan-out; raw names it "shard/host:port".
type memberTarget struct {
	shard *shards.Shard
	host  string
}

func (t memberTarget) String() string { return t.shard.Name() + "/" + t.host }

// toPrimaries runs body on every shard's primary concurrently and folds the replies into one,
// with a raw entry per shard when any failed.
func (s *Server) toPrimaries(ctx context.Context, body bsoncore.Document) bsoncore.Document {
	return sessionfanout.Aggregate(s.broadcastPrimaries(ctx, body), nil)
}

// broadcastPrimaries runs body on every shard's primary concurrently; results are in shard order.
func (s *Server) broadcastPrimaries(ctx context.Context, body bsoncore.Document) []sessionfanout.Result[shardTarget, outcome.Reply] {
	targets := make([]shardTarget, len(s.cluster.Shards()))
	for i, sh := range s.cluster.Shards() {
		targets[i] = shardTarget{sh}
	}
	defer s.observeFanout(body, len(targets), time.Now())
	return sessionfanout.Broadcast(ctx, targets, s.fanoutOptions(),
		func(ctx context.Context, t shardTarget) (outcome.Reply, error) {
			reply, err := t.shard.Command(ctx, body)
			return reply.Reply, err
		})
}

func (s *Server) observeFanout(body bsoncore.Document, targets int, start time.Time) {
	s.cfg.Observer.FanoutDone(commandName(body), targets, time.Since(start))
}

// toEveryMember runs bodies, in order, on every member of every shard concurrently; a member's
// result is its first failure or its last reply. The bodies are only read, so every member
// shares them.
func (s *Server) toEveryMember(ctx context.Context, bodies []bsoncore.Document, onFailure *mongoerr.Error) bsoncore.Document {
	var targets []memberTarget
	for _, sh := range s.cluster.Shards() {
		for _, host := range sh.Members() {
			targets = append(targets, memberTarget{shard: sh, host: host})
		}
	}
	start := time.Now()
	results := sessionfanout.Broadcast(ctx, targets, s.fanoutOptions(),
		func(ctx context.Context, m memberTarget) (outcome.Reply, error) {
			var reply shards.Reply
			var err error
			for _, body := range bodies {
				reply, err = m.shard.CommandHost(ctx, m.host, body)
				if err != nil || !reply.Status.OK {
					break
				}
			}
			return reply.Reply, err
		})
	s.observeFanout(bodies[0], len(targets), start)
	return sessionfanout.Aggregate(results, onFailure)
}

// dropCursors closes the router cursors of sessions that were killed, ended or reaped, and the
// shard cursors behind them, as mongos's killCursorsWithMatchingSessions does.
func (s *Server) dropCursors(ids []int64) {
	s.cursors.Kill(ids, true)
}
