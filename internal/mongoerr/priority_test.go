package mongoerr

import "testing"

func TestPriorityOrder(t *testing.T) {
	// Each pair: the first must outrank the second.
	tests := []struct{ high, low Code }{
		{Unauthorized, BadValue},
		{AuthenticationFailed, IDLFailedToParse},
		{BadValue, TooManyLogicalSessions},
		{InvalidUUID, TooManyLogicalSessions},
		{CommandNotFound, ShardNotFound},
		{TooManyLogicalSessions, ShardNotFound},
		{ShardNotFound, CursorNotFound}, // unlisted codes sit in the middle
		{CursorNotFound, ShutdownInProgress},
		{InterruptedAtShutdown, NotWritablePrimary},
		{PrimarySteppedDown, HostUnreachable},
		{NotPrimaryOrSecondary, NetworkTimeout},
		{Code(12345), MaxTimeMSExpired},
	}
	for _, tt := range tests {
		if tt.high.Priority() <= tt.low.Priority() {
			t.Errorf("%s (%d) should outrank %s (%d)", tt.high.Name(), tt.high.Priority(), tt.low.Name(), tt.low.Priority())
		}
	}
}

func TestHighest(t *testing.T) {
	unauth := New(Unauthorized, "not authorized")
	badA := New(BadValue, "a")
	badB := New(BadValue, "b")
	uuid := New(InvalidUUID, "uuid")
	down := New(HostUnreachable, "down")
	stepped := New(PrimarySteppedDown, "stepped down")
	tests := []struct {
		name string
		errs []*Error
		want *Error
	}{
		{"none", nil, nil},
		{"all nil", []*Error{nil, nil}, nil},
		{"single", []*Error{nil, down, nil}, down},
		{"higher wins wherever it is", []*Error{down, stepped, unauth, badA}, unauth},
		{"state change beats network", []*Error{down, stepped}, stepped},
		{"tie: same code, earliest", []*Error{badA, badB}, badA},
		{"tie: same code, earliest, reversed", []*Error{badB, badA}, badB},
		{"tie: same priority, different codes, earliest", []*Error{uuid, badA}, uuid},
		{"tie after a nil", []*Error{nil, badB, down, badA}, badB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Highest(tt.errs); got != tt.want {
				t.Errorf("Highest = %v, want %v", got, tt.want)
			}
		})
	}
}
