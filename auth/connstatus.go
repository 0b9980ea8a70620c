package auth

import (
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// RoleNames are the user's roles as mongod reports them (connectionStatus's
// authenticatedUserRoles, $audit's $impersonatedRoles): its own and those they inherit.
func (u *User) RoleNames() []RoleRef { return u.roleNames }

// AppendPrivileges appends the user's privileges as connectionStatus shows them with
// showPrivileges: [{resource, actions}], actions sorted.
func (u *User) AppendPrivileges(dst []byte, key string) []byte {
	idx, dst := bsoncore.AppendArrayElementStart(dst, key)
	for i, p := range u.privs {
		actions := make([]string, 0, len(p.actions))
		for a := range p.actions {
			actions = append(actions, a)
		}
		slices.Sort(actions)
		pidx, d := bsoncore.AppendDocumentElementStart(dst, strconv.Itoa(i))
		d = bsoncore.AppendDocumentElement(d, "resource", p.pattern.resourceDoc())
		aidx, d := bsoncore.AppendArrayElementStart(d, "actions")
		for j, a := range actions {
			d = bsoncore.AppendStringElement(d, strconv.Itoa(j), a)
		}
		d, _ = bsoncore.AppendArrayEnd(d, aidx)
		dst, _ = bsoncore.AppendDocumentEnd(d, pidx)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return dst
}

// resourceDoc is the pattern as a privilege's resource document, as createRole takes it.
func (p pattern) resourceDoc() bsoncore.Document {
	b := bsoncore.NewDocumentBuilder()
	switch p.kind {
	case patCluster:
		b.AppendBoolean("cluster", true)
	case patAnyResource:
		b.AppendBoolean("anyResource", true)
	case patAnyNormal, patDB, patCollection, patExactNS:
		b.AppendString("db", p.db).AppendString("collection", p.coll)
	default: // the system_buckets kinds
		if p.kind == patSystemBucketsInDB || p.kind == patExactSystemBuckets {
			b.AppendString("db", p.db)
		}
		b.AppendString("system_buckets", p.coll)
	}
	return b.Build()
}
