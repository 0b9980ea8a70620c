package auth

import (
	"strconv"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// AuditMetadata is the $audit document a router that authenticates to its shards as a trusted
// client sends with each command, so that a shard's audit log and ownership checks see the
// client's user rather than the router's: {$impersonatedUser: {user, db}, $impersonatedRoles:
// [{role, db}...]} (src/mongo/rpc/metadata/impersonated_user_metadata.cpp,
// writeAuthDataToImpersonatedUserMetadata). It is built once per user.
func (u *User) AuditMetadata() bsoncore.Document { return u.audit }

func auditMetadata(user, db string, roles []RoleRef) bsoncore.Document {
	name := bsoncore.NewDocumentBuilder().AppendString("user", user).AppendString("db", db).Build()
	idx, arr := bsoncore.AppendArrayStart(nil)
	for i, r := range roles {
		arr = bsoncore.AppendDocumentElement(arr, strconv.Itoa(i),
			bsoncore.NewDocumentBuilder().AppendString("role", r.Role).AppendString("db", r.DB).Build())
	}
	arr, _ = bsoncore.AppendArrayEnd(arr, idx)
	return bsoncore.NewDocumentBuilder().
		AppendDocument("$impersonatedUser", name).
		AppendArray("$impersonatedRoles", arr).Build()
}
