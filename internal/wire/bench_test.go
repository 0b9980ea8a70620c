package wire

import (
	"bytes"
	"testing"
)

func BenchmarkParseMsg(b *testing.B) {
	for _, bm := range []struct {
		name  string
		frame []byte
	}{
		{"find", findMsg()},
		{"find_checksum", AddChecksum(findMsg())},
		{"insert_sequence", insertMsg()},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bm.frame)))
			for b.Loop() {
				if _, err := ParseMsg(bm.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadFrame(b *testing.B) {
	frame := findMsg()
	r := bytes.NewReader(frame)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		r.Reset(frame)
		var err error
		if buf, err = ReadFrame(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCommandName(b *testing.B) {
	body := findBody()
	b.ReportAllocs()
	for b.Loop() {
		if CommandName(body) != "find" {
			b.Fatal("wrong name")
		}
	}
}

// The hot path must not allocate beyond the Sequences slice; the benchmarks report allocations,
// this enforces them.
func TestHotPathAllocations(t *testing.T) {
	find, insert := AddChecksum(findMsg()), insertMsg()
	two := AppendMsg(nil, 1, 0, 0, insertBody(), docsSequence("documents", 2), docsSequence("updates", 1))
	body := findBody()
	r := bytes.NewReader(find)
	buf := make([]byte, 0, 4096)
	tests := []struct {
		name string
		max  float64
		run  func() error
	}{
		{"ParseMsg without sequences", 0, func() error { _, err := ParseMsg(find); return err }},
		{"ParseMsg with a sequence", 1, func() error { _, err := ParseMsg(insert); return err }},
		{"ParseMsg with two sequences", 1, func() error { _, err := ParseMsg(two); return err }},
		{"CommandName", 0, func() error { CommandName(body); return nil }},
		{"ReadFrame into a large enough buffer", 0, func() error {
			r.Reset(find)
			_, err := ReadFrame(r, buf)
			return err
		}},
	}
	for _, tt := range tests {
		var err error
		allocs := testing.AllocsPerRun(100, func() { err = tt.run() })
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if allocs > tt.max {
			t.Errorf("%s: %v allocations, want at most %v", tt.name, allocs, tt.max)
		}
	}
}
