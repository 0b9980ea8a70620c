package mongoerr

// Priority ranks codes for aggregating many targets' errors into one reply: the error a client
// can act on most usefully wins. A rejection of the request itself (auth, bad input) outranks a
// resource limit, which outranks a node changing state, which outranks a network failure: the
// first ones will not go away on retry, the last ones may.
func (c Code) Priority() int {
	switch c {
	case Unauthorized, AuthenticationFailed:
		return 70
	case BadValue, FailedToParse, UnsupportedFormat, TypeMismatch, InvalidOptions, InvalidNamespace,
		InvalidUUID, IDLDuplicateField, IDLFailedToParse, IDLUnknownField, CommandNotFound,
		IllegalOperation:
		return 60
	case TooManyLogicalSessions:
		return 50
	case ShardNotFound:
		return 45
	case ShutdownInProgress, InterruptedAtShutdown, Interrupted, InterruptedDueToReplStateChange:
		return 30
	case NotWritablePrimary, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary, PrimarySteppedDown:
		return 20
	case HostUnreachable, HostNotFound, NetworkTimeout, SocketException, ExceededTimeLimit,
		MaxTimeMSExpired:
		return 10
	default:
		return 40
	}
}

// Highest returns the highest-priority error among errs (nil entries are skipped); on a tie the
// earliest wins, so the result does not depend on goroutine timing. Nil when all are nil.
func Highest(errs []*Error) *Error {
	var best *Error
	for _, e := range errs {
		if e != nil && (best == nil || e.Code.Priority() > best.Code.Priority()) {
			best = e
		}
	}
	return best
}
