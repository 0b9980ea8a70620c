package router

import (
	"context"
	"strings"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
	"github.com/mongos-lite/mongos-lite/internal/sessionid"
)

// identity is who runs a command, as the session layer sees it
// (src/mongo/db/logical_session_id_helpers.cpp): without authentication everyone has the no-auth
// uid and every privilege check passes; with it, the connection's authenticated user.
type identity struct {
	auth bool
	user *auth.User // nil: not authenticated
	uid  sessionid.UID
}

func (c *conn) identity() (identity, error) {
	if c.conv == nil {
		return identity{uid: sessionid.NoAuthUID}, nil
	}
	id := identity{auth: true, user: c.conv.User()}
	if id.user == nil {
		return id, nil
	}
	uid, err := id.user.UID()
	if err != nil {
		return identity{}, err
	}
	id.uid = uid
	return id, nil
}

// can reports a cluster-wide privilege; everything is allowed without authentication.
func (id identity) can(action string) bool { return id.canOn(action, auth.ClusterResource()) }

// canOn reports a privilege on a resource; everything is allowed without authentication.
func (id identity) canOn(action string, r auth.Resource) bool {
	return !id.auth || id.user != nil && id.user.Can(action, r)
}

// mayBypassWriteBlocking is what the router tells a shard of the caller's right to write through
// setUserWriteBlockMode: the bypassWriteBlockingMode privilege, or everything without
// authentication, as mongod's AuthorizationSession decides it.
func (id identity) mayBypassWriteBlocking() bool { return id.can("bypassWriteBlockingMode") }

// mayKillCursor is checkAuthForKillCursors (src/mongo/db/auth/auth_checks.cpp): killAnyCursor on
// the cluster, the cursor's owner, or killAnyCursor on its namespace (its database for a
// collectionless cursor such as aggregate: 1's "$cmd.aggregate").
func (id identity) mayKillCursor(owner sessionid.UID, db []byte, coll string) error {
	target := auth.NSResource(string(db), coll)
	if strings.HasPrefix(coll, "$cmd.") {
		target = auth.DBResource(string(db))
	}
	if owner == id.uid || id.can(auth.ActionKillAnyCursor) || id.canOn(auth.ActionKillAnyCursor, target) {
		return nil
	}
	return mongoerr.New(mongoerr.Unauthorized, "not authorized to kill cursor on %s.%s", db, coll)
}

// identify is a command the router builds for the caller (a session fan-out), with the caller as
// its $audit, as mongos's egress hooks add it to every request (with --auth; nothing without).
func (id identity) identify(body bsoncore.Document) bsoncore.Document {
	if id.user == nil {
		return body
	}
	return withElements(body, bsoncore.AppendDocumentElement(nil, "$audit", id.user.AuditMetadata()))
}

// owner is the "user@db" a session record names ("" without authentication).
func (id identity) owner() string {
	if id.user == nil {
		return ""
	}
	return id.user.FullName()
}

// requireSessions refuses session use by an unauthenticated client when auth is on (reference
// §1.2: "Logical sessions require authentication").
func (id identity) requireSessions() error {
	if id.auth && id.user == nil {
		return mongoerr.New(mongoerr.Unauthorized, "Logical sessions require authentication")
	}
	return nil
}

// saslStart and saslContinue run the connection's SCRAM conversation.
func (c *conn) saslStart(_ context.Context, r *request) (bsoncore.Document, error) {
	return c.sasl(func(dst []byte) ([]byte, error) { return c.conv.SaslStart(dst, string(r.DB), r.Body) })
}

func (c *conn) saslContinue(_ context.Context, r *request) (bsoncore.Document, error) {
	return c.sasl(func(dst []byte) ([]byte, error) { return c.conv.SaslContinue(dst, r.Body) })
}

func (c *conn) sasl(step func([]byte) ([]byte, error)) (bsoncore.Document, error) {
	if c.conv == nil {
		return nil, mongoerr.New(mongoerr.AuthenticationFailed, "Authentication is not enabled on this router (start it with --auth)")
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst, err := step(dst)
	if err != nil {
		return nil, err
	}
	dst = bsoncore.AppendDoubleElement(dst, "ok", 1)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst, nil
}

// helloAuth adds hello's authentication answers: saslSupportedMechs and speculativeAuthenticate.
func (c *conn) helloAuth(hello bsoncore.Document) ([][]byte, error) {
	if c.conv == nil {
		return nil, nil
	}
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst, err := c.s.cfg.Auth.AppendSaslSupportedMechs(dst, hello)
	if err != nil {
		return nil, err
	}
	c.conv.SetPeer(c.tlsState()) // for a speculative MONGODB-X509 authenticate
	if dst, err = c.conv.AppendSpeculative(dst, hello); err != nil {
		return nil, err
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	var elems [][]byte
	bsonview.Each(dst, func(el bsoncore.Element) bool {
		elems = append(elems, el)
		return true
	})
	return elems, nil
}
