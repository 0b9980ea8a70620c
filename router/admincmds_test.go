package router

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestNestOptions: dotted option paths become nested documents, each part where an option first
// names it, as mongos's parsed options are laid out.
func TestNestOptions(t *testing.T) {
	got, err := nestOptions([]Option{
		{Path: "net.port", Value: 27017}, {Path: "mongosLite.shard", Value: []string{"a", "b"}},
		{Path: "net.tls.mode", Value: "requireTLS"}, {Path: "config", Value: "/etc/f.yaml"}, {Path: "net.bindIp", Value: "::"},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := mustMarshal(t, bson.D{
		{Key: "net", Value: bson.D{{Key: "port", Value: int32(27017)}, {Key: "tls", Value: bson.D{{Key: "mode", Value: "requireTLS"}}}, {Key: "bindIp", Value: "::"}}},
		{Key: "mongosLite", Value: bson.D{{Key: "shard", Value: bson.A{"a", "b"}}}},
		{Key: "config", Value: "/etc/f.yaml"},
	})
	if string(got) != string(want) {
		t.Fatalf("nested %v, want %v", bson.Raw(got), bson.Raw(want))
	}
	if _, err := nestOptions([]Option{{Path: "x", Value: make(chan int)}}, ""); err == nil {
		t.Fatal("a value BSON cannot hold was accepted")
	}
}
