package auth

import (
	"encoding/base64"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// The fields of saslStart and saslContinue (sasl_commands.idl: strict structs), as bits.
type saslField uint8

const (
	fMechanism saslField = 1 << iota
	fPayload
	fAutoAuthorize
	fOptions
	fConversationID
)

const (
	saslStartFields    = fMechanism | fPayload | fAutoAuthorize | fOptions
	saslContinueFields = fConversationID | fPayload
)

// saslFieldNames in the IDL's declaration order: the order missing fields are reported in.
var saslFieldNames = []struct {
	f    saslField
	name string
}{
	{fConversationID, "conversationId"}, {fMechanism, "mechanism"}, {fAutoAuthorize, "autoAuthorize"},
	{fOptions, "options"}, {fPayload, "payload"},
}

// required fields: the others are optional or have a default.
const saslRequired = fMechanism | fPayload | fConversationID

// genericArguments are the fields every command may carry (generic_argument.idl); a strict
// command accepts them besides its own.
var genericArguments = setOf("$db", "$client", "$audit", "$clusterTime", "$configServerState",
	"$readPreference", "$queryOptions", "$replData", "$oplogQueryData", "$gleStats", "$topologyTime",
	"$configTime", "apiVersion", "apiStrict", "apiDeprecationErrors", "maxTimeMS", "readConcern",
	"writeConcern", "lsid", "txnNumber", "autocommit", "startTransaction", "stmtId", "comment",
	"clientOperationKey", "databaseVersion", "shardVersion", "mayBypassWriteBlocking",
	"usesDefaultMaxTimeMS", "rawData")

// parseSasl parses a saslStart or saslContinue body (command name) with the IDL parser's errors.
func parseSasl(cmd bsoncore.Document, command string, allowed saslField) (saslRequest, error) {
	var req saslRequest
	elems, err := cmd.Elements()
	if err != nil {
		return req, mongoerr.New(mongoerr.InvalidBSON, "invalid BSON in '%s' command", command)
	}
	var seen saslField
	for i, e := range elems {
		if i == 0 { // the command name itself
			continue
		}
		key, v := e.Key(), e.Value()
		f := saslFieldByName(key)
		if f&allowed == 0 {
			if genericArguments[key] {
				continue
			}
			return req, mongoerr.New(mongoerr.IDLUnknownField, "BSON field '%s.%s' is an unknown field.", command, key)
		}
		if seen&f != 0 {
			return req, mongoerr.New(mongoerr.IDLDuplicateField, "BSON field '%s.%s' is a duplicate field", command, key)
		}
		if v.Type == bsoncore.TypeNull || v.Type == bsoncore.TypeUndefined {
			continue // the IDL parser treats both as absent
		}
		seen |= f
		path := command + "." + key
		switch f {
		case fMechanism:
			s, ok := v.StringValueOK()
			if !ok {
				return req, mongoerr.WrongType(path, v.Type, "string")
			}
			req.mechanism = s
		case fPayload:
			if req.payload, req.asBase64, err = parsePayload(v); err != nil {
				return req, err
			}
		case fAutoAuthorize: // ignored by mongod, but typed
			if !isSafeBool(v.Type) {
				return req, mongoerr.New(mongoerr.TypeMismatch, "BSON field '%s' is the wrong type '%s', expected types '[bool, long, int, decimal, double]'",
					path, mongoerr.TypeName(v.Type))
			}
		case fOptions:
			d, ok := v.DocumentOK()
			if !ok {
				return req, mongoerr.WrongType(path, v.Type, "object")
			}
			req.options = d
		case fConversationID:
			id, ok := v.Int32OK()
			if !ok {
				return req, mongoerr.WrongType(path, v.Type, "int")
			}
			req.conversationID = id
		}
	}
	for _, fn := range saslFieldNames {
		if allowed&saslRequired&fn.f != 0 && seen&fn.f == 0 {
			return req, mongoerr.New(mongoerr.IDLFailedToParse, "BSON field '%s.%s' is missing but a required field", command, fn.name)
		}
	}
	return req, nil
}

func saslFieldByName(key string) saslField {
	for _, fn := range saslFieldNames {
		if fn.name == key {
			return fn.f
		}
	}
	return 0
}

func isSafeBool(t bsoncore.Type) bool {
	switch t {
	case bsoncore.TypeBoolean, bsoncore.TypeInt32, bsoncore.TypeInt64, bsoncore.TypeDouble, bsoncore.TypeDecimal128:
		return true
	}
	return false
}

// parsePayload is SaslPayload::parseFromBSON: a base64 string (answered in kind) or generic
// BinData.
func parsePayload(v bsoncore.Value) (payload []byte, asBase64 bool, err error) {
	switch v.Type {
	case bsoncore.TypeString:
		s, _ := v.StringValueOK()
		p, err := base64.StdEncoding.DecodeString(s)
		if err != nil || strings.ContainsAny(s, "\r\n") { // Go skips line breaks; mongod does not
			return nil, false, mongoerr.New(codeInvalidBase64, "Failed decoding SASL payload: invalid base64")
		}
		return p, true, nil
	case bsoncore.TypeBinary:
		subtype, data, _ := v.BinaryOK()
		if subtype != bson.TypeBinaryGeneric {
			return nil, false, mongoerr.New(mongoerr.BadValue, "Invalid SASLPayload subtype. Expected BinDataGeneral, got: %s", mongoerr.BinDataTypeName(subtype))
		}
		return data, false, nil
	}
	return nil, false, mongoerr.New(mongoerr.BadValue, "Invalid SASLPayload type. Expected Base64 or BinData, got: %s", mongoerr.TypeName(v.Type))
}
