package auth

// Which names a user may see: listDatabases and listCollections show a user only the databases
// and collections it holds some privilege on, as mongod and mongos filter them
// (cluster_list_databases_cmd.cpp, list_collections.cpp).

// AuthorizedForDB reports whether the user holds any privilege that reaches database db or one
// of its collections: what listDatabases shows a user without listDatabases
// (isAuthorizedForAnyActionOnAnyResourceInDB).
func (u *User) AuthorizedForDB(db string) bool {
	for _, p := range u.privs {
		switch p.pattern.kind {
		case patAnyResource, patCollection, patAnySystemBuckets, patSystemBucketsInAnyDB:
			return true
		case patAnyNormal:
			if !isInternalDB(db) {
				return true
			}
		case patDB, patExactNS, patSystemBucketsInDB, patExactSystemBuckets:
			if p.pattern.db == db {
				return true
			}
		}
	}
	return false
}

// AuthorizedForNS reports whether the user holds any privilege on the collection db.coll
// (isAuthorizedForAnyActionOnResource of its exact namespace): what listCollections with
// authorizedCollections shows.
func (u *User) AuthorizedForNS(db, coll string) bool {
	r := NSResource(db, coll)
	for _, p := range u.privs {
		if len(p.actions) > 0 && p.pattern.matches(r) {
			return true
		}
	}
	return false
}
