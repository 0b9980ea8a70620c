package sessioncache

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

func TestStats(t *testing.T) {
	clock := newFakeClock()
	started := clock.Now()
	c := New(Config{Clock: clock.Now})
	if st := c.Stats(); !st.LastSessionsCollectionJobTimestamp.Equal(started) || st.SessionsCollectionJobCount != 0 {
		t.Fatalf("initial %+v", st)
	}
	ids := newIDs(3, alice)
	seed(t, c, ids, []uint64{1, 1, 2})
	_ = c.AddCursor(ids[0], 5)
	c.End(ids[:1])
	clock.Advance(time.Minute)
	var io fakeIO
	c.Refresh(context.Background(), io.io())
	_ = c.Vivify(ids[1], "")
	st := c.Stats()
	want := Stats{
		ActiveSessionsCount: 1, SessionsCollectionJobCount: 1, LastSessionsCollectionJobTimestamp: clock.Now(),
		LastSessionsCollectionJobEntriesRefreshed: 2, LastSessionsCollectionJobEntriesEnded: 1,
		LastSessionsCollectionJobCursorsClosed: 1, TransactionReaperJobCount: 1,
		LastTransactionReaperJobTimestamp: clock.Now(),
	}
	if st != want {
		t.Fatalf("got  %+v\nwant %+v", st, want)
	}
}

func TestStatsDoc(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	st := Stats{ActiveSessionsCount: 3, SessionsCollectionJobCount: 2, LastSessionsCollectionJobDurationMillis: 7,
		LastSessionsCollectionJobTimestamp: at, LastSessionsCollectionJobEntriesFailedToRefresh: 1,
		LastSessionsCollectionJobEntriesRefreshed: 4, LastSessionsCollectionJobEntriesEnded: 5,
		LastSessionsCollectionJobCursorsClosed: 6, TransactionReaperJobCount: 2, LastTransactionReaperJobDurationMillis: 8,
		LastTransactionReaperJobTimestamp: at, LastTransactionReaperJobEntriesCleanedUp: 9}
	want := bson.D{
		{Key: "activeSessionsCount", Value: int32(3)},
		{Key: "sessionsCollectionJobCount", Value: int32(2)},
		{Key: "lastSessionsCollectionJobDurationMillis", Value: int32(7)},
		{Key: "lastSessionsCollectionJobTimestamp", Value: bson.NewDateTimeFromTime(at)},
		{Key: "lastSessionsCollectionJobEntriesFailedToRefresh", Value: int32(1)},
		{Key: "lastSessionsCollectionJobEntriesRefreshed", Value: int32(4)},
		{Key: "lastSessionsCollectionJobEntriesEnded", Value: int32(5)},
		{Key: "lastSessionsCollectionJobCursorsClosed", Value: int32(6)},
		{Key: "transactionReaperJobCount", Value: int32(2)},
		{Key: "lastTransactionReaperJobDurationMillis", Value: int32(8)},
		{Key: "lastTransactionReaperJobTimestamp", Value: bson.NewDateTimeFromTime(at)},
		{Key: "lastTransactionReaperJobEntriesCleanedUp", Value: int32(9)},
	}
	wantRaw, _ := bson.Marshal(want)
	if got := st.AppendDoc(nil); string(got) != string(wantRaw) {
		t.Fatalf("got %v\nwant %v", bsoncore.Document(got), bsoncore.Document(wantRaw))
	}
}
