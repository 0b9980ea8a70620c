package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestFindReturnKeyAndShowRecordID(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "rk", obj("_id", 3, "x", 1), obj("_id", 1, "x", 3), obj("_id", 2, "x", 2))
	// Deleting and inserting again makes a new record, with the next id.
	mustOK(t, c.run(bson.D{{Key: "delete", Value: "rk"}, {Key: "deletes", Value: bson.A{obj("q", obj("_id", 1), "limit", 1)}}, {Key: "$db", Value: "test"}}))
	insertDocs(t, c, "test", "rk", obj("_id", 1, "x", 3))
	find := func(extra ...bson.E) bson.D {
		return append(bson.D{{Key: "find", Value: "rk"}, {Key: "$db", Value: "test"}}, extra...)
	}
	for _, tc := range []struct {
		name string
		cmd  bson.D
		want []bson.D
	}{
		{"returnKey over the _id index (sort)", find(bson.E{Key: "sort", Value: obj("_id", 1)}, bson.E{Key: "returnKey", Value: true}),
			[]bson.D{obj("_id", 1), obj("_id", 2), obj("_id", 3)}},
		{"returnKey and showRecordId: keys only", find(bson.E{Key: "sort", Value: obj("_id", 1)}, bson.E{Key: "returnKey", Value: true}, bson.E{Key: "showRecordId", Value: true}),
			[]bson.D{obj("_id", 1), obj("_id", 2), obj("_id", 3)}},
		{"returnKey over the _id index (range)", find(bson.E{Key: "filter", Value: obj("_id", obj("$gte", 2))}, bson.E{Key: "sort", Value: obj("x", -1)},
			bson.E{Key: "returnKey", Value: true}), []bson.D{obj("_id", 2), obj("_id", 3)}},
		{"returnKey without an index", find(bson.E{Key: "filter", Value: obj("x", obj("$gt", 1))}, bson.E{Key: "sort", Value: obj("x", 1)}, bson.E{Key: "returnKey", Value: true}),
			[]bson.D{{}, {}}},
		{"showRecordId", find(bson.E{Key: "showRecordId", Value: true}),
			[]bson.D{obj("_id", 3, "x", 1, "$recordId", int64(1)), obj("_id", 2, "x", 2, "$recordId", int64(3)), obj("_id", 1, "x", 3, "$recordId", int64(4))}},
		{"showRecordId after projection", find(bson.E{Key: "filter", Value: obj("_id", 2)}, bson.E{Key: "projection", Value: obj("x", 1, "_id", 0)}, bson.E{Key: "showRecordId", Value: true}),
			[]bson.D{obj("x", 2, "$recordId", int64(3))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := mustOK(t, c.run(tc.cmd))
			if got, want := reply.Lookup("cursor", "firstBatch").String(), jsonArray(t, tc.want...); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}
