package report

import (
	"math"
	"strings"
	"testing"
)

func TestPercentile(t *testing.T) {
	var v []float64
	for i := 1; i <= 200; i++ {
		v = append(v, float64(i))
	}
	for p, want := range map[float64]float64{50: 100, 90: 180, 99: 198, 100: 200, 0: 1} {
		if got := Percentile(v, p); got != want {
			t.Errorf("Percentile(1..200, %v) = %v, want %v", p, got, want)
		}
	}
	if got := Percentile([]float64{7}, 99); got != 7 {
		t.Errorf("Percentile of one value = %v", got)
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("Percentile of nothing is not NaN")
	}
}

func latencyResults() *Results {
	r := testResults()
	direct := Replication{Link: "direct", Files: 2001, Bytes: 8_200_000, InitialSeconds: 1.5, EditTimeout: 10, Settled: true,
		Command: "fcp replicate --debugging $REPO $DST -- ssh -F $LAB/ssh_config fcpbench@10.199.0.2", Method: "inotify."}
	for i := range 100 {
		direct.Edits = append(direct.Edits, Edit{Kind: []string{"overwrite", "create", "append", "rename"}[i%4], Seconds: 0.001 * float64(i+1)})
	}
	direct.Switches = []Switch{{From: "main", To: "other", Paths: 3000, Seconds: 1.2, GitSeconds: 0.3, Converged: true},
		{From: "other", To: "main", Paths: 3000, Seconds: 1.1, GitSeconds: 0.2, Converged: true}}
	wan := direct
	wan.Link = "wan"
	wan.Edits = append([]Edit{{Kind: "create", Lost: true}}, direct.Edits...)
	wan.Switches = []Switch{{From: "main", To: "other", Paths: 3000, Converged: false, Differ: []string{"d01/s02"}}}
	r.Links[1].PingAvg = 50.5
	r.Links[0].PingAvg = 0.05
	r.Replication = []Replication{direct, wan}
	return r
}

func TestReplicationStatsAndGoals(t *testing.T) {
	r := latencyResults()
	s := r.Replication[0].Stats()
	if s.N != 100 || s.Lost != 0 || s.P50 != 0.050 || s.P90 != 0.090 || s.P99 != 0.099 || s.Max != 0.1 {
		t.Errorf("Stats = %+v", s)
	}
	if ok, why := r.Replication[0].Goals(0.05); ok || why != "no: p50, p99" {
		t.Errorf("Goals with p50 50 ms = %v, %q", ok, why)
	}
	if ok, why := r.Replication[0].Goals(80); !ok || why != "yes" {
		t.Errorf("Goals at 80 ms RTT = %v, %q", ok, why)
	}
	s = r.Replication[1].Stats()
	if s.N != 101 || s.Lost != 1 || s.P50 != 0.050 {
		t.Errorf("Stats with a lost edit = %+v", s)
	}
	if ok, why := r.Replication[1].Goals(50.5); ok || !strings.Contains(why, "lost edits") || !strings.Contains(why, "switch main→other") {
		t.Errorf("Goals = %v, %q", ok, why)
	}
}

func TestLatencyMarkdown(t *testing.T) {
	r := latencyResults()
	var b strings.Builder
	r.Markdown(&b)
	md := b.String()
	for _, want := range []string{
		"### Live replication latency",
		"| no added delay | 0.05 ms | 100 | 50.0 ms | 90.0 ms | 99.0 ms | 100 ms | 0 | 1.20 s (git 0.30 s; 3,000 paths) | 1.10 s (git 0.20 s; 3,000 paths) | no: p50, p99 |",
		"| 50 ms RTT | 50.5 ms | 101 |",
		"never (3,000 paths; git 0.00 s)",
		"`d01/s02`",
		"| no added delay | 49.0 ms (25) | 50.0 ms (25) | 51.0 ms (25) | 52.0 ms (25) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}
	if strings.Index(md, "Live replication") < strings.Index(md, "Every run's time") || strings.Index(md, "Live replication") > strings.Index(md, "How it was measured") {
		t.Error("the latency table is not between the copy tables and the method")
	}
	// Only the latency workload.
	r.Workloads, r.Runs, r.Omitted = nil, nil, nil
	b.Reset()
	r.Markdown(&b)
	md = b.String()
	if !strings.Contains(md, "### Live replication latency") || strings.Contains(md, "Wall time in seconds") || strings.Contains(md, "**Runs**") {
		t.Errorf("latency-only Markdown:\n%s", md)
	}
}
