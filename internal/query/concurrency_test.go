package query

import (
	"errors"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Compiled filters, updates, projections, sorts and pipelines hold no per-call state, so memshard
// can share them between connections; -race checks that claim.
func TestCompiledValuesAreSharable(t *testing.T) {
	f, err := NewFilter(doc(t, `{"a": {"$regex": "^x"}, "n": {"$gt": 1}}`))
	if err != nil {
		t.Fatal(err)
	}
	u, err := NewUpdate(val(t, `{"$inc": {"n": 1}, "$pull": {"t": {"$lt": 2}}, "$push": {"p": {"$each": [3, 1], "$sort": 1}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPipeline(docs(t, `[{"$sort": {"n": -1}}, {"$group": {"_id": "$a", "s": {"$sum": "$n"}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	d := doc(t, `{"_id": 1, "a": "xy", "n": 2, "t": [1, 2], "p": [2]}`)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if !f.Match(d) {
					errs <- errors.New("filter stopped matching")
					return
				}
				if _, _, err := u.Apply(d); err != nil {
					errs <- err
					return
				}
				if _, err := p.Run([]bson.Raw{d, d}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
