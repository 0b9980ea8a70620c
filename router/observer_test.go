package router

import (
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// recordingObserver keeps the last CommandDone of each command.
type recordingObserver struct {
	nopObserver
	mu   sync.Mutex
	done map[string][2]time.Duration // total, shard
}

func (o *recordingObserver) CommandDone(name string, total, shard time.Duration, _ int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done[name] = [2]time.Duration{total, shard}
}

func (o *recordingObserver) last(t *testing.T, name string) (total, shard time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, ok := o.done[name]
	if !ok {
		t.Fatalf("no CommandDone for %s", name)
	}
	return d[0], d[1]
}

// TestShardTimeCountsRoundTripsAndBroadcasts checks the split the metrics show as the router's own
// cost: a forwarded command and a session broadcast both report their shard time, a command
// answered by the router reports none.
func TestShardTimeCountsRoundTripsAndBroadcasts(t *testing.T) {
	obs := &recordingObserver{done: map[string][2]time.Duration{}}
	c := startBenchCluster(t, 1, 1, func(cfg *Config) { cfg.Observer = obs })
	const block = 50 * time.Millisecond
	dialBench(t, c.sets[0].Hosts()[0]).run(t, marshalBench(t, bson.D{
		{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"killAllSessionsByPattern", "find"}},
			{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: block.Milliseconds()}}},
		{Key: "$db", Value: "admin"}}))
	cl := dialBench(t, c.srv.Addr())
	lsid := sessionid.NewID(sessionid.NoAuthUID)
	for _, cmd := range []bson.D{
		{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"}},
		{{Key: "find", Value: "c"}, {Key: "$db", Value: "test"}},
		{{Key: "killSessions", Value: bson.A{bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: lsid.ID[:]}}}}},
			{Key: "$db", Value: "admin"}},
	} {
		cl.run(t, marshalBench(t, cmd))
	}
	if _, shard := obs.last(t, "ping"); shard != 0 {
		t.Errorf("ping: shard time %v, want 0", shard)
	}
	for _, name := range []string{"find", "killSessions"} {
		total, shard := obs.last(t, name)
		if shard < block || shard > total {
			t.Errorf("%s: shard time %v, total %v; want the shard's %v block within the total", name, shard, total, block)
		}
	}
}

// TestBroadcastStateChangeErrorsAreCloaked: a shard's NotWritablePrimary in a session broadcast
// reaches the client as HostUnreachable, as any shard reply does, so the client's driver does not
// take the router for a primary that stepped down.
func TestBroadcastStateChangeErrorsAreCloaked(t *testing.T) {
	c := startBenchCluster(t, 1, 1, nil)
	dialBench(t, c.sets[0].Hosts()[0]).run(t, marshalBench(t, bson.D{
		{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: "alwaysOn"},
		{Key: "data", Value: bson.D{{Key: "failCommands", Value: bson.A{"refreshSessions"}},
			{Key: "errorCode", Value: 10107}}},
		{Key: "$db", Value: "admin"}}))
	lsid := sessionid.NewID(sessionid.NoAuthUID)
	reply, err := dialBench(t, c.srv.Addr()).roundTrip(wire.AppendMsg(nil, 1, 0, 0, marshalBench(t, bson.D{
		{Key: "refreshSessions", Value: bson.A{bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: lsid.ID[:]}}}}},
		{Key: "$db", Value: "admin"}})))
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ParseMsg(reply)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := m.Body.Lookup("code").AsInt64OK()
	name, _ := m.Body.Lookup("codeName").StringValueOK()
	if code != int64(mongoerr.HostUnreachable) || name != "HostUnreachable" {
		t.Errorf("reply %v, want HostUnreachable in place of the shard's NotWritablePrimary", m.Body)
	}
}
