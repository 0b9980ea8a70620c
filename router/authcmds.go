package router

import (
	"context"
	"slices"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/auth"
	"github.com/mongos-lite/mongos-lite/internal/command"
)

// The commands a client may run before it logs in are answered by the router itself, as mongos
// answers them (src/mongo/db/commands/authentication_commands.cpp, connection_status.cpp and
// list_commands.cpp are registered for the router). They concern the client's connection to the
// router: sent to a shard, they would describe or change the router's own connection there.

// connectionStatus reports who the connection is authenticated as, and with showPrivileges what
// that user may do.
func (c *conn) connectionStatus(_ context.Context, r *request) (bsoncore.Document, error) {
	show, err := command.TrueValue(r.Body, "showPrivileges", "connectionStatus")
	if err != nil {
		return nil, err
	}
	return bsoncore.NewDocumentBuilder().AppendDocument("authInfo", auth.AuthInfo(r.who.user, show)).
		AppendDouble("ok", 1).Build(), nil
}

// logout logs the connection out of the database it names, if its user authenticated there.
func (c *conn) logout(_ context.Context, r *request) (bsoncore.Document, error) {
	if c.conv != nil {
		c.conv.Logout(string(r.DB))
	}
	return nil, nil
}

// listCommands lists the commands the router knows: those it answers itself and those it
// forwards, with whether each needs a logged-in client.
func (c *conn) listCommands(context.Context, *request) (bsoncore.Document, error) {
	names := make([]string, 0, len(knownNames))
	for name := range knownNames {
		names = append(names, name)
	}
	slices.Sort(names)
	idx, cmds := bsoncore.AppendDocumentStart(nil)
	for _, name := range names {
		cmds = bsoncore.AppendDocumentElement(cmds, name, bsoncore.NewDocumentBuilder().
			AppendString("help", "").
			AppendBoolean("requiresAuth", auth.RequiresAuth(name)).
			AppendBoolean("secondaryOk", true).
			AppendBoolean("adminOnly", adminOnly[name]).Build())
	}
	cmds, _ = bsoncore.AppendDocumentEnd(cmds, idx)
	return bsoncore.NewDocumentBuilder().AppendDocument("commands", cmds).AppendDouble("ok", 1).Build(), nil
}

// adminOnly are the commands mongod runs on the admin database only.
var adminOnly = map[string]bool{
	"listDatabases": true, "killSessions": true, "killAllSessions": true, "killAllSessionsByPattern": true,
	"listShards": true, "configureFailPoint": true, "getParameter": true,
	"balancerStatus": true, "balancerStart": true, "balancerStop": true, "flushRouterConfig": true,
	"getShardMap": true, "getCmdLineOpts": true,
}
