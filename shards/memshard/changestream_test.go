package memshard

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// streamOpts keeps driver waits short where a test expects no event (an empty getMore answers
// after maxAwaitTimeMS, which is deterministic: the events are either in the history or not).
func streamOpts() *options.ChangeStreamOptionsBuilder {
	return options.ChangeStream().SetMaxAwaitTime(50 * time.Millisecond)
}

// nextEvent waits for the stream's next event.
func nextEvent(t *testing.T, ctx context.Context, cs *mongo.ChangeStream) bson.Raw {
	t.Helper()
	if !cs.Next(ctx) {
		t.Fatalf("no event: %v", cs.Err())
	}
	return cs.Current
}

// eventSummary is "operationType db.coll" (plus "->db.coll" for a rename).
func eventSummary(ev bson.Raw) string {
	s := ev.Lookup("operationType").StringValue()
	if ns, ok := ev.Lookup("ns").DocumentOK(); ok {
		s += " " + ns.Lookup("db").StringValue()
		if c, ok := ns.Lookup("coll").StringValueOK(); ok {
			s += "." + c
		}
	}
	if to, ok := ev.Lookup("to").DocumentOK(); ok {
		s += "->" + to.Lookup("db").StringValue() + "." + to.Lookup("coll").StringValue()
	}
	return s
}

// collect reads want events and returns their summaries.
func collect(t *testing.T, ctx context.Context, cs *mongo.ChangeStream, want int) ([]string, []bson.Raw) {
	t.Helper()
	var got []string
	var evs []bson.Raw
	for len(got) < want {
		ev := nextEvent(t, ctx, cs)
		got = append(got, eventSummary(ev))
		evs = append(evs, ev)
	}
	return got, evs
}

func TestChangeStreamScopesAndEvents(t *testing.T) {
	cl, ctx, db := appSet(t)
	writeCRUD := func(t *testing.T) {
		c := db.Collection("a")
		for _, err := range []error{
			ins(ctx, c, bson.D{{Key: "_id", Value: 1}, {Key: "x", Value: 1}}),
			upd(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 2}}}})),
			upd(c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "y", Value: 3}})),
			del(c.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}})),
			ins(ctx, cl.Database("other").Collection("b"), bson.D{{Key: "_id", Value: 2}}),
			ins(ctx, db.Collection("c"), bson.D{{Key: "_id", Value: 3}}),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name  string
		watch func() (*mongo.ChangeStream, error)
		write func(t *testing.T)
		want  []string
	}{
		{"collection CRUD", func() (*mongo.ChangeStream, error) { return db.Collection("a").Watch(ctx, mongo.Pipeline{}) },
			writeCRUD, []string{"insert app.a", "update app.a", "replace app.a", "delete app.a"}},
		{"database CRUD", func() (*mongo.ChangeStream, error) { return db.Watch(ctx, mongo.Pipeline{}) },
			writeCRUD, []string{"insert app.a", "update app.a", "replace app.a", "delete app.a", "insert app.c"}},
		{"cluster CRUD", func() (*mongo.ChangeStream, error) { return cl.Watch(ctx, mongo.Pipeline{}) },
			writeCRUD, []string{"insert app.a", "update app.a", "replace app.a", "delete app.a", "insert other.b", "insert app.c"}},
		{"collection drop invalidates", func() (*mongo.ChangeStream, error) { return db.Collection("a").Watch(ctx, mongo.Pipeline{}) },
			func(t *testing.T) {
				must(t, ins(ctx, db.Collection("a"), bson.D{{Key: "_id", Value: 1}}))
				must(t, db.Collection("a").Drop(ctx))
			}, []string{"insert app.a", "drop app.a", "invalidate"}},
		{"collection rename invalidates", func() (*mongo.ChangeStream, error) { return db.Collection("a").Watch(ctx, mongo.Pipeline{}) },
			func(t *testing.T) {
				must(t, ins(ctx, db.Collection("a"), bson.D{{Key: "_id", Value: 1}}))
				must(t, cl.Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: "app.a"}, {Key: "to", Value: "app.z"}}).Err())
			}, []string{"insert app.a", "rename app.a->app.z", "invalidate"}},
		{"database drop", func() (*mongo.ChangeStream, error) { return db.Watch(ctx, mongo.Pipeline{}) },
			func(t *testing.T) {
				must(t, ins(ctx, db.Collection("a"), bson.D{{Key: "_id", Value: 1}}))
				must(t, ins(ctx, db.Collection("b"), bson.D{{Key: "_id", Value: 1}}))
				must(t, db.Drop(ctx))
			}, []string{"insert app.a", "insert app.b", "drop app.a", "drop app.b", "dropDatabase app", "invalidate"}},
		{"cluster sees drops, never invalidates", func() (*mongo.ChangeStream, error) { return cl.Watch(ctx, mongo.Pipeline{}) },
			func(t *testing.T) {
				must(t, ins(ctx, db.Collection("a"), bson.D{{Key: "_id", Value: 1}}))
				must(t, db.Drop(ctx))
				must(t, ins(ctx, db.Collection("a"), bson.D{{Key: "_id", Value: 2}}))
			}, []string{"insert app.a", "drop app.a", "dropDatabase app", "insert app.a"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			must(t, db.Drop(ctx))
			must(t, cl.Database("other").Drop(ctx))
			cs, err := c.watch()
			must(t, err)
			defer cs.Close(ctx)
			c.write(t)
			got, evs := collect(t, ctx, cs, len(c.want))
			if strings.Join(got, ", ") != strings.Join(c.want, ", ") {
				t.Fatalf("events\n got %v\nwant %v", got, c.want)
			}
			for _, ev := range evs {
				if ev.Lookup("_id", "_data").Type != bson.TypeString || ev.Lookup("clusterTime").Type != bson.TypeTimestamp ||
					ev.Lookup("wallTime").Type != bson.TypeDateTime {
					t.Fatalf("event lacks _id, clusterTime or wallTime: %s", ev)
				}
			}
			if got[len(got)-1] == "invalidate" && (cs.Next(ctx) || cs.ID() != 0) {
				t.Fatalf("the stream goes on after invalidate (cursor %d)", cs.ID())
			}
		})
	}
}

// appSet starts a one-member set and returns a client, a context and the database app.
func appSet(t *testing.T, opts ...Option) (*mongo.Client, context.Context, *mongo.Database) {
	t.Helper()
	cl := connect(t, startSet(t, 1, opts...).URI())
	return cl, ctxT(t), cl.Database("app")
}

func ins(ctx context.Context, c *mongo.Collection, doc bson.D) error {
	_, err := c.InsertOne(ctx, doc)
	return err
}

func upd(_ *mongo.UpdateResult, err error) error { return err }

func del(_ *mongo.DeleteResult, err error) error { return err }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestChangeStreamUpdateDescription(t *testing.T) {
	_, ctx, db := appSet(t)
	c := db.Collection("u")
	cases := []struct {
		name                  string
		before, update        bson.D
		updated, removed, cut string
		disambiguated         string
	}{
		{"set and unset", bson.D{{Key: "a", Value: 1}, {Key: "b", Value: 2}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "a", Value: 5}}}, {Key: "$unset", Value: bson.D{{Key: "b", Value: ""}}}},
			`{"a": {"$numberInt":"5"}}`, `["b"]`, `[]`, `{}`},
		{"nested field", bson.D{{Key: "s", Value: bson.D{{Key: "x", Value: 1}, {Key: "y", Value: 1}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "s.x", Value: 2}}}},
			`{"s.x": {"$numberInt":"2"}}`, `[]`, `[]`, `{}`},
		{"array shrinks", bson.D{{Key: "arr", Value: bson.A{1, 2, 3}}},
			bson.D{{Key: "$pop", Value: bson.D{{Key: "arr", Value: 1}}}},
			`{}`, `[]`, `[{"field": "arr","newSize": {"$numberInt":"2"}}]`, `{}`},
		{"numeric field name", bson.D{{Key: "a", Value: bson.D{{Key: "1", Value: 1}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "a.1", Value: 2}}}},
			`{"a.1": {"$numberInt":"2"}}`, `[]`, `[]`, `{"a.1": ["a","1"]}`},
		{"array element", bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "1", Value: 1}}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "a.0.1", Value: 2}}}},
			`{"a.0.1": {"$numberInt":"2"}}`, `[]`, `[]`, `{"a.0.1": ["a",{"$numberInt":"0"},"1"]}`},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			must(t, ins(ctx, c, append(bson.D{{Key: "_id", Value: i}}, tc.before...)))
			cs, err := c.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetShowExpandedEvents(true))
			must(t, err)
			defer cs.Close(ctx)
			must(t, upd(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: i}}, tc.update)))
			ev := nextEvent(t, ctx, cs)
			ud := ev.Lookup("updateDescription")
			for field, want := range map[string]string{"updatedFields": tc.updated, "removedFields": tc.removed,
				"truncatedArrays": tc.cut, "disambiguatedPaths": tc.disambiguated} {
				if got := ud.Document().Lookup(field).String(); compactJSON(got) != compactJSON(want) {
					t.Errorf("%s = %s, want %s", field, got, want)
				}
			}
		})
	}
}

func compactJSON(s string) string { return strings.ReplaceAll(s, " ", "") }

// TestChangeStreamResumeAfterEachEvent resumes a stream after every kind of event and checks it
// goes on with exactly the next one.
func TestChangeStreamResumeAfterEachEvent(t *testing.T) {
	cl, ctx, db := appSet(t)
	c := db.Collection("a")
	cs, err := cl.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetShowExpandedEvents(true))
	must(t, err)
	defer cs.Close(ctx)
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 1}}))
	must(t, upd(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}})))
	must(t, upd(c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "y", Value: 1}})))
	must(t, del(c.DeleteOne(ctx, bson.D{{Key: "_id", Value: 1}})))
	_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "x", Value: 1}}})
	must(t, err)
	must(t, db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "a"}}).Err())
	must(t, c.Indexes().DropOne(ctx, "x_1"))
	must(t, cl.UseSession(ctx, func(sc context.Context) error {
		return ins(sc, c, bson.D{{Key: "_id", Value: 2}}) // a retryable write: no lsid in its event
	}))
	sess, err := cl.StartSession()
	must(t, err)
	_, err = sess.WithTransaction(ctx, func(sc context.Context) (any, error) {
		for _, id := range []int{3, 4} {
			if err := ins(sc, c, bson.D{{Key: "_id", Value: id}}); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	sess.EndSession(ctx)
	must(t, err)
	must(t, cl.Database("admin").RunCommand(ctx, bson.D{{Key: "renameCollection", Value: "app.a"}, {Key: "to", Value: "app.b"}}).Err())
	must(t, db.Collection("b").Drop(ctx))
	must(t, ins(ctx, db.Collection("c"), bson.D{{Key: "_id", Value: 5}}))
	must(t, db.Drop(ctx))
	must(t, ins(ctx, db.Collection("d"), bson.D{{Key: "_id", Value: 6}}))
	want := []string{"create app.a", "insert app.a", "update app.a", "replace app.a", "delete app.a", "createIndexes app.a",
		"modify app.a", "dropIndexes app.a", "insert app.a", "insert app.a", "insert app.a", "rename app.a->app.b", "drop app.b",
		"create app.c", "insert app.c", "drop app.c", "dropDatabase app", "create app.d", "insert app.d"}
	got, evs := collect(t, ctx, cs, len(want))
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	if evs[9].Lookup("txnNumber").Type != bson.TypeInt64 || evs[9].Lookup("lsid", "id").Type != bson.TypeBinary ||
		evs[9].Lookup("clusterTime").String() != evs[10].Lookup("clusterTime").String() {
		t.Fatalf("transaction events lack lsid/txnNumber or a shared commit time: %s %s", evs[9], evs[10])
	}
	for i := range evs { // startAtOperationTime includes the events of that time
		at := evs[i].Lookup("clusterTime")
		first := i
		for first > 0 && evs[first-1].Lookup("clusterTime").Equal(at) {
			first--
		}
		tt, ti := at.Timestamp()
		scs, err := cl.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetShowExpandedEvents(true).
			SetStartAtOperationTime(&bson.Timestamp{T: tt, I: ti}))
		must(t, err)
		if next := nextEvent(t, ctx, scs); !bytes.Equal(next.Lookup("_id").Value, evs[first].Lookup("_id").Value) {
			t.Fatalf("started at %q's time: got %s, want %q", got[i], eventSummary(next), got[first])
		}
		must(t, scs.Close(ctx))
	}
	for i := range len(evs) - 1 {
		tok := evs[i].Lookup("_id").Document()
		for _, opt := range []*options.ChangeStreamOptionsBuilder{
			options.ChangeStream().SetResumeAfter(tok), options.ChangeStream().SetStartAfter(tok),
		} {
			rcs, err := cl.Watch(ctx, mongo.Pipeline{}, opt.SetShowExpandedEvents(true))
			must(t, err)
			next := nextEvent(t, ctx, rcs)
			if !bytes.Equal(next.Lookup("_id").Value, evs[i+1].Lookup("_id").Value) {
				t.Fatalf("resumed after %q: got %s, want %q", got[i], eventSummary(next), got[i+1])
			}
			must(t, rcs.Close(ctx))
		}
	}
}

func TestChangeStreamStartAfterInvalidate(t *testing.T) {
	_, ctx, db := appSet(t)
	c := db.Collection("a")
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 1}}))
	cs, err := c.Watch(ctx, mongo.Pipeline{})
	must(t, err)
	must(t, c.Drop(ctx))
	_, evs := collect(t, ctx, cs, 2)
	inv := evs[1].Lookup("_id").Document()
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 2}}))

	_, err = c.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(inv))
	if !isCode(err, int32(mongoerr.InvalidResumeToken)) {
		t.Fatalf("resumeAfter an invalidate: %v", err)
	}
	after, err := c.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetStartAfter(inv))
	must(t, err)
	defer after.Close(ctx)
	if ev := nextEvent(t, ctx, after); eventSummary(ev) != "insert app.a" || ev.Lookup("documentKey", "_id").Int32() != 2 {
		t.Fatalf("startAfter the invalidate: %s", ev)
	}
	// Resuming after the drop itself gives the invalidate again.
	again, err := c.Watch(ctx, mongo.Pipeline{}, options.ChangeStream().SetResumeAfter(evs[0].Lookup("_id").Document()))
	must(t, err)
	defer again.Close(ctx)
	if ev := nextEvent(t, ctx, again); eventSummary(ev) != "invalidate" {
		t.Fatalf("resumeAfter the drop: %s", ev)
	}
}

func TestChangeStreamResumeErrors(t *testing.T) {
	start := time.Now()
	_, ctx, db := appSet(t, WithOplogSize(4096))
	c := db.Collection("a")
	cs, err := c.Watch(ctx, mongo.Pipeline{})
	must(t, err)
	defer cs.Close(ctx)
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 0}}))
	first := nextEvent(t, ctx, cs).Lookup("_id").Document()
	pad := strings.Repeat("x", 500)
	for i := 1; i <= 20; i++ { // ~10 KiB: the first events fall off the 4 KiB history
		must(t, ins(ctx, c, bson.D{{Key: "_id", Value: i}, {Key: "pad", Value: pad}}))
	}
	lost := "Resume of change stream was not possible, as the resume point may no longer be in the oplog."
	old := bson.Timestamp{T: uint32(start.Unix()) - 60, I: 1}
	cases := []struct {
		name  string
		opts  *options.ChangeStreamOptionsBuilder
		code  mongoerr.Code
		msg   string
		label string
	}{
		{"event fell off", options.ChangeStream().SetResumeAfter(first), mongoerr.ChangeStreamHistoryLost, lost, "NonResumableChangeStreamError"},
		{"before the set started", options.ChangeStream().SetStartAtOperationTime(&old), mongoerr.ChangeStreamHistoryLost, lost, "NonResumableChangeStreamError"},
		{"not hex", options.ChangeStream().SetResumeAfter(bson.D{{Key: "_data", Value: "xyz"}}), mongoerr.FailedToParse,
			"resume token string was not a valid hex string", ""},
		{"no such event", options.ChangeStream().SetResumeAfter(bson.Raw((&changeEvent{ts: pack(bson.Timestamp{T: uint32(time.Now().Unix()) + 5}),
			op: opInsert, uuid: make([]byte, 16), docKey: bson.Raw(marshal(t, bson.D{{Key: "_id", Value: 1}}))}).resumeToken().encode())),
			mongoerr.ChangeStreamFatalError, "", "NonResumableChangeStreamError"},
		{"two start points", options.ChangeStream().SetResumeAfter(first).SetStartAtOperationTime(&old), 40674, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Watch(ctx, mongo.Pipeline{}, tc.opts)
			var ce mongo.CommandError
			if !errors.As(err, &ce) || ce.Code != int32(tc.code) || tc.msg != "" && ce.Message != tc.msg ||
				tc.label != "" && !ce.HasErrorLabel(tc.label) {
				t.Fatalf("got %v, want code %d %q label %q", err, tc.code, tc.msg, tc.label)
			}
		})
	}
	// The open stream fell behind too: its getMore reports the loss.
	if cs.Next(ctx) {
		t.Fatalf("a stream behind the history's start went on: %s", cs.Current)
	}
	if !isCode(cs.Err(), int32(mongoerr.ChangeStreamHistoryLost)) {
		t.Fatalf("stream error %v", cs.Err())
	}
}

// streamCursor opens a collection change stream with a raw aggregate and returns the cursor id
// and the first reply's cursor document.
func streamCursor(t *testing.T, c *rawClient, stage bson.D) (int64, bson.Raw) {
	t.Helper()
	reply := mustOK(t, c.run(bson.D{{Key: "aggregate", Value: "a"}, {Key: "pipeline", Value: bson.A{bson.D{{Key: "$changeStream", Value: stage}}}},
		{Key: "cursor", Value: bson.D{}}, {Key: "$db", Value: "app"}}))
	cur := reply.Lookup("cursor").Document()
	return cur.Lookup("id").Int64(), cur
}

func streamGetMore(id int64, maxTimeMS int64) bson.D {
	return bson.D{{Key: "getMore", Value: id}, {Key: "collection", Value: "a"}, {Key: "maxTimeMS", Value: maxTimeMS}, {Key: "$db", Value: "app"}}
}

// TestChangeStreamAwaitData: a getMore with nothing to return waits until a change commits (not
// until its maxTimeMS), and one that times out answers an empty batch with a
// postBatchResumeToken that does not go backwards, keeping the cursor open.
func TestChangeStreamAwaitData(t *testing.T) {
	rs := startSet(t, 1)
	m := rs.Member(0)
	raw := dialRaw(t, m.host)
	id, first := streamCursor(t, raw, bson.D{})
	if id == 0 || first.Lookup("postBatchResumeToken", "_data").Type != bson.TypeString {
		t.Fatalf("first batch: %s", first)
	}
	empty := mustOK(t, raw.run(streamGetMore(id, 10))).Lookup("cursor").Document()
	if n, _ := empty.Lookup("nextBatch").Array().Values(); len(n) != 0 || empty.Lookup("id").Int64() != id ||
		empty.Lookup("postBatchResumeToken", "_data").StringValue() < first.Lookup("postBatchResumeToken", "_data").StringValue() {
		t.Fatalf("an empty getMore: %s after %s", empty, first)
	}

	before := m.CommandCount("getMore")
	start := time.Now()
	reqID := raw.send(0, streamGetMore(id, 60_000))
	eventually(t, "the getMore to wait", func() bool { return m.CommandCount("getMore") > before })
	cl := connect(t, rs.URI())
	ctx := ctxT(t)
	must(t, ins(ctx, cl.Database("app").Collection("a"), bson.D{{Key: "_id", Value: 1}}))
	msg, err := raw.recv(30 * time.Second)
	must(t, err)
	if msg.Header.ResponseTo != reqID || time.Since(start) > 30*time.Second {
		t.Fatalf("the getMore did not answer when the change committed")
	}
	cur := mustOK(t, bson.Raw(msg.Body)).Lookup("cursor").Document()
	batch, _ := cur.Lookup("nextBatch").Array().Values()
	if len(batch) != 1 || batch[0].Document().Lookup("operationType").StringValue() != "insert" ||
		cur.Lookup("postBatchResumeToken", "_data").StringValue() != batch[0].Document().Lookup("_id", "_data").StringValue() {
		t.Fatalf("woken getMore: %s", cur)
	}
}

// TestChangeStreamWaitersStopWithMember: a waiting getMore ends when its member stops — with
// mongod's InterruptedAtShutdown, which drivers resume after, or a closed connection — leaving no
// goroutine behind (TestMain checks for leaks).
func TestChangeStreamWaitersStopWithMember(t *testing.T) {
	rs := startSet(t, 2)
	m := rs.Member(0)
	raw := dialRaw(t, m.host)
	id, _ := streamCursor(t, raw, bson.D{})
	before := m.CommandCount("getMore")
	raw.send(0, streamGetMore(id, 600_000))
	eventually(t, "the getMore to wait", func() bool { return m.CommandCount("getMore") > before })
	done := make(chan error, 1)
	go func() { done <- rs.StopMember(0) }()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("StopMember waited for the getMore")
	}
	if msg, err := raw.recv(10 * time.Second); err == nil {
		if reply := bson.Raw(msg.Body); !hasLabel(reply, "ResumableChangeStreamError") {
			t.Fatalf("the waiting getMore answered %s", reply)
		} else {
			wantCode(t, reply, mongoerr.InterruptedAtShutdown, "")
		}
	}
}

func TestChangeStreamFullDocumentModes(t *testing.T) {
	_, ctx, db := appSet(t)
	c := db.Collection("a")
	setImages := func(on bool) {
		must(t, db.RunCommand(ctx, bson.D{{Key: "collMod", Value: "a"},
			{Key: "changeStreamPreAndPostImages", Value: bson.D{{Key: "enabled", Value: on}}}}).Err())
	}
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 1}, {Key: "v", Value: 0}}))
	cases := []struct {
		name                       string
		images                     bool
		post, pre                  options.FullDocument
		wantPost, wantPre, wantErr string
	}{
		{"default", true, options.Default, options.Off, "missing", "missing", ""},
		{"updateLookup reads the current document", false, options.UpdateLookup, options.Off, `{"_id": 1, "v": 2}`, "missing", ""},
		{"whenAvailable with images", true, options.WhenAvailable, options.WhenAvailable, `{"_id": 1, "v": 1}`, `{"_id": 1, "v": 0}`, ""},
		{"whenAvailable without images", false, options.WhenAvailable, options.WhenAvailable, "null", "null", ""},
		{"required post-image missing", false, options.Required, options.Off, "", "", "post-image"},
		{"required pre-image missing", false, options.Default, options.Required, "", "", "pre-image"},
		{"required with images", true, options.Required, options.Required, `{"_id": 1, "v": 1}`, `{"_id": 1, "v": 0}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			must(t, upd(c.ReplaceOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "v", Value: 0}})))
			setImages(tc.images)
			cs, err := c.Watch(ctx, mongo.Pipeline{bson.D{{Key: "$match", Value: bson.D{{Key: "operationType", Value: "update"}}}}},
				streamOpts().SetFullDocument(tc.post).SetFullDocumentBeforeChange(tc.pre))
			must(t, err)
			defer cs.Close(ctx)
			must(t, upd(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 1}}}})))
			must(t, upd(c.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "v", Value: 2}}}})))
			if tc.wantErr != "" {
				if cs.Next(ctx) || !isCode(cs.Err(), int32(mongoerr.NoMatchingDocument)) || !strings.Contains(cs.Err().Error(), tc.wantErr) {
					t.Fatalf("got %v, want NoMatchingDocument about the %s", cs.Err(), tc.wantErr)
				}
				return
			}
			ev := nextEvent(t, ctx, cs)
			for field, want := range map[string]string{"fullDocument": tc.wantPost, "fullDocumentBeforeChange": tc.wantPre} {
				got := "missing"
				if v, err := ev.LookupErr(field); err == nil {
					got = v.String()
				}
				if compactJSON(got) != compactJSON(relaxed(want)) {
					t.Errorf("%s = %s, want %s", field, got, want)
				}
			}
		})
	}
}

// relaxed turns {"_id": 1} into the canonical extended JSON the driver prints.
func relaxed(s string) string {
	var d bson.D
	if !strings.HasPrefix(s, "{") {
		return s
	}
	if err := bson.UnmarshalExtJSON([]byte(s), false, &d); err != nil {
		return s
	}
	b, _ := bson.Marshal(d)
	return bson.Raw(b).String()
}

func TestChangeStreamPipelineAndRefusals(t *testing.T) {
	_, ctx, db := appSet(t)
	c := db.Collection("a")
	cs, err := c.Watch(ctx, mongo.Pipeline{
		bson.D{{Key: "$match", Value: bson.D{{Key: "fullDocument.keep", Value: true}}}},
		bson.D{{Key: "$project", Value: bson.D{{Key: "operationType", Value: 1}, {Key: "k", Value: "$fullDocument.keep"}}}},
	}, streamOpts())
	must(t, err)
	defer cs.Close(ctx)
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 1}, {Key: "keep", Value: false}}))
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 2}, {Key: "keep", Value: true}}))
	if ev := nextEvent(t, ctx, cs); compactJSON(ev.Lookup("k").String()) != "true" || ev.Lookup("fullDocument").Type != 0 {
		t.Fatalf("filtered, projected event: %s", ev)
	}
	for _, tc := range []struct {
		name     string
		pipeline mongo.Pipeline
		opts     *options.ChangeStreamOptionsBuilder
		code     int32
	}{
		{"unknown stage", mongo.Pipeline{bson.D{{Key: "$unsupported", Value: 1}}}, streamOpts(), 40324},
		{"stage not allowed", mongo.Pipeline{bson.D{{Key: "$sort", Value: bson.D{{Key: "x", Value: 1}}}}}, streamOpts(), int32(mongoerr.IllegalOperation)},
		{"bad fullDocument", nil, streamOpts().SetFullDocument("sometimes"), int32(mongoerr.BadValue)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.Watch(ctx, tc.pipeline, tc.opts); !isCode(err, tc.code) {
				t.Fatalf("got %v, want code %d", err, tc.code)
			}
		})
	}
	// Projecting out _id (the resume token) fails the stream for good.
	bad, err := c.Watch(ctx, mongo.Pipeline{bson.D{{Key: "$project", Value: bson.D{{Key: "_id", Value: 0}}}}}, streamOpts())
	must(t, err)
	defer bad.Close(ctx)
	must(t, ins(ctx, c, bson.D{{Key: "_id", Value: 3}}))
	if bad.Next(ctx) || !isCode(bad.Err(), int32(mongoerr.ChangeStreamFatalError)) {
		t.Fatalf("projected-out _id: %v", bad.Err())
	}
}
