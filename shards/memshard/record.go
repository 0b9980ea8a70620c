package memshard

import (
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Received is one command as a member received it, for tests that check what the router sends:
// the body and the documents of each document sequence.
type Received struct {
	Member    string
	Body      bson.Raw
	Sequences map[string][]bson.Raw
}

// WithCommandLog calls fn with every OP_MSG command a member of the set receives, before the
// member runs it. fn runs on the member's connection goroutine and must not block.
func WithCommandLog(fn func(Received)) Option { return func(o *setOptions) { o.commandLog = fn } }

// record hands a received command to the set's command log, if any.
func (c *conn) record(r *request) {
	log := c.m.rs.opts.commandLog
	if log == nil {
		return
	}
	got := Received{Member: c.m.host, Body: bson.Raw(r.body)}
	for _, s := range r.seqs {
		docs, err := s.Docs()
		if err != nil {
			continue
		}
		if got.Sequences == nil {
			got.Sequences = map[string][]bson.Raw{}
		}
		for _, d := range docs {
			got.Sequences[s.Identifier] = append(got.Sequences[s.Identifier], bson.Raw(d))
		}
	}
	log(got)
}
