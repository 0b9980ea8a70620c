package topology

// Flush drops every cached placement, as mongos's flushRouterConfig purges its catalog cache
// (cluster_flush_router_config_cmd.cpp): the next command of each database reads its entry in
// config.databases again, so a placement changed behind this router's back is seen.
func (c *Cluster[S]) Flush() {
	p := c.placement
	p.mu.Lock()
	clear(p.cache)
	p.mu.Unlock()
}

// FlushDatabase drops db's cached placement only.
func (c *Cluster[S]) FlushDatabase(db string) {
	p := c.placement
	p.mu.Lock()
	delete(p.cache, db)
	p.mu.Unlock()
}
