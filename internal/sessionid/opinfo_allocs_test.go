//go:build !race

// The race detector instruments memory accesses and changes allocation counts, so the count is
// only asserted in ordinary builds.

package sessionid

import "testing"

// TestParseOpInfoAllocs: ParseOpInfo runs on every command the router forwards, and the router's
// budget is a few allocations per command in all; the success paths must not allocate at all.
func TestParseOpInfoAllocs(t *testing.T) {
	for _, tc := range opInfoCases() {
		body := doc(t, tc.body)
		t.Run(tc.name, func(t *testing.T) {
			var got OpInfo
			var err error
			allocs := testing.AllocsPerRun(100, func() { got, err = ParseOpInfo(body, alice, false) })
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			if allocs != 0 {
				t.Fatalf("ParseOpInfo allocates %v times per call, want 0", allocs)
			}
		})
	}
}
