package router

import (
	"bytes"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/wire"
)

// seqOf is a document sequence of docs.
func seqOf(t *testing.T, id string, docs ...bson.D) wire.Sequence {
	s := wire.Sequence{Identifier: id}
	for _, d := range docs {
		s.Raw = append(s.Raw, mustMarshal(t, d)...)
	}
	return s
}

// TestAuthorizationSeesWhatIsSent replays the review's attacks from raw frames: the request the
// shard would execute, document sequences folded in and flags read by their truth value, is what
// is authorized; a deciding field given twice is refused rather than read one way by the router
// and another by the shard.
func TestAuthorizationSeesWhatIsSent(t *testing.T) {
	checkLeaks(t)
	addr, log := trustCluster(t, trustModes[1])
	stmt := func(upsert any) bson.D {
		return bson.D{{Key: "q", Value: bson.D{{Key: "marker", Value: int32(-7)}}}, {Key: "u", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}},
			{Key: "upsert", Value: upsert}}
	}
	unauthorized := mongoerr.Unauthorized
	for _, tc := range []struct {
		name, user string
		body       bson.D
		seqs       []wire.Sequence
		code       mongoerr.Code
	}{
		{"bulkWrite to another database through sequences", "bee",
			bson.D{{Key: "bulkWrite", Value: 1}, {Key: "$db", Value: "admin"}},
			[]wire.Sequence{seqOf(t, "ops", bson.D{{Key: "insert", Value: int32(0)}, {Key: "document", Value: bson.D{{Key: "marker", Value: int32(-7)}}}}),
				seqOf(t, "nsInfo", bson.D{{Key: "ns", Value: "test.c"}})}, unauthorized},
		{"bulkWrite rewriting the placement map", "bee",
			bson.D{{Key: "bulkWrite", Value: 1}, {Key: "$db", Value: "admin"}},
			[]wire.Sequence{seqOf(t, "ops", bson.D{{Key: "update", Value: int32(0)}, {Key: "filter", Value: bson.D{}},
				{Key: "updateMods", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "primary", Value: "rs-hijacked"}}}}}}),
				seqOf(t, "nsInfo", bson.D{{Key: "ns", Value: "config.databases"}})}, unauthorized},
		{"bulkWrite in its own database", "bee",
			bson.D{{Key: "bulkWrite", Value: 1}, {Key: "$db", Value: "admin"}},
			[]wire.Sequence{seqOf(t, "ops", bson.D{{Key: "insert", Value: int32(0)}, {Key: "document", Value: bson.D{{Key: "marker", Value: int32(-7)}}}}),
				seqOf(t, "nsInfo", bson.D{{Key: "ns", Value: "b.c"}})}, 0},
		{"bulkWrite naming no nsInfo entry", "bee",
			bson.D{{Key: "bulkWrite", Value: 1}, {Key: "$db", Value: "admin"}},
			[]wire.Sequence{seqOf(t, "ops", bson.D{{Key: "insert", Value: int32(3)}, {Key: "document", Value: bson.D{}}}),
				seqOf(t, "nsInfo", bson.D{{Key: "ns", Value: "b.c"}})}, mongoerr.BadValue},
		{"upsert in an updates sequence", "updater",
			bson.D{{Key: "update", Value: "c"}, {Key: "$db", Value: "test"}},
			[]wire.Sequence{seqOf(t, "updates", stmt(false), stmt(true))}, unauthorized},
		{"update in an updates sequence", "updater",
			bson.D{{Key: "update", Value: "c"}, {Key: "$db", Value: "test"}},
			[]wire.Sequence{seqOf(t, "updates", stmt(false))}, 0},
		{"upsert: 1", "updater",
			bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{stmt(int32(1))}}, {Key: "$db", Value: "test"}}, nil, unauthorized},
		{"upsert given twice", "updater",
			bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{append(stmt(false), bson.E{Key: "upsert", Value: true})}},
				{Key: "$db", Value: "test"}}, nil, mongoerr.IDLDuplicateField},
		{"upsert: 'yes'", "updater",
			bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{stmt("yes")}}, {Key: "$db", Value: "test"}}, nil, mongoerr.TypeMismatch},
		{"findAndModify upsert: 1", "updater",
			bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{}}, {Key: "update", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "y", Value: 1}}}}},
				{Key: "upsert", Value: 1.0}, {Key: "$db", Value: "test"}}, nil, unauthorized},
		{"findAndModify remove: 1", "updater",
			bson.D{{Key: "findAndModify", Value: "c"}, {Key: "query", Value: bson.D{}}, {Key: "remove", Value: int64(1)}, {Key: "$db", Value: "test"}}, nil, unauthorized},
		{"updates given twice in the body", "updater",
			bson.D{{Key: "update", Value: "c"}, {Key: "updates", Value: bson.A{stmt(false)}}, {Key: "updates", Value: bson.A{stmt(true)}},
				{Key: "$db", Value: "test"}}, nil, mongoerr.IDLDuplicateField},
		{"$lookup from given twice", "updater",
			bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$lookup", Value: bson.D{
				{Key: "from", Value: "c"}, {Key: "from", Value: "secret"}, {Key: "as", Value: "x"}, {Key: "pipeline", Value: bson.A{}}}}}}},
				{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}}, nil, mongoerr.IDLDuplicateField},
		{"a stage of two fields", "updater",
			bson.D{{Key: "aggregate", Value: "c"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$match", Value: bson.D{}},
				{Key: "$out", Value: "other"}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "test"}}, nil, 40323},
		{"$currentOp allUsers given twice", "updater",
			bson.D{{Key: "aggregate", Value: int32(1)}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$currentOp", Value: bson.D{
				{Key: "allUsers", Value: false}, {Key: "allUsers", Value: true}}}}}}, {Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "admin"}},
			nil, mongoerr.IDLDuplicateField},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := log.count()
			reply := dialRaw(t, addr, tc.user).run(t, mustMarshal(t, tc.body), tc.seqs...)
			if code := replyCode(reply); code != tc.code {
				t.Fatalf("reply %v, want code %d", bson.Raw(reply), tc.code)
			}
			if tc.code != 0 && log.sawMarker(before, -7) {
				t.Fatal("a refused command reached the shard")
			}
		})
	}
}

// count is how many commands the set has received.
func (l *commandLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.got)
}

// saw reports whether a command named name was received after the first `from` (the members also
// receive the monitors' hellos at any time, so counts alone prove nothing).
func (l *commandLog) saw(from int, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.got[from:] {
		if first, err := r.Body.IndexErr(0); err == nil && first.Key() == name {
			return true
		}
	}
	return false
}

// sawMarker reports whether a command received after the first `from` carries {marker: n},
// in its body or a document sequence.
func (l *commandLog) sawMarker(from int, n int32) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := markerBytes(n)
	for _, r := range l.got[from:] {
		if bytes.Contains(r.Body, m) {
			return true
		}
		for _, docs := range r.Sequences {
			for _, d := range docs {
				if bytes.Contains(d, m) {
					return true
				}
			}
		}
	}
	return false
}
