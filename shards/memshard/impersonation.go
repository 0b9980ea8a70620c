package memshard

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// A router authenticates to its shards as a trusted client and tells them, command by command,
// whom it acts for: $audit {$impersonatedUser: {user, db}, $impersonatedRoles: [...]}
// (src/mongo/rpc/metadata/impersonated_user_metadata.cpp) and the client's metadata with its own
// in $client (client_metadata_propagation_egress_hook.cpp). mongod believes $audit only from a
// client that may impersonate (setAuditMetadata, src/mongo/rpc/metadata.cpp) and reports the
// operation as the impersonated user's in $currentOp (CurOp::reportCurrentOpForClient).

// userName is a user as mongod names one in currentOp: {user, db}.
type userName struct{ user, db string }

func nameOf(u *auth.User) (userName, bool) {
	if u == nil {
		return userName{}, false
	}
	return userName{u.Name, u.DB}, true
}

func (n userName) appendDoc(dst []byte, key string) []byte {
	idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
	dst = bsoncore.AppendStringElement(dst, "user", n.user)
	dst = bsoncore.AppendStringElement(dst, "db", n.db)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// auditMetadata is what a command's $audit claims: whether it impersonates anyone (a user, roles
// or a client) and the user, if it names one.
func auditMetadata(body bsoncore.Document) (impersonates bool, user userName, hasUser bool) {
	audit, ok := body.Lookup("$audit").DocumentOK()
	if !ok {
		return false, userName{}, false
	}
	if u, ok := audit.Lookup("$impersonatedUser").DocumentOK(); ok {
		user.user, _ = u.Lookup("user").StringValueOK()
		user.db, _ = u.Lookup("db").StringValueOK()
		hasUser = true
	}
	roles, _ := audit.Lookup("$impersonatedRoles").ArrayOK()
	vals, _ := roles.Values()
	_, noClient := audit.LookupErr("$impersonatedClient")
	return hasUser || len(vals) > 0 || noClient == nil, user, hasUser
}

// checkImpersonation refuses $audit from a client that may not impersonate, before the command
// is authorized, as mongod reads request metadata first.
func (r *request) checkImpersonation() error {
	if impersonates, _, _ := auditMetadata(r.body); impersonates && !r.mayImpersonate() {
		return mongoerr.New(mongoerr.Unauthorized, "Unauthorized use of impersonation metadata.")
	}
	return nil
}

// opUsers is who an operation runs as: the user $audit names when its sender may impersonate
// (effectiveUsers, with the authenticated user as runBy), else the authenticated user.
type opUsers struct {
	effective    []userName
	runBy        *userName
	impersonated bool
}

func (op *curOp) users(fallback *auth.User) opUsers {
	authn, isAuthn := nameOf(fallback)
	if op != nil {
		authn, isAuthn = nameOf(op.user)
		if impersonates, user, hasUser := auditMetadata(op.body); impersonates && op.mayImpersonate {
			u := opUsers{impersonated: true}
			if hasUser {
				u.effective = []userName{user}
			}
			if isAuthn {
				u.runBy = &authn
			}
			return u
		}
	}
	if !isAuthn {
		return opUsers{}
	}
	return opUsers{effective: []userName{authn}}
}

// users is who r runs as.
func (r *request) users() opUsers {
	return (&curOp{body: r.body, user: r.user(), mayImpersonate: r.mayImpersonate()}).users(nil)
}

// name is the single user coauthorization compares (AuthorizationSession::isCoauthorizedWithClient):
// the impersonated user if any, else the authenticated one.
func (u opUsers) name() (userName, bool) {
	if len(u.effective) == 0 {
		return userName{}, false
	}
	return u.effective[0], true
}

func (u opUsers) appendTo(dst []byte) []byte {
	if !u.impersonated && len(u.effective) == 0 {
		return dst
	}
	idx, dst := bsoncore.AppendArrayElementStart(dst, "effectiveUsers")
	for i, n := range u.effective {
		dst = n.appendDoc(dst, arrayKey(i))
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	if u.runBy != nil {
		idx, dst = bsoncore.AppendArrayElementStart(dst, "runBy")
		dst = u.runBy.appendDoc(dst, "0")
		dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	}
	return dst
}

// opMetadata is the client metadata an operation reports: the $client its sender attached (a
// router forwarding its client's, with its own under mongos), else the connection's.
func (op *curOp) metadata(conn bsoncore.Document) bsoncore.Document {
	if op != nil {
		if md, ok := op.body.Lookup("$client").DocumentOK(); ok {
			return md
		}
	}
	return conn
}
