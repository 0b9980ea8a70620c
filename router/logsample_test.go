package router

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Connection logs are sampled together: a burst passes, then only a fraction, so a storm of bad
// clients cannot flood the log.
func TestConnectionLogsAreSampled(t *testing.T) {
	var out bytes.Buffer
	s := &Server{cfg: Config{Logger: zerolog.New(&out)}.withDefaults(),
		connLogSampler: &zerolog.BurstSampler{Burst: 20, Period: 1 << 62, NextSampler: &zerolog.BasicSampler{N: 100}}}
	for i := 0; i < 1000; i++ {
		a, b := net.Pipe()
		c := s.newConn(a)
		c.log.Warn().Msg("closing connection: malformed frame")
		_ = a.Close()
		_ = b.Close()
	}
	if n := strings.Count(out.String(), "malformed frame"); n < 20 || n > 40 {
		t.Fatalf("%d of 1000 lines logged; want the burst of 20 plus about 1 in 100", n)
	}
}
