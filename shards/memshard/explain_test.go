package memshard

import (
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

func TestExplain(t *testing.T) {
	rs := startSet(t, 1)
	c := dialRaw(t, rs.Hosts()[0])
	insertDocs(t, c, "test", "ex", obj("_id", 1, "x", 1), obj("_id", 2, "x", 2), obj("_id", 3, "x", 2))
	explain := func(inner bson.D, verbosity string) bson.D {
		cmd := bson.D{{Key: "explain", Value: inner}}
		if verbosity != "" {
			cmd = append(cmd, bson.E{Key: "verbosity", Value: verbosity})
		}
		return append(cmd, bson.E{Key: "$db", Value: "test"})
	}
	find := func(extra ...bson.E) bson.D { return append(bson.D{{Key: "find", Value: "ex"}}, extra...) }
	for _, tc := range []struct {
		name      string
		cmd       bson.D
		plan      string // winningPlan stages, outermost first
		returned  int32  // executionStats.nReturned; -1: no executionStats expected
		docsSeen  int32
		pipelined bool // the plan is under stages[0].$cursor
	}{
		{"find by _id", explain(find(bson.E{Key: "filter", Value: obj("_id", 2)}), "executionStats"), "IDHACK", 1, 1, false},
		{"find scan", explain(find(bson.E{Key: "filter", Value: obj("x", 2)}), "queryPlanner"), "COLLSCAN", -1, 0, false},
		{"find sorted, limited", explain(find(bson.E{Key: "sort", Value: obj("x", -1)}, bson.E{Key: "limit", Value: 1}), ""), "LIMIT SORT COLLSCAN", 1, 3, false},
		{"find over the _id index", explain(find(bson.E{Key: "filter", Value: obj("_id", obj("$gt", 1))}), "executionStats"), "FETCH IXSCAN", 2, 2, false},
		{"count", explain(bson.D{{Key: "count", Value: "ex"}, {Key: "query", Value: obj("x", 2)}}, "executionStats"), "COUNT COLLSCAN", 0, 3, false},
		{"distinct", explain(bson.D{{Key: "distinct", Value: "ex"}, {Key: "key", Value: "x"}}, "queryPlanner"), "COLLSCAN", -1, 0, false},
		{"aggregate pushed down", explain(aggregate("ex", obj("$match", obj("x", 2)))[:3], "executionStats"), "COLLSCAN", 2, 3, false},
		{"aggregate with a group", explain(aggregate("ex", obj("$match", obj("x", 2)), obj("$group", obj("_id", "$x")))[:3], "queryPlanner"), "COLLSCAN", -1, 0, true},
		{"aggregate explain: true", append(aggregate("ex", obj("$sort", obj("_id", 1)))[:2], bson.E{Key: "explain", Value: true}, bson.E{Key: "$db", Value: "test"}),
			"FETCH IXSCAN", -1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply := mustOK(t, c.run(tc.cmd))
			root := reply
			if tc.pipelined {
				root = reply.Lookup("stages", "0", "$cursor").Document()
				if reply.Lookup("stages", "1", "$group").Type != bson.TypeEmbeddedDocument {
					t.Fatalf("the $group stage is not listed: %s", reply)
				}
			}
			plan := ""
			for stage := root.Lookup("queryPlanner", "winningPlan"); stage.Type == bson.TypeEmbeddedDocument; stage = stage.Document().Lookup("inputStage") {
				if plan != "" {
					plan += " "
				}
				plan += stage.Document().Lookup("stage").StringValue()
			}
			if plan != tc.plan || root.Lookup("queryPlanner", "namespace").StringValue() != "test.ex" {
				t.Fatalf("plan %q, want %q: %s", plan, tc.plan, reply)
			}
			stats := root.Lookup("executionStats")
			switch {
			case tc.returned < 0 && stats.Type != 0:
				t.Fatalf("executionStats with queryPlanner verbosity: %s", reply)
			case tc.returned >= 0 && (stats.Document().Lookup("nReturned").Int32() != tc.returned || stats.Document().Lookup("totalDocsExamined").Int32() != tc.docsSeen):
				t.Fatalf("executionStats %s, want nReturned %d, totalDocsExamined %d", stats, tc.returned, tc.docsSeen)
			}
			if reply.Lookup("command", "$db").StringValue() != "test" || reply.Lookup("serverInfo", "version").StringValue() != serverVersion {
				t.Fatalf("command or serverInfo missing: %s", reply)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cmd  bson.D
		code mongoerr.Code
		msg  string
	}{
		{"not a document", bson.D{{Key: "explain", Value: 1}, {Key: "$db", Value: "test"}}, mongoerr.TypeMismatch,
			"BSON field 'explain.explain' is the wrong type 'int', expected type 'object'"},
		{"bad verbosity", explain(find(), "loud"), mongoerr.BadValue, "Enumeration value 'loud' for field 'explain.verbosity' is not a valid value."},
		{"unknown command", explain(bson.D{{Key: "frobnicate", Value: 1}}, ""), mongoerr.CommandNotFound, "Explain failed due to unknown command: frobnicate"},
		{"not explainable", explain(bson.D{{Key: "ping", Value: 1}}, ""), mongoerr.IllegalOperation, "Cannot explain cmd: ping"},
		{"bad filter", explain(find(bson.E{Key: "filter", Value: obj("x", obj("$bogus", 1))}), ""), mongoerr.BadValue, "unknown operator: $bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, c.run(tc.cmd), tc.code, tc.msg)
		})
	}
	// Explaining does not write: a final $out is shown, not run.
	mustOK(t, c.run(explain(aggregate("ex", obj("$out", "copy"))[:3], "executionStats")))
	if got := contents(t, c, "test", "copy"); got != "[]" {
		t.Fatalf("explain ran $out: %s", got)
	}
}
