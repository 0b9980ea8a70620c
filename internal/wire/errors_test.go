package wire

import (
	"errors"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"

	"github.com/mongos-lite/mongos-lite/internal/mongoerr"
)

// TestClosesConnection follows mongod's ConnectionFatalMessageParseError category: content
// errors are answered, framing and the category's codes close the connection.
func TestClosesConnection(t *testing.T) {
	msg := func(flags uint32, rest ...byte) []byte {
		f := wiremessage.AppendHeader(nil, int32(16+4+len(rest)), 1, 0, OpMsg)
		f = wiremessage.AppendMsgFlags(f, wiremessage.MsgFlag(flags))
		return append(f, rest...)
	}
	emptyDoc := []byte{5, 0, 0, 0, 0}
	badChecksum := AddChecksum(msg(0, append([]byte{0}, emptyDoc...)...))
	badChecksum[len(badChecksum)-1] ^= 0xff
	for _, tc := range []struct {
		name   string
		frame  []byte
		code   mongoerr.Code
		closes bool
	}{
		{"body cut short", msg(0, 0, 9, 0, 0, 0, 0), mongoerr.InvalidBSON, false},
		{"two bodies", msg(0, append(append([]byte{0}, emptyDoc...), append([]byte{0}, emptyDoc...)...)...), 40430, false},
		{"unknown section kind", msg(0, 7), 40432, false},
		{"no body", msg(0), 40587, false},
		{"illegal flag", msg(4, append([]byte{0}, emptyDoc...)...), mongoerr.IllegalOpMsgFlag, true},
		{"checksum mismatch", badChecksum, mongoerr.ChecksumMismatch, true},
		{"sequence overruns the frame", msg(0, 1, 99, 0, 0, 0), mongoerr.ProtocolError, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMsg(tc.frame)
			if code := mongoerr.As(err).Code; err == nil || code != tc.code {
				t.Fatalf("ParseMsg: %v (code %d), want code %d", err, code, tc.code)
			}
			if got := ClosesConnection(err); got != tc.closes {
				t.Errorf("ClosesConnection = %v, want %v", got, tc.closes)
			}
		})
	}
	if !ClosesConnection(errors.New("not a parse error")) {
		t.Error("an error that is not a parse error must close the connection")
	}
}
