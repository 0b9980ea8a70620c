package memshard

import (
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestCollStatsStage: $collStats answers one document about the collection, {ns, host,
// localTime, storageStats, count}, with collStats's figures; later stages run over it; its
// errors are mongod's.
func TestCollStatsStage(t *testing.T) {
	rs := startSet(t, 1)
	cl := connect(t, rs.URI())
	f := loadStats(t, cl)
	agg := func(coll string, pipeline bson.A) ([]bson.Raw, error) {
		reply, err := runOn(ctxT(t), t, cl, "test", bson.D{{Key: "aggregate", Value: coll}, {Key: "pipeline", Value: pipeline}, {Key: "cursor", Value: bson.D{}}})
		if err != nil {
			return nil, err
		}
		var out struct {
			Cursor struct {
				FirstBatch []bson.Raw `bson:"firstBatch"`
				ID         int64      `bson:"id"`
			} `bson:"cursor"`
		}
		if err := bson.Unmarshal(reply, &out); err != nil || out.Cursor.ID != 0 {
			t.Fatalf("%v: %v", reply, err)
		}
		return out.Cursor.FirstBatch, nil
	}
	stage := bson.D{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{{Key: "scale", Value: 2}}}, {Key: "count", Value: bson.D{}}}}}
	docs, err := agg("c", bson.A{stage})
	if err != nil || len(docs) != 1 {
		t.Fatalf("%v, %v", docs, err)
	}
	elems, _ := docs[0].Elements()
	var keys []string
	for _, e := range elems {
		keys = append(keys, e.Key())
	}
	if want := []string{"ns", "host", "localTime", "storageStats", "count"}; !slices.Equal(keys, want) {
		t.Fatalf("fields %v, want %v", keys, want)
	}
	if ns := docs[0].Lookup("ns").StringValue(); ns != "test.c" || docs[0].Lookup("host").StringValue() != rs.Hosts()[0] {
		t.Fatalf("%v", docs[0])
	}
	if n := docs[0].Lookup("count").Int32(); n != 3 {
		t.Fatalf("count %d", n)
	}
	st := docs[0].Lookup("storageStats").Document()
	if st.Lookup("size").Int32() != int32(f.data/2) || st.Lookup("indexSizes", "x_1").Int32() != int32(f.xIndex/2) ||
		st.Lookup("scaleFactor").Int32() != 2 {
		t.Fatalf("storageStats %v, want the sizes of test.c halved", st)
	}
	docs, err = agg("c", bson.A{stage, bson.D{{Key: "$project", Value: bson.D{{Key: "n", Value: "$storageStats.count"}, {Key: "_id", Value: 0}}}}})
	if err != nil || len(docs) != 1 || docs[0].Lookup("n").Int32() != 3 {
		t.Fatalf("with $project: %v, %v", docs, err)
	}
	stageDoc := bson.D{{Key: "$collStats", Value: bson.D{{Key: "storageStats", Value: bson.D{}}}}}
	aggregate := func(coll any, pipeline ...bson.D) bson.D {
		return bson.D{{Key: "aggregate", Value: coll}, {Key: "pipeline", Value: pipeline}, {Key: "cursor", Value: bson.D{}}}
	}
	runErrorCases(t, cl, []errorCase{
		{"missing collection", "test", aggregate("missing", stageDoc), int32(mongoerr.NamespaceNotFound),
			"Unable to retrieve storageStats in $collStats stage :: caused by :: Collection [test.missing] not found."},
		{"missing database", "nodb", aggregate("c", stageDoc), int32(mongoerr.NamespaceNotFound),
			"Unable to retrieve storageStats in $collStats stage :: caused by :: Database [nodb] not found."},
		{"not an object", "test", aggregate("c", bson.D{{Key: "$collStats", Value: 1}}), 40166,
			"$collStats must take a nested object but found: $collStats: 1"},
		{"unknown field", "test", aggregate("c", bson.D{{Key: "$collStats", Value: bson.D{{Key: "bogus", Value: bson.D{}}}}}), 40415,
			"BSON field '$collStats.bogus' is an unknown field."},
		{"not first", "test", aggregate("c", bson.D{{Key: "$match", Value: bson.D{}}}, stageDoc), 40602,
			"$collStats is only valid as the first stage in a pipeline."},
		{"no collection", "test", aggregate(1, stageDoc), int32(mongoerr.InvalidNamespace),
			"{aggregate: 1} is not valid for '$collStats'; a collection is required."},
	})
}
