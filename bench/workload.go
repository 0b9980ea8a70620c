package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Collections the workloads use in Config.Database.
const (
	docsCollection    = "docs"    // seeded with Config.Docs documents {_id: 0..Docs-1}
	insertsCollection = "inserts" // grows with every insert
	seedBatch         = 1000
)

// pad makes documents of a realistic small size (about 100 bytes).
var pad = strings.Repeat("x", 64)

// worker is one client's loop body. Only op is timed; before and after prepare and tidy up
// around it (kill-fanout opens cursors before and times only the kill).
type worker struct {
	before func(ctx context.Context) error
	op     func(ctx context.Context) error
	close  func(ctx context.Context)
}

// seed recreates the workload's collections: docs with cfg.Docs documents, inserts empty.
func seed(ctx context.Context, db *mongo.Database, docs int) error {
	for _, name := range []string{docsCollection, insertsCollection} {
		if err := db.Collection(name).Drop(ctx); err != nil {
			return fmt.Errorf("dropping %s.%s: %w", db.Name(), name, err)
		}
	}
	coll := db.Collection(docsCollection)
	batch := make([]any, 0, seedBatch)
	for i := 0; i < docs; i++ {
		batch = append(batch, bson.D{{Key: "_id", Value: i}, {Key: "n", Value: i}, {Key: "s", Value: pad}})
		if len(batch) == seedBatch || i == docs-1 {
			if _, err := coll.InsertMany(ctx, batch); err != nil {
				return fmt.Errorf("seeding %s.%s: %w", db.Name(), docsCollection, err)
			}
			batch = batch[:0]
		}
	}
	return nil
}

// newWorker builds worker number id of cfg.Workload; seed makes its random choices
// reproducible.
func newWorker(ctx context.Context, cfg Config, client *mongo.Client, id int) (*worker, error) {
	db := client.Database(cfg.Database)
	admin := client.Database("admin")
	docs, inserts := db.Collection(docsCollection), db.Collection(insertsCollection)
	rng := rand.New(rand.NewPCG(uint64(id), 0x6d6f6e676f73))
	var seq int64
	find := func(ctx context.Context) error {
		return docs.FindOne(ctx, bson.D{{Key: "_id", Value: rng.IntN(cfg.Docs)}}).Err()
	}
	insert := func(ctx context.Context) error {
		seq++
		_, err := inserts.InsertOne(ctx, bson.D{{Key: "w", Value: id}, {Key: "i", Value: seq}, {Key: "s", Value: pad}})
		return err
	}
	switch cfg.Workload {
	case FindID:
		return &worker{op: find}, nil
	case Insert:
		return &worker{op: insert}, nil
	case Mixed:
		return &worker{op: func(ctx context.Context) error {
			if rng.IntN(5) == 0 {
				return insert(ctx)
			}
			return find(ctx)
		}}, nil
	case SessionChurn:
		return &worker{op: func(ctx context.Context) error { return churn(ctx, client, admin, find) }}, nil
	case KillFanout:
		return newKillWorker(ctx, cfg, client, admin, docs)
	}
	return nil, fmt.Errorf("unknown workload %q", cfg.Workload)
}

// churn is one session's life: startSession on the server, one find in a new session, then
// endSessions. The driver cannot run an operation under a server-minted lsid, so the find runs
// in a fresh driver session and endSessions ends both. The driver session is deliberately not
// returned to the driver's pool, which would hand the same lsid out again.
func churn(ctx context.Context, client *mongo.Client, admin *mongo.Database, find func(context.Context) error) error {
	var started struct {
		ID bson.Raw `bson:"id"`
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "startSession", Value: 1}}).Decode(&started); err != nil {
		return fmt.Errorf("startSession: %w", err)
	}
	sess, err := client.StartSession()
	if err != nil {
		return err
	}
	findErr := find(mongo.NewSessionContext(ctx, sess))
	endErr := admin.RunCommand(ctx, bson.D{{Key: "endSessions", Value: bson.A{started.ID, sess.ID()}}}).Err()
	if endErr != nil {
		endErr = fmt.Errorf("endSessions: %w", endErr)
	}
	return errors.Join(findErr, endErr)
}

// newKillWorker holds cfg.Sessions sessions for the whole run. Before each kill it opens one
// cursor in each (a find with batchSize 1 over at least two documents stays open); the timed
// operation is the single killSessions naming them all, which the router fans out to every
// member of every shard. Killed sessions stay usable, so the next round reuses them.
func newKillWorker(ctx context.Context, cfg Config, client *mongo.Client, admin *mongo.Database, docs *mongo.Collection) (*worker, error) {
	sessions := make([]*mongo.Session, 0, cfg.Sessions)
	ids := make(bson.A, 0, cfg.Sessions)
	endAll := func(ctx context.Context) {
		for _, s := range sessions {
			s.EndSession(ctx)
		}
	}
	for range cfg.Sessions {
		s, err := client.StartSession()
		if err != nil {
			endAll(ctx)
			return nil, err
		}
		sessions = append(sessions, s)
		ids = append(ids, s.ID())
	}
	open := options.Find().SetBatchSize(1)
	return &worker{
		before: func(ctx context.Context) error {
			for _, s := range sessions {
				// The killed cursors need no Close: the server has forgotten them, and the
				// driver holds nothing else for a cursor outside load-balanced mode.
				cur, err := docs.Find(mongo.NewSessionContext(ctx, s), bson.D{}, open)
				if err != nil {
					return fmt.Errorf("opening a cursor: %w", err)
				}
				if cur.ID() == 0 {
					return errors.New("opening a cursor: the first batch exhausted it")
				}
			}
			return nil
		},
		op: func(ctx context.Context) error {
			return admin.RunCommand(ctx, bson.D{{Key: "killSessions", Value: ids}}).Err()
		},
		close: endAll,
	}, nil
}
