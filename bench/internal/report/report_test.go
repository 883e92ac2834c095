package report

import (
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"
)

func testResults() *Results {
	r := &Results{
		Date:      time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		Machine:   Machine{CPUs: 2, CPU: "Test CPU", Kernel: "6.1"},
		Settings:  Settings{Rounds: 2, Timeout: 120},
		Links:     []Link{{Label: Label{Name: "direct", Label: "no added delay"}}, {Label: Label{Name: "wan", Label: "50 ms RTT"}}},
		Tools:     []string{"scp", "rsync", "fcp"},
		Workloads: []Label{{Name: "tree", Label: "20k files"}, {Name: "nochange", Label: "no-change"}},
	}
	add := func(link, workload, tool string, secs float64, mod func(*Run)) {
		run := Run{Link: link, Workload: workload, Tool: tool, Seconds: secs, Verified: true, ClientMaxRSS: 10 << 20}
		if mod != nil {
			mod(&run)
		}
		r.Runs = append(r.Runs, run)
	}
	capped := func(run *Run) { run.Capped, run.ExitCode, run.Verified, run.PartialFiles = true, 143, false, 1200 }
	add("direct", "tree", "scp", 20, nil)
	add("direct", "tree", "scp", 22, nil)
	add("direct", "tree", "rsync", 4, nil)
	add("direct", "tree", "rsync", 6, nil)
	add("direct", "tree", "fcp", 2, nil)
	add("direct", "tree", "fcp", 3, nil)
	add("wan", "tree", "scp", 120, capped)
	add("wan", "tree", "rsync", 6, nil)
	add("wan", "tree", "rsync", 0, func(run *Run) { run.ExitCode = 23 })
	add("wan", "tree", "fcp", 3, nil)
	add("wan", "nochange", "scp", 120, func(run *Run) { capped(run); run.SeededBy = "rsync" })
	add("wan", "nochange", "fcp", 0.5, nil)
	add("wan", "nochange", "rsync", 1, func(run *Run) { run.Verified = false })
	r.Omitted = append(r.Omitted, Omission{Link: "direct", Workload: "nochange", Tool: "scp", Reason: "no reason."})
	return r
}

func TestCell(t *testing.T) {
	r := testResults()
	tests := []struct {
		name                 string
		link, workload, tool string
		want                 Cell
		wantOK               bool
	}{
		{name: "median of two", link: "direct", workload: "tree", tool: "rsync", wantOK: true,
			want: Cell{Runs: 2, OK: 2, Median: 5, Min: 4, Max: 6, Times: []float64{4, 6}, ClientRSS: 10 << 20}},
		{name: "a failed run is left out", link: "wan", workload: "tree", tool: "rsync", wantOK: true,
			want: Cell{Runs: 2, OK: 1, Median: 6, Min: 6, Max: 6, Times: []float64{6}, ClientRSS: 10 << 20}},
		{name: "capped", link: "wan", workload: "tree", tool: "scp", wantOK: true,
			want: Cell{Runs: 1, Capped: true, ClientRSS: 10 << 20}},
		{name: "not run", link: "direct", workload: "nochange", tool: "scp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := r.Cell(tt.link, tt.workload, tt.tool)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if got.Runs != tt.want.Runs || got.OK != tt.want.OK || got.Capped != tt.want.Capped ||
				got.Median != tt.want.Median || got.Min != tt.want.Min || got.Max != tt.want.Max || got.ClientRSS != tt.want.ClientRSS {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	ok := func(m float64) Cell { return Cell{OK: 1, Median: m} }
	capped := Cell{Runs: 1, Capped: true}
	failed := Cell{Runs: 1}
	tests := []struct {
		name      string
		fcp, peer Cell
		want      float64
		wantBound int
		wantOK    bool
	}{
		{name: "both finished", fcp: ok(2), peer: ok(8), want: 0.25, wantOK: true},
		{name: "peer capped", fcp: ok(12), peer: capped, want: 0.1, wantBound: -1, wantOK: true},
		{name: "fcp capped", fcp: capped, peer: ok(60), want: 2, wantBound: 1, wantOK: true},
		{name: "both capped", fcp: capped, peer: capped},
		{name: "peer failed", fcp: ok(1), peer: failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, bound, ok := Ratio(tt.fcp, tt.peer, 120)
			if ok != tt.wantOK || (ok && (math.Abs(v-tt.want) > 1e-9 || bound != tt.wantBound)) {
				t.Errorf("Ratio = %v, %d, %v; want %v, %d, %v", v, bound, ok, tt.want, tt.wantBound, tt.wantOK)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	testResults().Markdown(&b)
	md := b.String()
	for _, want := range []string{
		"| 20k files | no added delay | 21.0 | 5.00 | **2.50** |", // medians, fcp in bold
		"| 20k files | 50 ms RTT | >120 | 6.00 | **3.00** |",      // capped peer
		"| 20k files | no added delay | 0.12 | 0.5 |",             // ratios
		"| 20k files | 50 ms RTT | <0.025 | 0.5 |",                // fcp against a capped peer
		"| no-change | 50 ms RTT | >120† | failed | **0.50** |",   // a wrong copy is a failure
		"| 20k files | 50 ms RTT | 10 / 0 | 10 / 0 | 10 / 0 |",
		"| 20k files | 50 ms RTT | >120 (1,200 files, 10/s) | 6.00, 1 failed | 3.00 |", // all runs
		"† The tool's own copy",
		"| no-change | no added delay | n/a‡ |  |  |",
		"‡ Not run: no reason.",
	} {
		if !strings.Contains(strings.ReplaceAll(md, "–", "0"), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
}

// withDelta adds the workloads of changed files and resumed copies, which
// only rsync and fcp run, and bytes on the wire.
func withDelta(r *Results) *Results {
	delta := []string{"rsync", "fcp"}
	r.Workloads = append(r.Workloads, Label{Name: "overwrite", Label: "1 MiB changed", Tools: delta},
		Label{Name: "resume", Label: "resumed", Tools: delta})
	add := func(link, workload, tool string, secs float64, bytes int64, cut *Cut) {
		r.Runs = append(r.Runs, Run{Link: link, Workload: workload, Tool: tool, Seconds: secs, Verified: true,
			WireTx: bytes - 1000, WireRx: 1000, Cut: cut})
	}
	add("direct", "overwrite", "rsync", 8, 4_000_000, nil)
	add("direct", "overwrite", "rsync", 10, 6_000_000, nil)
	add("direct", "overwrite", "fcp", 2, 2_500_000, nil)
	add("wan", "overwrite", "rsync", 12, 5_000_000, nil)
	add("direct", "resume", "rsync", 4, 540_000_000, &Cut{LeftFiles: []string{"big.bin"}, LeftBytes: 560_000_000})
	add("direct", "resume", "fcp", 2, 530_000_000, &Cut{LeftFiles: []string{".fcp-big.bin.partial"}, LeftBytes: 600_000_000})
	r.Runs = append(r.Runs, Run{Link: "wan", Workload: "resume", Tool: "fcp", Error: "cut run: finished first",
		Cut: &Cut{Error: "finished first"}})
	add("direct", "tree", "scp", 0, 0, nil) // an old run without bytes does not count
	r.Runs[len(r.Runs)-1].Verified = false
	return r
}

func TestMarkdownDelta(t *testing.T) {
	var b strings.Builder
	withDelta(testResults()).Markdown(&b)
	md := b.String()
	for _, want := range []string{
		"| workload | link | rsync, s | fcp, s | fcp ÷ rsync, time | rsync, MB | fcp, MB | fcp ÷ rsync, bytes |",
		"| 1 MiB changed | no added delay | 9.00 | **2.00** | 0.22 | 5.00 | 2.50 | 0.5 |",
		"| 1 MiB changed | 50 ms RTT | 12.0 |  | – | 5.00 | – | – |",
		"| resumed | no added delay | 4.00 | **2.00** | 0.5 | 540 | 530 | 0.98 |",
		"| resumed | 50 ms RTT |  | failed | – | – | – | – |",
		"| no added delay | 560 (`big.bin`) | 600 (`.fcp-big.bin.partial`) |",
		"| 50 ms RTT |  | not cut as planned |",
		"| 1 MiB changed | no added delay | – | 5.00 | 2.50 |",   // bytes of every workload
		"| 1 MiB changed | no added delay | – | – / – | – / – |", // memory
		"| resumed | 50 ms RTT | – |  | 1 failed |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// The common tables keep to the workloads every tool runs.
	if strings.Contains(md, "| 1 MiB changed | no added delay | – | 9.00 |") {
		t.Errorf("the delta workloads are in the time table:\n%s", md)
	}
	// Results without bytes (older JSON) have no bytes table.
	b.Reset()
	testResults().Markdown(&b)
	if strings.Contains(b.String(), "Bytes on the wire") {
		t.Error("a bytes table without bytes")
	}
}

func TestSVGIsWellFormed(t *testing.T) {
	for _, r := range []*Results{testResults(), withDelta(testResults()), {Settings: Settings{Rounds: 1, Timeout: 120}}} {
		var b strings.Builder
		r.SVG(&b)
		d := xml.NewDecoder(strings.NewReader(b.String()))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b.String())
			}
		}
		if len(r.Runs) > 0 && !strings.Contains(b.String(), "&gt;120") {
			t.Error("SVG does not mark the capped run")
		}
	}
}

func TestMarkdownScale(t *testing.T) {
	r := testResults()
	r.Settings.ScaleTimeout = 600
	r.Workloads = append(r.Workloads,
		Label{Name: "million", Label: "1,000,000 files", Tools: []string{"rsync", "fcp"}, Scale: true, Goals: Goals{MaxRSS: 150e6}},
		Label{Name: "million-nochange", Label: "1,000,000 files, no change", Tools: []string{"rsync", "fcp"}, Scale: true, Goals: Goals{MaxRSS: 150e6, MaxRatio: 0.5}},
		Label{Name: "sparse", Label: "10 GiB sparse file", Tools: []string{"rsync", "fcp"}, Scale: true})
	add := func(link, workload, tool string, secs float64, mod func(*Run)) {
		run := Run{Link: link, Workload: workload, Tool: tool, Seconds: secs, Verified: true, ClientMaxRSS: 20 << 20, ServerRSS: 30 << 20}
		if mod != nil {
			mod(&run)
		}
		r.Runs = append(r.Runs, run)
	}
	add("direct", "million", "rsync", 80, nil)
	add("direct", "million", "fcp", 60, func(run *Run) { run.ServerRSS = 200 << 20 })
	add("direct", "million-nochange", "rsync", 10, nil)
	add("direct", "million-nochange", "fcp", 4, nil)
	add("wan", "million-nochange", "rsync", 10, nil)
	add("wan", "million-nochange", "fcp", 7, nil)
	add("direct", "sparse", "rsync", 30, func(run *Run) { run.DstAllocated = 1 << 20; run.WireTx = 2e6 })
	add("direct", "sparse", "fcp", 1, func(run *Run) { run.DstAllocated = 1 << 20; run.WireTx = 1.5e6 })
	var b strings.Builder
	r.Markdown(&b)
	md := b.String()
	for _, want := range []string{
		"| workload | link | rsync, s | fcp, s | fcp ÷ rsync | rsync, MiB | fcp, MiB | goals |",
		"| 1,000,000 files | no added delay | 80.0 | **60.0** | 0.75 | 20 / 30 | 20 / 200 | missed: memory |",
		"| 1,000,000 files, no change | no added delay | 10.0 | **4.00** | 0.4 | 20 / 30 | 20 / 30 | met |",
		"| 1,000,000 files, no change | 50 ms RTT | 10.0 | **7.00** | 0.7 | 20 / 30 | 20 / 30 | missed: 0.7× rsync |",
		"| 10 GiB sparse file | no added delay | 1.05 | 1.05 | 2.00 | 1.50 |",
		"*1,000,000 files, no change*: peak RSS < 150 MB at each end, time ≤ 0.5× the peer's",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// The scale workloads are in neither the common nor the delta tables.
	if strings.Contains(md, "| 1,000,000 files | no added delay | – | 80.0 | **60.0** |") || strings.Contains(md, "Changed files and an interrupted copy") {
		t.Errorf("the scale workloads are in another table:\n%s", md)
	}
}
