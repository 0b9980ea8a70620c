package sessioncache

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

func TestList(t *testing.T) {
	clock := newFakeClock()
	c := New(Config{Clock: clock.Now})
	a, b, gone := sessionid.NewID(alice), sessionid.NewID(bob), sessionid.NewID(bob)
	_ = c.Vivify(gone, "bob@test")
	c.Refresh(context.Background(), IO{}) // gone is cached but not used since the refresh
	clock.Advance(time.Second)
	_ = c.Vivify(a, "alice@admin")
	_ = c.Vivify(b, "")
	tests := []struct {
		name string
		spec sessionid.ListSpec
		want map[sessionid.ID]string
	}{
		{"all users", sessionid.ListSpec{AllUsers: true}, map[sessionid.ID]string{a: "alice@admin", b: ""}},
		{"one user", sessionid.ListSpec{UIDs: []sessionid.UID{bob}}, map[sessionid.ID]string{b: ""}},
		{"nobody", sessionid.ListSpec{UIDs: []sessionid.UID{sessionid.NoAuthUID}}, map[sessionid.ID]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.List(tt.spec)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v", got)
			}
			for _, r := range got {
				if user, ok := tt.want[r.ID]; !ok || user != r.User || !r.LastUse.Equal(clock.Now()) {
					t.Fatalf("unexpected record %+v", r)
				}
			}
		})
	}
}

func TestRecordDoc(t *testing.T) {
	id := sessionid.ID{ID: [16]byte{1}, UID: alice}
	at := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name string
		r    Record
		want bson.D
	}{
		{"with user", Record{ID: id, LastUse: at, User: "alice@admin"}, bson.D{
			{Key: "_id", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id.ID[:]}}, {Key: "uid", Value: bson.Binary{Data: alice[:]}}}},
			{Key: "lastUse", Value: bson.NewDateTimeFromTime(at)}, {Key: "user", Value: "alice@admin"}}},
		{"without auth", Record{ID: id, LastUse: at}, bson.D{
			{Key: "_id", Value: bson.D{{Key: "id", Value: bson.Binary{Subtype: 4, Data: id.ID[:]}}, {Key: "uid", Value: bson.Binary{Data: alice[:]}}}},
			{Key: "lastUse", Value: bson.NewDateTimeFromTime(at)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := bson.Marshal(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.r.AppendDoc(nil); string(got) != string(want) {
				t.Fatalf("got %v\nwant %v", bson.Raw(got), bson.Raw(want))
			}
		})
	}
}
