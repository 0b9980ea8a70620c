package topology

// Flush drops every cached placement and routing table, as mongos's flushRouterConfig purges its
// catalog cache (cluster_flush_router_config_cmd.cpp), and makes the next command read the
// routing state again: what changed behind this router's back is seen.
func (c *Cluster[S]) Flush() {
	c.placement.flush("")
	c.cache.flush("")
	c.agree.validUntil.Store(0)
}

// FlushDatabase drops db's cached placement and routing tables only.
func (c *Cluster[S]) FlushDatabase(db string) {
	c.placement.flush(db)
	c.cache.flush(db)
}

// FlushCollection drops db.coll's cached routing table only.
func (c *Cluster[S]) FlushCollection(db, coll string) {
	c.cache.mu.Lock()
	defer c.cache.mu.Unlock()
	delete(c.cache.dbs[db], coll)
}

// flush drops every cached placement (db empty) or db's.
func (p *placement) flush(db string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if db == "" {
		clear(p.cache)
		return
	}
	delete(p.cache, db)
}
