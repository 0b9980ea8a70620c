package shards

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// Integration tests: the shard is an in-process memshard replica set.

func startSet(t testing.TB, opts ...memshard.Option) *memshard.ReplicaSet {
	t.Helper()
	rs, err := memshard.StartReplicaSet("rs0", 3, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rs.Close(); err != nil {
			t.Errorf("memshard Close: %v", err)
		}
	})
	return rs
}

// openSet opens a shard on rs and waits until its primary is known.
func openSet(t *testing.T, rs *memshard.ReplicaSet) *Shard {
	t.Helper()
	s := openShard(t, rs.Hosts(), nil)
	waitFor(t, "a primary", s.HasPrimary)
	return s
}

// run sends body through RoundTrip and returns the reply body and the host.
func run(t *testing.T, s *Shard, rp ReadPref, body bson.D) (bson.Raw, string) {
	t.Helper()
	msg := command(0, body)
	reply, host, err := s.RoundTrip(testCtx(t, 10*time.Second), rp, msg, nil)
	if err != nil {
		t.Fatalf("%v: %v", body[0].Key, err)
	}
	return replyBody(t, reply), host
}

func wantOK(t *testing.T, reply bson.Raw) {
	t.Helper()
	if ok, _ := reply.Lookup("ok").AsFloat64OK(); ok != 1 {
		t.Fatalf("reply not ok: %v", reply)
	}
}

func insertDoc(id int) bson.D {
	return bson.D{{Key: "insert", Value: "c"}, {Key: "documents", Value: bson.A{bson.D{{Key: "_id", Value: id}}}}, {Key: "$db", Value: "test"}}
}

func findDoc(id int, rp string) bson.D {
	d := bson.D{{Key: "find", Value: "c"}, {Key: "filter", Value: bson.D{{Key: "_id", Value: id}}}, {Key: "$db", Value: "test"}}
	if rp != "" {
		d = append(d, bson.E{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: rp}}})
	}
	return d
}

func firstBatchLen(t *testing.T, reply bson.Raw) int {
	t.Helper()
	batch, ok := reply.Lookup("cursor", "firstBatch").ArrayOK()
	if !ok {
		t.Fatalf("no cursor.firstBatch in %v", reply)
	}
	vals, _ := batch.Values()
	return len(vals)
}

func TestMemshardPrimaryRoundTrips(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	primary := rs.Hosts()[rs.Primary()]

	reply, host := run(t, s, Primary(), ping)
	wantOK(t, reply)
	if host != primary {
		t.Errorf("ping went to %s, primary is %s", host, primary)
	}
	reply, host = run(t, s, Primary(), insertDoc(1))
	wantOK(t, reply)
	if n, _ := reply.Lookup("n").AsInt64OK(); n != 1 || host != primary {
		t.Errorf("insert: n %d on %s: %v", n, host, reply)
	}
	reply, _ = run(t, s, Primary(), findDoc(1, ""))
	wantOK(t, reply)
	if n := firstBatchLen(t, reply); n != 1 {
		t.Errorf("find returned %d documents", n)
	}
}

func TestMemshardSecondaryRead(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	waitFor(t, "two secondaries", func() bool {
		_, _, ok := s.WireVersions()
		return ok && len(secondaries(s)) == 2
	})
	primary := rs.Hosts()[rs.Primary()]
	for _, mode := range []string{"secondary", "secondaryPreferred"} {
		rp, err := ReadPrefFrom(mustDoc(findDoc(1, mode)))
		if err != nil {
			t.Fatal(err)
		}
		reply, host := run(t, s, rp, findDoc(1, mode))
		wantOK(t, reply)
		if host == primary || !slices.Contains(rs.Hosts(), host) {
			t.Errorf("%s read went to %s (primary %s)", mode, host, primary)
		}
		if n := rs.Member(slices.Index(rs.Hosts(), host)).CommandCount("find"); n < 1 {
			t.Errorf("member %s ran find %d times", host, n)
		}
	}
}

// secondaries lists the members the shard currently sees as secondaries.
func secondaries(s *Shard) []string {
	var out []string
	for _, srv := range s.topo.Description().Servers {
		if srv.Kind.String() == "RSSecondary" {
			out = append(out, srv.Addr.String())
		}
	}
	return out
}

func TestMemshardRoundTripHostEachMember(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	waitFor(t, "every member", func() bool { return len(s.Members()) == 3 })
	for i, host := range rs.Hosts() {
		msg := command(0, ping)
		reply, err := s.RoundTripHost(testCtx(t, 10*time.Second), host, msg, nil)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		wantOK(t, replyBody(t, reply))
		if n := rs.Member(i).CommandCount("ping"); n != 1 {
			t.Errorf("member %d ran ping %d times", i, n)
		}
	}
}

func TestMemshardStoppedMember(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	waitFor(t, "every member", func() bool { return len(s.Members()) == 3 })
	down := (rs.Primary() + 1) % 3
	if err := rs.StopMember(down); err != nil {
		t.Fatal(err)
	}
	hosts := rs.Hosts()
	start := time.Now()
	_, err := s.RoundTripHost(testCtx(t, 3*time.Second), hosts[down], command(0, ping), nil)
	if code := codeOf(err); code != mongoerr.HostUnreachable && code != mongoerr.NetworkTimeout {
		t.Errorf("stopped member: %v (code %d)", err, code)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stopped member took %v", d)
	}
	if !slices.Contains(s.Members(), hosts[down]) {
		t.Errorf("Members %v lost the stopped member (kills must still try it)", s.Members())
	}
	for i, host := range hosts {
		if i == down {
			continue
		}
		if _, err := s.RoundTripHost(testCtx(t, 10*time.Second), host, command(0, ping), nil); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	reply, _ := run(t, s, Primary(), insertDoc(2))
	wantOK(t, reply)
}

func TestMemshardStoppedPrimary(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	waitFor(t, "two secondaries", func() bool { return len(secondaries(s)) == 2 })
	if err := rs.StopMember(rs.Primary()); err != nil {
		t.Fatal(err)
	}
	// Whether the first attempt hits the dead connection or finds no primary, the answer comes
	// within the caller's deadline.
	start := time.Now()
	for range 2 {
		_, _, err := s.RoundTrip(testCtx(t, time.Second), Primary(), command(0, ping), nil)
		if code := codeOf(err); code != mongoerr.FailedToSatisfyReadPreference && code != mongoerr.HostUnreachable {
			t.Errorf("primary down: %v (code %d)", err, code)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v", d)
	}
	rp := ReadPref{Mode: ModeSecondary}
	reply, _ := run(t, s, rp, bson.D{{Key: "ping", Value: 1}, {Key: "$db", Value: "admin"},
		{Key: "$readPreference", Value: bson.D{{Key: "mode", Value: "secondary"}}}})
	wantOK(t, reply)
}

func TestMemshardStepDown(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	hosts := rs.Hosts()
	next := (rs.Primary() + 1) % 3
	if err := rs.StepDown(next); err != nil {
		t.Fatal(err)
	}
	// The first writes may still reach the old primary (its NotWritablePrimary reply is what
	// tells SDAM); poll until one lands on the new primary.
	deadline := time.Now().Add(15 * time.Second)
	for id := 10; ; id++ {
		reply, host := run(t, s, Primary(), insertDoc(id))
		if ok, _ := reply.Lookup("ok").AsFloat64OK(); ok == 1 && host == hosts[next] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes still reach %s: %v", host, reply)
		}
	}
}

func TestMemshardMoreToCome(t *testing.T) {
	rs := startSet(t)
	s := openSet(t, rs)
	insert := append(insertDoc(3), bson.E{Key: "writeConcern", Value: bson.D{{Key: "w", Value: 0}}})
	reply, host, err := s.RoundTrip(testCtx(t, 10*time.Second), Primary(), command(wire.MoreToCome, insert), nil)
	if err != nil || reply.Body != nil || host != rs.Hosts()[rs.Primary()] {
		t.Fatalf("RoundTrip = %v, %q, %v", reply, host, err)
	}
	// The unacknowledged insert is applied asynchronously: poll for it.
	waitFor(t, "the w:0 insert", func() bool {
		reply, _ := run(t, s, Primary(), findDoc(3, ""))
		return firstBatchLen(t, reply) == 1
	})
}

func TestMemshardTopologyInfo(t *testing.T) {
	rs := startSet(t, memshard.WithSessionTimeout(7))
	s := openSet(t, rs)
	waitFor(t, "every member", func() bool { return len(s.Members()) == 3 && len(secondaries(s)) == 2 })
	want := slices.Sorted(slices.Values(rs.Hosts()))
	if got := s.Members(); !slices.Equal(got, want) {
		t.Errorf("Members = %v, want %v", got, want)
	}
	if lo, hi, ok := s.WireVersions(); !ok || lo > 17 || hi < 21 {
		t.Errorf("WireVersions = %d, %d, %v", lo, hi, ok)
	}
	if m, ok := s.SessionTimeoutMinutes(); m != 7 || !ok {
		t.Errorf("SessionTimeoutMinutes = %d, %v", m, ok)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	rs := startSet(b)
	s, err := Open(Config{Name: "s1", SetName: rs.Name(), Hosts: rs.Hosts()})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close(context.Background()) }()
	msg := command(0, ping)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, _, err := s.RoundTrip(ctx, Primary(), msg, nil); err != nil { // discovery and first connection
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.RoundTrip(ctx, Primary(), msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
