package router

import (
	"context"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/command"
)

// The shards see every request as the router's, so they list every database and collection;
// the router shows a client only the names it may see, as mongos does
// (cluster_list_databases_cmd.cpp, list_collections.cpp).

// visibleDatabases is listDatabases's filter: with authorizedDatabases (by default for a user
// without the listDatabases action) only the databases the user holds a privilege in.
// Authorization has already refused authorizedDatabases: false without listDatabases.
func (id identity) visibleDatabases(r *request) func(db string) bool {
	all := func(string) bool { return true }
	if !id.auth || id.user == nil {
		return all
	}
	filtered := !id.can(auth.ActionListDatabases)
	if v, ok := bsonview.Lookup(r.Body, "authorizedDatabases"); ok {
		filtered, _ = v.BooleanOK()
	}
	if !filtered {
		return all
	}
	return id.user.AuthorizedForDB
}

// collectionFilter is listCollections's filter with authorizedCollections: only the collections
// the user holds a privilege on. Nil when nothing is filtered.
func (id identity) collectionFilter(r *request) (func(bsoncore.Document) bool, error) {
	authorized, err := command.TrueValue(r.Body, "authorizedCollections", "listCollections")
	if err != nil || !authorized || !id.auth || id.user == nil {
		return nil, err
	}
	db, user := string(r.DB), id.user
	return func(entry bsoncore.Document) bool {
		name, _ := entry.Lookup("name").StringValueOK()
		return user.AuthorizedForNS(db, name)
	}, nil
}

// listCollections goes to the database's primary shard; with authorizedCollections the router
// filters the batches, this one and every getMore's.
func (c *conn) listCollections(ctx context.Context, r *request) (bsoncore.Document, error) {
	keep, err := r.who.collectionFilter(r)
	if err != nil {
		return nil, err
	}
	r.keep = keep
	return c.forwardToPrimary(ctx, r, false)
}
