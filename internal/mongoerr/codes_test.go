package mongoerr

import "testing"

func TestName(t *testing.T) {
	tests := []struct {
		code Code
		want string
	}{
		// The codes the router answers with, with their names in error_codes.yml.
		{2, "BadValue"},
		{6, "HostUnreachable"},
		{7, "HostNotFound"},
		{12, "UnsupportedFormat"},
		{13, "Unauthorized"},
		{14, "TypeMismatch"},
		{18, "AuthenticationFailed"},
		{20, "IllegalOperation"},
		{43, "CursorNotFound"},
		{50, "MaxTimeMSExpired"},
		{59, "CommandNotFound"},
		{70, "ShardNotFound"},
		{72, "InvalidOptions"},
		{73, "InvalidNamespace"},
		{89, "NetworkTimeout"},
		{91, "ShutdownInProgress"},
		{118, "NamespaceNotSharded"},
		{203, "ShardingStateNotInitialized"},
		{206, "NoSuchSession"},
		{207, "InvalidUUID"},
		{213, "DuplicateSession"},
		{225, "TransactionTooOld"},
		{251, "NoSuchTransaction"},
		{261, "TooManyLogicalSessions"},
		{262, "ExceededTimeLimit"},
		{263, "OperationNotSupportedInTransaction"},
		{267, "PreparedTransactionInProgress"},
		{323, "APIStrictError"},
		{352, "UnsupportedOpQueryCommand"},
		{10107, "NotWritablePrimary"},
		{11600, "InterruptedAtShutdown"},
		{11601, "Interrupted"},
		{11602, "InterruptedDueToReplStateChange"},
		{13435, "NotPrimaryNoSecondaryOk"},
		{13436, "NotPrimaryOrSecondary"},
		// Released servers report the IDL codes and numeric-only assertions as Location<code>.
		{40413, "Location40413"},
		{40414, "Location40414"},
		{40415, "Location40415"},
		{50889, "Location50889"},
		{50891, "Location50891"},
		{51758, "Location51758"},
		{51763, "Location51763"},
		// Codes added beside the reference table.
		{22, "InvalidBSON"},
		{53, "InvalidIdField"},
		{64, "WriteConcernFailed"},
		{66, "ImmutableField"},
		{77, "OperationIncomplete"},
		{223, "IllegalOpMsgFlag"},
		{233, "TooManyDocumentSequences"},
		{288, "ChecksumMismatch"},
		{11000, "DuplicateKey"},
		{13388, "StaleConfig"},
		{204, "TimeProofMismatch"},
		{205, "ClusterTimeFailsRateLimiter"},
		{209, "StaleClusterTime"},
		{210, "CannotVerifyAndSignLogicalTime"},
		{211, "KeyNotFound"},
		{40484, "Location40484"},
		// Unknown codes.
		{0, "Location0"},
		{-5, "Location-5"},
		{78, "Location78"},
	}
	for _, tt := range tests {
		if got := tt.code.Name(); got != tt.want {
			t.Errorf("Code(%d).Name() = %q, want %q", tt.code, got, tt.want)
		}
	}
}

// A name given to two codes would make codeName lie about one of them.
func TestNamesAreDistinct(t *testing.T) {
	seen := map[string]Code{}
	for c, n := range names {
		if prev, dup := seen[n]; dup {
			t.Errorf("name %q used by %d and %d", n, prev, c)
		}
		seen[n] = c
	}
}

func TestRetryableWrite(t *testing.T) {
	// The retryable-writes specification's list, and codes that look transient but are not on it.
	tests := []struct {
		code Code
		want bool
	}{
		{InterruptedAtShutdown, true},
		{InterruptedDueToReplStateChange, true},
		{NotWritablePrimary, true},
		{NotPrimaryNoSecondaryOk, true},
		{NotPrimaryOrSecondary, true},
		{PrimarySteppedDown, true},
		{ShutdownInProgress, true},
		{HostNotFound, true},
		{HostUnreachable, true},
		{NetworkTimeout, true},
		{SocketException, true},
		{ExceededTimeLimit, true},
		{Interrupted, false},
		{MaxTimeMSExpired, false},
		{WriteConcernFailed, false},
		{DuplicateKey, false},
		{BadValue, false},
		{Code(424242), false},
	}
	for _, tt := range tests {
		if got := tt.code.RetryableWrite(); got != tt.want {
			t.Errorf("%s.RetryableWrite() = %v, want %v", tt.code.Name(), got, tt.want)
		}
	}
}
