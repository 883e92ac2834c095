package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Goals of a scale workload, set by the harness on its Label: fcp's peak
// memory at each end (client; server, all of the benchmark user's
// processes) below MaxRSS bytes, and its time at most MaxRatio times each
// peer's. Zero means no such goal.
type Goals struct {
	MaxRSS   int64   `json:"max_rss_bytes,omitempty"`
	MaxRatio float64 `json:"max_ratio,omitempty"`
}

func (g Goals) any() bool { return g.MaxRSS > 0 || g.MaxRatio > 0 }

func (g Goals) String() string {
	var parts []string
	if g.MaxRSS > 0 {
		parts = append(parts, fmt.Sprintf("peak RSS < %.0f MB at each end", float64(g.MaxRSS)/1e6))
	}
	if g.MaxRatio > 0 {
		parts = append(parts, fmt.Sprintf("time ≤ %s× the peer's", ratio(g.MaxRatio)))
	}
	return strings.Join(parts, ", ")
}

// scaleTables writes the scale workloads: time, fcp's ratio to each peer,
// peak memory at both ends and whether the goals were met; then, for the
// workloads that measured it, the space the copy takes at the destination
// beside the bytes on the wire.
func (r *Results) scaleTables(w io.Writer, scale []Label) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	timeout := r.Settings.ScaleTimeout
	if timeout == 0 {
		timeout = r.Settings.Timeout
	}
	capS := seconds(timeout)
	var tools, peers, mine []string
	for _, t := range r.Tools {
		if slices.ContainsFunc(scale, func(l Label) bool { return l.Runs(t) }) {
			tools = append(tools, t)
			if ours(t) {
				mine = append(mine, t)
			} else {
				peers = append(peers, t)
			}
		}
	}
	var goals []string
	for _, l := range scale {
		if l.Goals.any() {
			goals = append(goals, fmt.Sprintf("*%s*: %s", l.Label, l.Goals))
		}
	}
	p("\n**Scale** (%s only). Time in seconds (median; `>%s` means the run was stopped at the cap of these workloads)", strings.Join(tools, " and "), capS)
	if len(mine) > 0 && len(peers) > 0 {
		p(", fcp's divided by the peer's")
	}
	p(", and peak resident memory in MiB, client / server (as below)")
	if len(goals) > 0 {
		p("; the goals: %s", strings.Join(goals, "; "))
	}
	p(":\n\n| workload | link |")
	for _, t := range tools {
		p(" %s, s |", t)
	}
	for _, m := range mine {
		for _, peer := range peers {
			p(" %s ÷ %s |", m, peer)
		}
	}
	for _, t := range tools {
		p(" %s, MiB |", t)
	}
	hasGoals := len(goals) > 0 && len(mine) > 0
	cols := 2*len(tools) + len(mine)*len(peers)
	if hasGoals {
		p(" goals |")
		cols++
	}
	p("\n|---|---|%s\n", strings.Repeat("--:|", cols))
	for _, wl := range scale {
		for _, l := range r.Links {
			p("| %s | %s |", wl.Label, l.Label.Label)
			cells := make(map[string]Cell)
			for _, t := range tools {
				c, ok := r.Cell(l.Name, wl.Name, t)
				if ok {
					cells[t] = c
				}
				s := "–"
				if wl.Runs(t) {
					s = timeCell(c, ok, capS)
					if ours(t) && ok && c.valid() {
						s = "**" + s + "**"
					}
				}
				p(" %s |", s)
			}
			for _, m := range mine {
				for _, peer := range peers {
					p(" %s |", ratioCell(cells, m, peer, timeout))
				}
			}
			for _, t := range tools {
				s := "–"
				if c, ok := cells[t]; ok {
					s = fmt.Sprintf("%s / %s", mib(c.ClientRSS), mib(c.ServerRSS))
				}
				p(" %s |", s)
			}
			if hasGoals {
				p(" %s |", goalCell(wl.Goals, cells, mine, peers, timeout))
			}
			p("\n")
		}
	}

	var sized []Label
	for _, wl := range scale {
		if slices.ContainsFunc(r.Runs, func(run Run) bool { return run.Workload == wl.Name && run.DstAllocated > 0 }) {
			sized = append(sized, wl)
		}
	}
	if len(sized) == 0 {
		return
	}
	p("\nWhat the copy takes at the destination (allocated blocks, MB), beside the bytes on the wire (MB), medians:\n\n| workload | link |")
	for _, t := range tools {
		p(" %s, on disk |", t)
	}
	for _, t := range tools {
		p(" %s, on the wire |", t)
	}
	p("\n|---|---|%s\n", strings.Repeat("--:|", 2*len(tools)))
	for _, wl := range sized {
		for _, l := range r.Links {
			p("| %s | %s |", wl.Label, l.Label.Label)
			for _, t := range tools {
				s := "–"
				if c, ok := r.Cell(l.Name, wl.Name, t); ok && c.Allocated > 0 {
					s = megabytes(c.Allocated)
				}
				p(" %s |", s)
			}
			for _, t := range tools {
				s := "–"
				if c, ok := r.Cell(l.Name, wl.Name, t); ok && c.Bytes > 0 {
					s = megabytes(c.Bytes)
				}
				p(" %s |", s)
			}
			p("\n")
		}
	}
}

// ratioCell is mine's time divided by peer's, with `<` or `>` where a
// run hit the cap.
func ratioCell(cells map[string]Cell, mine, peer string, timeout float64) string {
	m, ok1 := cells[mine]
	c, ok2 := cells[peer]
	if !ok1 || !ok2 {
		return "–"
	}
	v, bound, ok := Ratio(m, c, timeout)
	if !ok {
		return "–"
	}
	return map[int]string{-1: "<", 0: "", 1: ">"}[bound] + ratio(v)
}

// goalCell says whether each of mine met the goals g: "met", or what
// missed.
func goalCell(g Goals, cells map[string]Cell, mine, peers []string, timeout float64) string {
	if !g.any() {
		return ""
	}
	var out []string
	for _, m := range mine {
		c, ok := cells[m]
		if !ok || !c.valid() {
			continue
		}
		var missed []string
		if g.MaxRSS > 0 && (c.ClientRSS >= g.MaxRSS || c.ServerRSS >= g.MaxRSS) {
			missed = append(missed, "memory")
		}
		if g.MaxRatio > 0 {
			for _, peer := range peers {
				pc, ok := cells[peer]
				if !ok {
					continue
				}
				if v, bound, ok := Ratio(c, pc, timeout); ok && (v > g.MaxRatio || bound > 0) {
					missed = append(missed, fmt.Sprintf("%s× %s", ratio(v), peer))
				}
			}
		}
		verdict := "met"
		if len(missed) > 0 {
			verdict = "missed: " + strings.Join(missed, ", ")
		}
		if len(mine) > 1 {
			verdict = m + " " + verdict
		}
		out = append(out, verdict)
	}
	return strings.Join(out, "; ")
}
