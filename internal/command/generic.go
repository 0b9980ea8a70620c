package command

import (
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/bsonview"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The router authenticates to the shards as a trusted client (__system, or a user who may
// impersonate), and a shard believes what such a client tells it. So every generic argument of
// a client's command is decided here, once, as mongos decides it (src/mongo/idl/
// generic_argument.idl: forward_to_shards; src/mongo/rpc/metadata.cpp and impersonation_session.cpp
// for the fields only privileged clients may send; client_metadata_propagation_egress_hook.cpp for
// what mongos sends of its own). docs/generic-arguments.md is the same table for readers.

// Disposition is what the router does with a top-level field of a client's command.
type Disposition uint8

const (
	// Own fields are the command's own, not generic arguments: the shard receives them as sent.
	Own Disposition = iota
	// Forward: a generic argument the shards receive as the client sent it.
	Forward
	// Replace: the router sends its own value in place of the client's (or none).
	Replace
	// Drop: an internal argument the router neither uses nor sends.
	Drop
)

// rule is one generic argument: its disposition, and the cluster action a client must hold to
// send it at all (with the refusal mongod gives without it); refuse is a refusal for everyone.
type rule struct {
	d      Disposition
	needs  string
	refuse *mongoerr.Error
}

var genericArgs = map[string]rule{
	// generic_args_api_v1
	"apiVersion":           {d: Forward}, // mongos re-sends the API parameters it parsed: the same values
	"apiStrict":            {d: Forward},
	"apiDeprecationErrors": {d: Forward},
	"$db":                  {d: Forward}, // the command goes to the same database
	"maxTimeMS":            {d: Forward},
	"readConcern":          {d: Forward},
	"writeConcern":         {d: Forward},
	"lsid":                 {d: Replace}, // the full {id, uid} of the session the router checked
	"clientOperationKey":   {d: Drop},    // honoured only from internal clients, which the router is
	"txnNumber":            {d: Forward},
	"autocommit":           {d: Forward},
	"startTransaction":     {d: Forward},
	"stmtId":               {d: Forward},
	"comment":              {d: Forward},
	"$readPreference":      {d: Replace}, // the mode the router selected the member with
	"$clusterTime":         {d: Replace}, // the router's cluster time
	// generic_args_unstable_v1
	"$audit": {d: Replace, needs: "impersonate",
		refuse: mongoerr.New(mongoerr.Unauthorized, "Unauthorized use of impersonation metadata.")},
	"$client":                         {d: Replace}, // the connection's metadata, with the router's own part
	"$configServerState":              {d: Drop},
	"allowImplicitCollectionCreation": {d: Drop},
	"$oplogQueryData":                 {d: Drop},
	"$queryOptions":                   {d: Forward},
	"$replData":                       {d: Drop},
	"databaseVersion":                 {d: Drop},
	"shardVersion":                    {d: Drop},
	"tracking_info":                   {d: Drop},
	"coordinator":                     {d: Drop}, // a two-phase commit role; mongos-lite has no 2PC
	"maxTimeMSOpOnly":                 {d: Drop},
	"$configTime":                     {d: Drop},
	"$topologyTime":                   {d: Drop},
	"txnRetryCounter": {d: Drop,
		refuse: mongoerr.New(mongoerr.InvalidOptions, "txnRetryCounter is only allowed for internal clients")},
	"mayBypassWriteBlocking": {d: Replace, needs: "internal",
		refuse: mongoerr.New(6317500, "Client is not properly authorized to propagate mayBypassWriteBlocking")},
	"$tenant": {d: Drop,
		refuse: mongoerr.New(mongoerr.InvalidOptions, "$tenant is refused: mongos-lite runs without multitenancy")},
	"expectPrefix": {d: Drop},
	// Internal arguments of later servers (src/mongo/rpc/metadata.cpp): a shard of a newer
	// version honours them from the router, so they are refused as that shard would refuse them
	// from an unprivileged client, and never forwarded.
	"mayBypassReplicaSetWriteBlocking": {d: Drop, needs: "internal",
		refuse: mongoerr.New(12097002, "Client is not properly authorized to propagate mayBypassReplicaSetWriteBlocking")},
	"versionContext": {d: Drop, needs: "internal",
		refuse: mongoerr.New(9955800, "Client is not properly authorized to propagate versionContext")},
	"executionAdmissionContextType": {d: Drop, needs: "internal",
		refuse: mongoerr.New(12137303, "Client is not properly authorized to propagate executionAdmissionContextType")},
	"ifrFlags": {d: Drop, needs: "internal",
		refuse: mongoerr.New(13002302, "ifrFlags are an internal mechanism. Client is not properly authorized to propagate ifrFlags")},
	"ifrSenderVersion":            {d: Drop},
	"isDirectSystemBucketsAccess": {d: Drop},
	"isExternalClientOnRouter":    {d: Drop},
	"rawData": {d: Drop,
		refuse: mongoerr.New(mongoerr.InvalidOptions, "rawData is refused: mongos-lite does not authorize raw time-series bucket operations")},
}

// DispositionOf says what the router does with the top-level field key.
func DispositionOf(key []byte) Disposition { return genericArgs[string(key)].d }

// Allowed reports whether a cluster-wide action is the caller's. Without authentication every
// action is, as in mongod.
type Allowed func(action string) bool

// CheckGeneric refuses the generic arguments the caller may not send, with mongod's errors, in
// the order of the body. It runs before the command's own authorization, as mongod reads request
// metadata before it checks the command.
func (c *Command) CheckGeneric(allowed Allowed) error {
	var err error
	bsonview.Each(c.Body, func(el bsoncore.Element) bool {
		r, ok := genericArgs[string(el.KeyBytes())]
		if !ok || r.refuse == nil || r.needs != "" && allowed(r.needs) {
			return true
		}
		e := *r.refuse
		err = &e
		return false
	})
	return err
}

// replyFields are the generic reply fields mongos does not pass from shards to clients
// (forward_from_shards: false). $clusterTime and operationTime are replaced by the router's.
var replyFields = map[string]bool{
	"$clusterTime": true, "operationTime": true, "$configServerState": true, "$gleStats": true,
	"lastCommittedOpTime": true, "readOnly": true, "additionalParticipants": true,
	"$configTime": true, "$replData": true, "$topologyTime": true, "$oplogQueryData": true,
}

// FromShard reports whether a top-level field of a shard's reply reaches the client.
func FromShard(key []byte) bool { return !replyFields[string(key)] }

// Argument describes one generic argument of the table, for tests and documentation.
type Argument struct {
	Name        string
	Disposition Disposition
	// Needs is the cluster action a client must hold to send the argument ("" when anyone may,
	// or nobody may when Refusal is set).
	Needs   string
	Refusal *mongoerr.Error
}

// Arguments lists the table in name order.
func Arguments() []Argument {
	out := make([]Argument, 0, len(genericArgs))
	for name, r := range genericArgs {
		out = append(out, Argument{Name: name, Disposition: r.d, Needs: r.needs, Refusal: r.refuse})
	}
	slices.SortFunc(out, func(a, b Argument) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (d Disposition) String() string {
	return [...]string{"own", "forward", "replace", "drop"}[d]
}
