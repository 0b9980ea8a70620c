package sessioncache

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Stats is serverStatus.logicalSessionRecordCache, with mongod's LogicalSessionCacheStats field
// names. The refresh job is the "sessions collection job"; reaping idle sessions is the
// "transaction reaper job" (on mongos it reaps the router's session catalog).
type Stats struct {
	ActiveSessionsCount                             int
	SessionsCollectionJobCount                      int
	LastSessionsCollectionJobDurationMillis         int
	LastSessionsCollectionJobTimestamp              time.Time
	LastSessionsCollectionJobEntriesFailedToRefresh int
	LastSessionsCollectionJobEntriesRefreshed       int
	LastSessionsCollectionJobEntriesEnded           int
	LastSessionsCollectionJobCursorsClosed          int
	TransactionReaperJobCount                       int
	LastTransactionReaperJobDurationMillis          int
	LastTransactionReaperJobTimestamp               time.Time
	LastTransactionReaperJobEntriesCleanedUp        int
}

// Stats returns the current statistics.
func (c *Cache) Stats() Stats {
	c.statM.Lock()
	s := c.stats
	c.statM.Unlock()
	s.ActiveSessionsCount = c.ActiveCount()
	return s
}

// AppendDoc appends the serverStatus section document, fields in mongod's order (int32 counts,
// Date timestamps).
func (s Stats) AppendDoc(dst []byte) []byte {
	i32 := func(n int) int32 { return int32(min(n, 1<<31-1)) }
	idx, dst := bsoncore.AppendDocumentStart(dst)
	dst = bsoncore.AppendInt32Element(dst, "activeSessionsCount", i32(s.ActiveSessionsCount))
	dst = bsoncore.AppendInt32Element(dst, "sessionsCollectionJobCount", i32(s.SessionsCollectionJobCount))
	dst = bsoncore.AppendInt32Element(dst, "lastSessionsCollectionJobDurationMillis", i32(s.LastSessionsCollectionJobDurationMillis))
	dst = bsoncore.AppendDateTimeElement(dst, "lastSessionsCollectionJobTimestamp", s.LastSessionsCollectionJobTimestamp.UnixMilli())
	dst = bsoncore.AppendInt32Element(dst, "lastSessionsCollectionJobEntriesFailedToRefresh", i32(s.LastSessionsCollectionJobEntriesFailedToRefresh))
	dst = bsoncore.AppendInt32Element(dst, "lastSessionsCollectionJobEntriesRefreshed", i32(s.LastSessionsCollectionJobEntriesRefreshed))
	dst = bsoncore.AppendInt32Element(dst, "lastSessionsCollectionJobEntriesEnded", i32(s.LastSessionsCollectionJobEntriesEnded))
	dst = bsoncore.AppendInt32Element(dst, "lastSessionsCollectionJobCursorsClosed", i32(s.LastSessionsCollectionJobCursorsClosed))
	dst = bsoncore.AppendInt32Element(dst, "transactionReaperJobCount", i32(s.TransactionReaperJobCount))
	dst = bsoncore.AppendInt32Element(dst, "lastTransactionReaperJobDurationMillis", i32(s.LastTransactionReaperJobDurationMillis))
	dst = bsoncore.AppendDateTimeElement(dst, "lastTransactionReaperJobTimestamp", s.LastTransactionReaperJobTimestamp.UnixMilli())
	dst = bsoncore.AppendInt32Element(dst, "lastTransactionReaperJobEntriesCleanedUp", i32(s.LastTransactionReaperJobEntriesCleanedUp))
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}
