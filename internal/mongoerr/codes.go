// Package mongoerr holds MongoDB's error codes and names, builds MongoDB-shaped error replies and
// ranks errors so that a fan-out can answer with the one that matters most.
package mongoerr

import "strconv"

// Code is a MongoDB server error code (src/mongo/base/error_codes.yml).
type Code int32

// The codes mongos-lite produces or must recognise.
const (
	InternalError                      Code = 1
	BadValue                           Code = 2
	NoSuchKey                          Code = 4
	HostUnreachable                    Code = 6
	HostNotFound                       Code = 7
	UnknownError                       Code = 8
	FailedToParse                      Code = 9
	UserNotFound                       Code = 11
	UnsupportedFormat                  Code = 12
	Unauthorized                       Code = 13
	TypeMismatch                       Code = 14
	Overflow                           Code = 15
	InvalidLength                      Code = 16
	ProtocolError                      Code = 17
	AuthenticationFailed               Code = 18
	IllegalOperation                   Code = 20
	NamespaceNotFound                  Code = 26
	IndexNotFound                      Code = 27
	CursorNotFound                     Code = 43
	NamespaceExists                    Code = 48
	MaxTimeMSExpired                   Code = 50
	CommandNotFound                    Code = 59
	WriteConcernFailed                 Code = 64
	ShardNotFound                      Code = 70
	InvalidOptions                     Code = 72
	InvalidNamespace                   Code = 73
	NodeNotFound                       Code = 74
	WriteConcernLegacyOK               Code = 75
	NoReplicationEnabled               Code = 76
	OperationIncomplete                Code = 78
	UnknownReplWriteConcern            Code = 79
	NetworkTimeout                     Code = 89
	ShutdownInProgress                 Code = 91
	OperationFailed                    Code = 96
	WriteConflict                      Code = 112
	CommandFailed                      Code = 125
	NamespaceNotSharded                Code = 118
	PrimarySteppedDown                 Code = 189
	ShardingStateNotInitialized        Code = 203
	NoSuchSession                      Code = 206
	InvalidUUID                        Code = 207
	DuplicateSession                   Code = 213
	TransactionTooOld                  Code = 225
	NoSuchTransaction                  Code = 251
	TransactionCommitted               Code = 256
	TransactionTooLarge                Code = 257
	TooManyLogicalSessions             Code = 261
	ExceededTimeLimit                  Code = 262
	OperationNotSupportedInTransaction Code = 263
	PreparedTransactionInProgress      Code = 267
	APIStrictError                     Code = 323
	UnsupportedOpQueryCommand          Code = 352
	ClientMetadataCannotBeMutated      Code = 186
	ClientMetadataMissingField         Code = 183
	SocketException                    Code = 9001
	DuplicateKey                       Code = 11000
	InterruptedAtShutdown              Code = 11600
	Interrupted                        Code = 11601
	InterruptedDueToReplStateChange    Code = 11602
	NotWritablePrimary                 Code = 10107
	NotPrimaryNoSecondaryOk            Code = 13435
	NotPrimaryOrSecondary              Code = 13436
	StaleConfig                        Code = 13388
	IDLDuplicateField                  Code = 40413
	IDLFailedToParse                   Code = 40414
	IDLUnknownField                    Code = 40415
	TxnNumberNotAllowed                Code = 50889
)

var names = map[Code]string{
	InternalError: "InternalError", BadValue: "BadValue", NoSuchKey: "NoSuchKey",
	HostUnreachable: "HostUnreachable", HostNotFound: "HostNotFound", UnknownError: "UnknownError",
	FailedToParse: "FailedToParse", UserNotFound: "UserNotFound", UnsupportedFormat: "UnsupportedFormat",
	Unauthorized: "Unauthorized", TypeMismatch: "TypeMismatch", Overflow: "Overflow",
	InvalidLength: "InvalidLength", ProtocolError: "ProtocolError",
	AuthenticationFailed: "AuthenticationFailed", IllegalOperation: "IllegalOperation",
	NamespaceNotFound: "NamespaceNotFound", IndexNotFound: "IndexNotFound",
	CursorNotFound: "CursorNotFound", NamespaceExists: "NamespaceExists",
	MaxTimeMSExpired: "MaxTimeMSExpired", CommandNotFound: "CommandNotFound",
	WriteConcernFailed: "WriteConcernFailed", ShardNotFound: "ShardNotFound",
	InvalidOptions: "InvalidOptions", InvalidNamespace: "InvalidNamespace",
	NodeNotFound: "NodeNotFound", WriteConcernLegacyOK: "WriteConcernLegacyOK",
	NoReplicationEnabled: "NoReplicationEnabled", OperationIncomplete: "OperationIncomplete",
	UnknownReplWriteConcern: "UnknownReplWriteConcern", NetworkTimeout: "NetworkTimeout",
	ShutdownInProgress: "ShutdownInProgress", OperationFailed: "OperationFailed",
	WriteConflict: "WriteConflict", CommandFailed: "CommandFailed",
	NamespaceNotSharded: "NamespaceNotSharded", PrimarySteppedDown: "PrimarySteppedDown",
	ShardingStateNotInitialized: "ShardingStateNotInitialized", NoSuchSession: "NoSuchSession",
	InvalidUUID: "InvalidUUID", DuplicateSession: "DuplicateSession",
	TransactionTooOld: "TransactionTooOld", NoSuchTransaction: "NoSuchTransaction",
	TransactionCommitted: "TransactionCommitted", TransactionTooLarge: "TransactionTooLarge",
	TooManyLogicalSessions: "TooManyLogicalSessions", ExceededTimeLimit: "ExceededTimeLimit",
	OperationNotSupportedInTransaction: "OperationNotSupportedInTransaction",
	PreparedTransactionInProgress:      "PreparedTransactionInProgress",
	APIStrictError:                     "APIStrictError",
	UnsupportedOpQueryCommand:          "UnsupportedOpQueryCommand",
	ClientMetadataCannotBeMutated:      "ClientMetadataCannotBeMutated",
	ClientMetadataMissingField:         "ClientMetadataMissingField",
	SocketException:                    "SocketException", DuplicateKey: "DuplicateKey",
	InterruptedAtShutdown: "InterruptedAtShutdown", Interrupted: "Interrupted",
	InterruptedDueToReplStateChange: "InterruptedDueToReplStateChange",
	NotWritablePrimary:              "NotWritablePrimary",
	NotPrimaryNoSecondaryOk:         "NotPrimaryNoSecondaryOk",
	NotPrimaryOrSecondary:           "NotPrimaryOrSecondary", StaleConfig: "StaleConfig",
	// 40413-40415 are reported as Location<code> by released servers (reference §8.1).
	IDLDuplicateField: "Location40413", IDLFailedToParse: "Location40414",
	IDLUnknownField: "Location40415", TxnNumberNotAllowed: "Location50889",
}

// Name is the codeName a server reports: the registered name, or Location<code> for a bare
// assertion code.
func (c Code) Name() string {
	if n, ok := names[c]; ok {
		return n
	}
	return "Location" + strconv.Itoa(int(c))
}

// retryableWrite lists the codes the retryable-writes specification retries.
var retryableWrite = map[Code]bool{
	InterruptedAtShutdown: true, InterruptedDueToReplStateChange: true, NotWritablePrimary: true,
	NotPrimaryNoSecondaryOk: true, NotPrimaryOrSecondary: true, PrimarySteppedDown: true,
	ShutdownInProgress: true, HostNotFound: true, HostUnreachable: true, NetworkTimeout: true,
	SocketException: true, ExceededTimeLimit: true,
}

// RetryableWrite reports whether a write that failed with c may be retried once.
func (c Code) RetryableWrite() bool { return retryableWrite[c] }
