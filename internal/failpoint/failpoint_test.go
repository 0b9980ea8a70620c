package failpoint

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func configure(t *testing.T, p *Point, mode any, data bson.D) (int64, error) {
	t.Helper()
	body, err := bson.Marshal(bson.D{{Key: "configureFailPoint", Value: "failCommand"}, {Key: "mode", Value: mode}, {Key: "data", Value: data}})
	if err != nil {
		t.Fatal(err)
	}
	return p.Configure(bsoncore.Document(body), ParseFailCommand)
}

func TestModes(t *testing.T) {
	data := bson.D{{Key: "failCommands", Value: bson.A{"insert"}}, {Key: "errorCode", Value: 91}}
	tests := []struct {
		name  string
		mode  any
		fires []bool // successive insert commands
	}{
		{"off", "off", []bool{false, false}},
		{"alwaysOn", "alwaysOn", []bool{true, true, true}},
		{"times 2", bson.D{{Key: "times", Value: 2}}, []bool{true, true, false}},
		{"times 0", bson.D{{Key: "times", Value: 0}}, []bool{false}},
		{"skip 1", bson.D{{Key: "skip", Value: 1}}, []bool{false, true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Point
			if _, err := configure(t, &p, tt.mode, data); err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.fires {
				d, got := p.Fire("insert", "")
				if got != want {
					t.Fatalf("command %d: fired %v, want %v", i, got, want)
				}
				if got && d.Error().Code != mongoerr.ShutdownInProgress {
					t.Fatalf("code %v", d.Error().Code)
				}
			}
		})
	}
}

func TestFiltersAndData(t *testing.T) {
	var p Point
	_, err := configure(t, &p, "alwaysOn", bson.D{
		{Key: "failCommands", Value: bson.A{"find", "insert"}},
		{Key: "appName", Value: "app1"},
		{Key: "errorLabels", Value: bson.A{}},
		{Key: "closeConnection", Value: true},
		{Key: "blockConnection", Value: true}, {Key: "blockTimeMS", Value: 50},
		{Key: "writeConcernError", Value: bson.D{{Key: "code", Value: 64}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Fire("update", "app1"); ok {
		t.Fatal("fired for a command not listed")
	}
	if _, ok := p.Fire("find", "other"); ok {
		t.Fatal("fired for another appName")
	}
	d, ok := p.Fire("find", "app1")
	if !ok || !d.CloseConnection || d.Block != 50*time.Millisecond || d.Labels == nil || len(d.Labels) != 0 ||
		d.WriteConcernError.Lookup("code").Int32() != 64 {
		t.Fatalf("data = %+v, fired %v", d, ok)
	}
	if n, _ := configure(t, &p, "off", nil); n != 1 {
		t.Fatalf("count of previous activations = %d, want 1", n)
	}
	if _, ok := p.Fire("find", "app1"); ok {
		t.Fatal("fired after off")
	}
}

func TestBadConfigurations(t *testing.T) {
	tests := []struct {
		name string
		mode any
		data bson.D
		code mongoerr.Code
	}{
		{"unknown mode", "sometimes", nil, mongoerr.BadValue},
		{"mode wrong type", 3, nil, mongoerr.TypeMismatch},
		{"bad mode document", bson.D{{Key: "often", Value: 1}}, nil, mongoerr.BadValue},
		{"no failCommands", "alwaysOn", bson.D{}, mongoerr.BadValue},
		{"failCommands element not a string", "alwaysOn", bson.D{{Key: "failCommands", Value: bson.A{1}}}, mongoerr.TypeMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Point
			_, err := configure(t, &p, tt.mode, tt.data)
			if me := mongoerr.As(err); me == nil || me.Code != tt.code {
				t.Fatalf("err %v, want code %d", err, tt.code)
			}
		})
	}
}

func TestOffForgetsActivations(t *testing.T) {
	var p Point
	if _, err := configure(t, &p, "alwaysOn", bson.D{{Key: "failCommands", Value: bson.A{"ping"}}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Fire("ping", ""); !ok {
		t.Fatal("did not fire while on")
	}
	p.Off()
	if _, ok := p.Fire("ping", ""); ok {
		t.Fatal("fired after Off")
	}
	if n, _ := configure(t, &p, "off", nil); n != 0 {
		t.Fatalf("count after Off = %d, want 0", n)
	}
}
