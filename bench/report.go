package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a finished run: Results[0] is Config.URI, Results[1] Config.CompareURI if given.
type Report struct {
	Config  Config
	Results []*Result
}

// Comparison sets the first target against the second.
type Comparison struct {
	Throughput float64       // ops/s of URI divided by ops/s of CompareURI
	AddedP50   time.Duration // p50 of URI minus p50 of CompareURI
	AddedP99   time.Duration
}

// Compare returns the comparison, or false without a second target or with nothing measured.
func (r *Report) Compare() (Comparison, bool) {
	if len(r.Results) < 2 {
		return Comparison{}, false
	}
	a, b := r.Results[0], r.Results[1]
	if b.Throughput() == 0 || a.Latency.Count() == 0 || b.Latency.Count() == 0 {
		return Comparison{}, false
	}
	return Comparison{
		Throughput: a.Throughput() / b.Throughput(),
		AddedP50:   a.Latency.Quantile(0.5) - b.Latency.Quantile(0.5),
		AddedP99:   a.Latency.Quantile(0.99) - b.Latency.Quantile(0.99),
	}, true
}

// WriteTable writes the human-readable report: a heading, one row per target, the comparison
// and the first error of each target that had any.
func (r *Report) WriteTable(w io.Writer) error {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "workload %s: %d clients, %v per target", c.Workload, c.Concurrency, c.Duration)
	if c.Rounds > 1 {
		fmt.Fprintf(&b, " in %d rounds", c.Rounds)
		if len(r.Results) > 1 {
			b.WriteString(" alternating")
		}
	}
	fmt.Fprintf(&b, ", %d docs", c.Docs)
	if c.Workload == KillFanout {
		fmt.Fprintf(&b, ", %d sessions per kill", c.Sessions)
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The target goes last: it is the only wide, left-aligned cell.
	fmt.Fprintln(tw, "ops\tops/s\tp50\tp99\tp99.9\terrors\t  target")
	for _, res := range r.Results {
		h := &res.Latency
		fmt.Fprintf(tw, "%d\t%.0f\t%s\t%s\t%s\t%d\t  %s\n", res.Ops, res.Throughput(),
			formatLatency(h.Quantile(0.5)), formatLatency(h.Quantile(0.99)), formatLatency(h.Quantile(0.999)), res.Errors, res.URI)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if cmp, ok := r.Compare(); ok {
		fmt.Fprintf(&b, "ratio uri/compare-uri: throughput %.3f, p50 %s, p99 %s\n",
			cmp.Throughput, signed(cmp.AddedP50), signed(cmp.AddedP99))
	}
	for _, res := range r.Results {
		if res.FirstErr != "" {
			fmt.Fprintf(&b, "first error on %s: %s\n", res.URI, res.FirstErr)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatLatency prints three significant digits in the unit that suits the value.
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return trim(float64(d)/float64(time.Microsecond)) + "µs"
	case d < time.Second:
		return trim(float64(d)/float64(time.Millisecond)) + "ms"
	default:
		return trim(d.Seconds()) + "s"
	}
}

func trim(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + formatLatency(-d)
	}
	return "+" + formatLatency(d)
}

// redact hides the password of a connection string's user information, so a report can be
// shared: mongodb://user:secret@host/ becomes mongodb://user:xxxxx@host/.
func redact(uri string) string {
	scheme := strings.Index(uri, "://")
	if scheme < 0 {
		return uri
	}
	rest := uri[scheme+3:]
	authority := rest
	if end := strings.IndexAny(rest, "/?"); end >= 0 {
		authority = rest[:end]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return uri
	}
	user, _, hasPassword := strings.Cut(authority[:at], ":")
	if !hasPassword {
		return uri
	}
	return uri[:scheme+3] + user + ":xxxxx" + rest[at:]
}
