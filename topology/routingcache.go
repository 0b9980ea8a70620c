package topology

import (
	"strings"
	"sync"
)

// routingCache holds the routing tables this router has read, by database and collection
// (nested maps, so a lookup by a command's names needs no concatenation), with the routing state
// it last installed: the metadata version and the critical sections under way
// (routingstate.go).
type routingCache struct {
	mu       sync.RWMutex
	version  int64
	known    bool // a state was installed (version means something)
	sections []criticalSection
	dbs      map[string]map[string]*Routing // db → coll ("" for the database itself) → table
}

func newRoutingCache() *routingCache {
	return &routingCache{dbs: map[string]map[string]*Routing{}}
}

func (rc *routingCache) get(db, coll string) *Routing {
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	return rc.dbs[db][coll]
}

// installed is the metadata version the cache holds tables of.
func (rc *routingCache) installed() int64 {
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	return rc.version
}

// put caches rt, read while version was installed, unless a newer version came since.
func (rc *routingCache) put(db, coll string, rt *Routing, version int64) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.version != version {
		return
	}
	colls := rc.dbs[db]
	if colls == nil {
		colls = map[string]*Routing{}
		rc.dbs[db] = colls
	}
	colls[coll] = rt
}

// blocked reports whether a critical section covers db.coll (or db itself).
func (rc *routingCache) blocked(db, coll string) bool {
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	for _, s := range rc.sections {
		if s.covers(db, coll) {
			return true
		}
	}
	return false
}

// install takes a routing state read from the config shard. The tables of the namespaces its
// change log names since the installed version are dropped (all of them when the log does not
// reach back that far, or nothing was installed yet); the databases whose placement may have
// changed are returned. It reports whether the version moved.
func (rc *routingCache) install(st routingState) (moved bool, dbs []string, all bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.sections = st.Sections
	if rc.known && st.Version == rc.version {
		return false, nil, false
	}
	changed, complete := st.changedSince(rc.version)
	if !rc.known || !complete {
		clear(rc.dbs)
		all = true
	} else {
		for _, ns := range changed {
			db, coll, isColl := strings.Cut(ns, ".")
			if !isColl {
				delete(rc.dbs, db)
				dbs = append(dbs, db)
				continue
			}
			delete(rc.dbs[db], coll)
		}
	}
	rc.version, rc.known = st.Version, true
	return true, dbs, all
}

// flush drops every table (db empty) or db's.
func (rc *routingCache) flush(db string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if db == "" {
		clear(rc.dbs)
		return
	}
	delete(rc.dbs, db)
}
