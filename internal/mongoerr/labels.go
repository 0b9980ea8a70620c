package mongoerr

// LabelContext says what a failed command was, which decides the labels a server attaches.
type LabelContext struct {
	InTransaction     bool // the command ran in a multi-document transaction (autocommit: false)
	RetryableWrite    bool // a retryable write: txnNumber outside a transaction
	CommitOrAbort     bool // commitTransaction or abortTransaction
	WriteConcernError bool // the failure is (or comes with) a writeConcernError
}

// transientCodes make a transaction statement worth retrying with a new transaction.
var transientCodes = map[Code]bool{
	WriteConflict: true, LockTimeout: true, PreparedTransactionInProgress: true,
	SnapshotTooOld: true, SnapshotUnavailable: true, StaleChunkHistory: true,
	StaleShardVersion: true, StaleEpoch: true, StaleConfig: true, StaleDbVersion: true,
}

// TransientTransaction reports whether mongod labels an error with code c TransientTransactionError.
func TransientTransaction(c Code, ctx LabelContext) bool {
	if !ctx.InTransaction {
		return false
	}
	if transientCodes[c] {
		return true
	}
	if c == NoSuchTransaction {
		return !ctx.CommitOrAbort || !ctx.WriteConcernError
	}
	return !ctx.CommitOrAbort && c.RetryableWrite()
}

// AddServerLabels attaches the labels a 4.4+ server adds itself: TransientTransactionError to
// transaction statements that may succeed in a new transaction, RetryableWriteError to
// retryable codes of retryable writes and of commit/abort. It returns e.
func (e *Error) AddServerLabels(ctx LabelContext) *Error {
	if TransientTransaction(e.Code, ctx) {
		e.WithLabels(LabelTransientTransaction)
	}
	if (ctx.RetryableWrite || ctx.CommitOrAbort) && e.Code.RetryableWrite() {
		e.WithLabels(LabelRetryableWrite)
	}
	return e
}

// WriteConcernErrorLabels are the labels a server puts on a reply that succeeded but carries a
// writeConcernError with code c: RetryableWriteError for retryable codes of retryable writes
// and commit/abort. TransientTransactionError comes only from a top-level error.
func WriteConcernErrorLabels(c Code, ctx LabelContext) []string {
	if (ctx.RetryableWrite || ctx.CommitOrAbort) && c.RetryableWrite() {
		return []string{LabelRetryableWrite}
	}
	return nil
}

// resumableChangeStreamCodes are the errors after which drivers may resume a change stream
// (error_labels.cpp isResumableChangeStreamError).
var resumableChangeStreamCodes = map[Code]bool{
	HostUnreachable: true, HostNotFound: true, NetworkTimeout: true, ShutdownInProgress: true,
	PrimarySteppedDown: true, ExceededTimeLimit: true, SocketException: true,
	NotWritablePrimary: true, InterruptedAtShutdown: true, InterruptedDueToReplStateChange: true,
	NotPrimaryNoSecondaryOk: true, NotPrimaryOrSecondary: true, StaleShardVersion: true,
	StaleEpoch: true, StaleConfig: true, RetryChangeStream: true, FailedToSatisfyReadPreference: true,
}

// ResumableChangeStream reports whether a change stream may resume after an error with code c.
func ResumableChangeStream(c Code) bool { return resumableChangeStreamCodes[c] }

// AddChangeStreamLabels labels the error of a change stream command as mongod and mongos do:
// ResumableChangeStreamError when a driver may resume, NonResumableChangeStreamError when the
// stream cannot go on. It returns e.
func (e *Error) AddChangeStreamLabels() *Error {
	switch {
	case ResumableChangeStream(e.Code):
		e.WithLabels("ResumableChangeStreamError")
	case e.Code == ChangeStreamFatalError || e.Code == ChangeStreamHistoryLost:
		e.WithLabels("NonResumableChangeStreamError")
	}
	return e
}
