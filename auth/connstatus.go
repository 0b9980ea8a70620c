package auth

import (
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// AuthInfo is connectionStatus's authInfo for a connection authenticated as u (nil: nobody):
// its user and roles and, with showPrivileges, its privileges (connection_status.cpp).
func AuthInfo(u *User, showPrivileges bool) bsoncore.Document {
	users, roles := bsoncore.BuildArray(nil), bsoncore.BuildArray(nil)
	if u != nil {
		users = bsoncore.BuildArray(nil, bsoncore.Value{Type: bsoncore.TypeEmbeddedDocument,
			Data: bsoncore.NewDocumentBuilder().AppendString("user", u.Name).AppendString("db", u.DB).Build()})
		roles = roleArray(u.RoleNames())
	}
	idx, info := bsoncore.AppendDocumentStart(nil)
	info = bsoncore.AppendArrayElement(info, "authenticatedUsers", users)
	info = bsoncore.AppendArrayElement(info, "authenticatedUserRoles", roles)
	if showPrivileges {
		if u != nil {
			info = u.AppendPrivileges(info, "authenticatedUserPrivileges")
		} else {
			info = bsoncore.AppendArrayElement(info, "authenticatedUserPrivileges", bsoncore.BuildArray(nil))
		}
	}
	info, _ = bsoncore.AppendDocumentEnd(info, idx)
	return info
}

func roleArray(roles []RoleRef) []byte {
	idx, arr := bsoncore.AppendArrayStart(nil)
	for i, role := range roles {
		arr = bsoncore.AppendDocumentElement(arr, strconv.Itoa(i),
			bsoncore.NewDocumentBuilder().AppendString("role", role.Role).AppendString("db", role.DB).Build())
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, idx)
	return arr
}

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
