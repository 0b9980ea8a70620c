// Package currentop reads the options of the $currentOp stage and of the currentOp command
// (src/mongo/db/pipeline/document_source_current_op.cpp and .idl, current_op_common.cpp), for
// memshard, which answers them as a replica-set member, and the router, which answers them as
// mongos.
package currentop

import (
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/command"
	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// Stage is the stage's name.
const Stage = "$currentOp"

// Spec is $currentOp's options with their defaults.
type Spec struct {
	AllUsers        bool // others' operations too (needs inprog)
	IdleConnections bool
	IdleCursors     bool
	IdleSessions    bool // default true
	LocalOps        bool // mongos: its own operations instead of the shards'
	TruncateOps     bool // a command over 1000 bytes is reported as a string prefix
	TargetAllNodes  bool // mongos: every member of every shard, not only primaries
}

// Parse reads the stage's argument as mongod and mongos do: the lite parse first (an object,
// allUsers and localOps booleans), then the namespace (aggregate: 1 on admin), then the strict
// IDL parse. Whether localOps and targetAllNodes may be used is the caller's to judge.
func Parse(v bsoncore.Value, aggregate bsoncore.Value, db string) (Spec, error) {
	spec := Spec{IdleSessions: true}
	doc, ok := v.DocumentOK()
	if !ok {
		return spec, mongoerr.New(mongoerr.TypeMismatch, "$currentOp options must be specified in an object, but found: %s",
			mongoerr.TypeName(v.Type))
	}
	elems, _ := doc.Elements()
	for _, e := range elems {
		if k := e.Key(); (k == "allUsers" || k == "localOps") && e.Value().Type != bsoncore.TypeBoolean {
			return spec, mongoerr.New(mongoerr.TypeMismatch,
				"The '%s' parameter of the $currentOp stage must be a boolean value, but found: %s", k, mongoerr.TypeName(e.Value().Type))
		}
	}
	if aggregate.Type == bsoncore.TypeString || db != "admin" {
		return spec, mongoerr.New(mongoerr.InvalidNamespace, "$currentOp must be run against the 'admin' database with {aggregate: 1}")
	}
	fields := map[string]*bool{
		"allUsers": &spec.AllUsers, "idleConnections": &spec.IdleConnections, "idleCursors": &spec.IdleCursors,
		"idleSessions": &spec.IdleSessions, "localOps": &spec.LocalOps, "truncateOps": &spec.TruncateOps,
		"targetAllNodes": &spec.TargetAllNodes,
	}
	seen := map[string]bool{}
	for _, e := range elems {
		k := e.Key()
		dst, known := fields[k]
		switch {
		case !known:
			return spec, mongoerr.New(mongoerr.IDLUnknownField, "BSON field '$currentOp.%s' is an unknown field.", k)
		case seen[k]:
			return spec, mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '$currentOp.%s' is a duplicate field", k)
		}
		seen[k] = true
		b, ok := e.Value().BooleanOK()
		if !ok { // OptionalBool::parseFromBSON
			return spec, mongoerr.New(mongoerr.TypeMismatch, "Field '%s' should be a boolean value, but found: %s", k, mongoerr.TypeName(e.Value().Type))
		}
		*dst = b
	}
	if spec.LocalOps && spec.TargetAllNodes {
		return spec, mongoerr.New(mongoerr.FailedToParse, "The 'localOps' parameter of the $currentOp stage cannot be true when 'targetAllNodes' is also true")
	}
	return spec, nil
}

// AppendStage appends the stage {$currentOp: spec} as an array element under key, with every
// option spelled out.
func (s Spec) AppendStage(dst []byte, key string) []byte {
	sidx, dst := bsoncore.AppendDocumentElementStart(dst, key)
	oidx, dst := bsoncore.AppendDocumentElementStart(dst, Stage)
	for _, o := range []struct {
		name string
		on   bool
	}{{"allUsers", s.AllUsers}, {"idleConnections", s.IdleConnections}, {"idleCursors", s.IdleCursors},
		{"idleSessions", s.IdleSessions}, {"localOps", s.LocalOps}, {"truncateOps", s.TruncateOps},
		{"targetAllNodes", s.TargetAllNodes}} {
		dst = bsoncore.AppendBooleanElement(dst, o.name, o.on)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, oidx)
	dst, _ = bsoncore.AppendDocumentEnd(dst, sidx)
	return dst
}

// commandParams are the currentOp command's own fields; the others (generic arguments aside)
// are its filter.
var commandParams = map[string]bool{"$all": true, "$ownOps": true, "$truncateOps": true}

// FromCommand reads {currentOp: 1, $all, $ownOps, $truncateOps, <filter>}: $currentOp with
// idleConnections: $all, allUsers: !$ownOps, and operations truncated unless truncation may be
// turned off (test commands) and $truncateOps is false; the other fields are the filter.
func FromCommand(body bsoncore.Document, mayKeepWhole bool) (Spec, bsoncore.Document) {
	flag := func(name string, def bool) bool {
		if _, err := body.LookupErr(name); err != nil {
			return def
		}
		b, _ := command.TrueValue(body, name, "currentOp")
		return b
	}
	spec := Spec{IdleSessions: true, IdleConnections: flag("$all", false), AllUsers: !flag("$ownOps", false),
		TruncateOps: !mayKeepWhole || flag("$truncateOps", true)}
	idx, filter := bsoncore.AppendDocumentStart(nil)
	elems, _ := body.Elements()
	for i, e := range elems {
		if i == 0 || commandParams[e.Key()] || command.DispositionOf(e.KeyBytes()) != command.Own {
			continue
		}
		filter = append(filter, e...)
	}
	filter, _ = bsoncore.AppendDocumentEnd(filter, idx)
	return spec, filter
}
