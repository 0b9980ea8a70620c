package router

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/shards"
)

// Whether the shards' clocks follow the router's. A mongod moves its cluster time to a gossiped
// $clusterTime only when the time is signed with its own keys or its sender holds
// advanceClusterTime on the cluster (vector_clock.cpp, logical_time_validator.cpp). The router
// holds no shard's keys, so its times move a shard's clock only when the shard runs without
// authentication (everyone holds every privilege there) or the router's shard user holds that
// privilege, as the key file's __system does. A snapshot over several shards needs it: each must
// accept the one atClusterTime the router chose (txn.go).

// recheckClockAfter is how long a shard found not to follow waits before it is asked again (its
// user may be granted advanceClusterTime meanwhile).
const recheckClockAfter = time.Minute

// internalUser is the key file's user as shards.Shard.AuthUser names it.
const internalUser = shards.InternalUser + "@" + shards.InternalSource

// clockFollowers remembers what the shards said, by shard index.
type clockFollowers struct {
	follows   []atomic.Bool
	refusedAt []atomic.Int64 // unix nanoseconds of the last answer that it does not follow
}

func newClockFollowers(n int) *clockFollowers {
	return &clockFollowers{follows: make([]atomic.Bool, n), refusedAt: make([]atomic.Int64, n)}
}

// shardsFollowClock reports whether every shard's clock follows the router's. A shard the router
// authenticates to as a user other than __system is asked (connectionStatus with
// showPrivileges) until it says yes; otherwise user is the one the router authenticates as.
func (s *Server) shardsFollowClock(ctx context.Context) (user string, follow bool) {
	f := s.follows
	for i, sh := range s.cluster.Shards() {
		u := sh.AuthUser()
		if u == "" || u == internalUser || f.follows[i].Load() {
			continue
		}
		if at := f.refusedAt[i].Load(); at != 0 && time.Since(time.Unix(0, at)) < recheckClockAfter {
			return u, false
		}
		may, asked := mayAdvanceClock(ctx, sh)
		if !may {
			if asked { // a shard that could not be asked is asked again next time
				f.refusedAt[i].Store(time.Now().UnixNano())
			}
			return u, false
		}
		f.follows[i].Store(true)
	}
	return "", true
}

// connectionStatusCommand asks a member what the router's connection may do.
var connectionStatusCommand = bsoncore.NewDocumentBuilder().AppendInt32("connectionStatus", 1).
	AppendBoolean("showPrivileges", true).AppendString("$db", "admin").Build()

// mayAdvanceClock reports whether the router's user on sh holds advanceClusterTime on the
// cluster, or every action on every resource; asked is false when sh could not answer.
func mayAdvanceClock(ctx context.Context, sh *shards.Shard) (may, asked bool) {
	reply, err := sh.Command(ctx, connectionStatusCommand)
	if err != nil || !reply.Status.OK {
		return false, false
	}
	info, _ := bsonview.Lookup(reply.Body, "authInfo")
	doc, _ := info.DocumentOK()
	privs, _ := doc.Lookup("authenticatedUserPrivileges").ArrayOK()
	vals, _ := privs.Values()
	for _, v := range vals {
		p, _ := v.DocumentOK()
		res, _ := p.Lookup("resource").DocumentOK()
		actions, _ := p.Lookup("actions").ArrayOK()
		names, _ := actions.Values()
		has := func(action string) bool {
			return slices.ContainsFunc(names, func(n bsoncore.Value) bool { s, _ := n.StringValueOK(); return s == action })
		}
		cluster, _ := res.Lookup("cluster").BooleanOK()
		anyResource, _ := res.Lookup("anyResource").BooleanOK()
		if cluster && (has("advanceClusterTime") || has("anyAction")) || anyResource && has("anyAction") {
			return true, true
		}
	}
	return false, true
}
