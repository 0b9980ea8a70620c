package integration

import (
	"strings"
	"testing"

	"github.com/mongos-lite/mongos-lite/shards/memshard"
)

// replicaSet is one shard's replica set as the tests see it: a memshard set, whose members a
// test can stop, step down and inspect, or a real one named by MONGOS_LITE_IT_SHARDS, of which
// only the name and hosts are known. On a real set the memshard-only controls skip the test
// that started the cluster (call them from its goroutine); tests that need them should say so
// up front with requireMemshard, before starting a cluster.
type replicaSet struct {
	t     testing.TB
	mem   *memshard.ReplicaSet // nil on a real cluster
	shard string               // the shard's name for the router
	name  string               // real sets: replica set name and seed hosts
	hosts []string
}

func (s *replicaSet) Name() string {
	if s.mem != nil {
		return s.mem.Name()
	}
	return s.name
}

func (s *replicaSet) Hosts() []string {
	if s.mem != nil {
		return s.mem.Hosts()
	}
	return append([]string(nil), s.hosts...)
}

func (s *replicaSet) URI() string {
	if s.mem != nil {
		return s.mem.URI()
	}
	return "mongodb://" + strings.Join(s.hosts, ",") + "/?replicaSet=" + s.name
}

// Memshard returns the memshard set, for controls without a wrapper below.
func (s *replicaSet) Memshard() *memshard.ReplicaSet {
	if s.mem == nil {
		s.t.Helper()
		s.t.Skipf("replica set %s is a real one (%s): this test needs memshard's controls", s.name, itShardsEnv)
	}
	return s.mem
}

func (s *replicaSet) Primary() int                  { return s.Memshard().Primary() }
func (s *replicaSet) Member(i int) *memshard.Member { return s.Memshard().Member(i) }
func (s *replicaSet) StopMember(i int) error        { return s.Memshard().StopMember(i) }
func (s *replicaSet) StartMember(i int) error       { return s.Memshard().StartMember(i) }
func (s *replicaSet) StepDown(newPrimary int) error { return s.Memshard().StepDown(newPrimary) }
