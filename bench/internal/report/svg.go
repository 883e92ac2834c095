package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

// Colours of the tools in the plot; fcp stands out.
var colours = map[string]string{
	"scp":    "#9ecae1",
	"sftp":   "#6baed6",
	"rsync":  "#74c476",
	"rclone": "#fdae6b",
	"fcp":    "#d62728",
}

// WriteSVG writes the plot of r to path.
func (r *Results) WriteSVG(path string) error {
	var b strings.Builder
	r.SVG(&b)
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// SVG draws one group of bars per workload and link, one bar per tool that
// runs the workload, the median wall time on a logarithmic axis. A run
// stopped at the cap is a hatched bar up to the cap. The workloads every
// tool runs share one panel; those only some tools run (changed files,
// resumed copies) get a second panel with its own axis below it.
func (r *Results) SVG(w io.Writer) {
	const (
		width, left, right, header = 1000, 70, 20, 92
		fontFam                    = "DejaVu Sans, Helvetica, Arial, sans-serif"
	)
	type panel struct {
		title     string
		workloads []Label
	}
	panels := []panel{{workloads: r.common()}}
	if delta := r.delta(); len(delta) > 0 {
		var tools []string
		for _, t := range r.Tools {
			if slices.ContainsFunc(delta, func(l Label) bool { return l.Runs(t) }) {
				tools = append(tools, t)
			}
		}
		panels = append(panels, panel{title: "Changed files and an interrupted copy (" + strings.Join(tools, " and ") + " only)", workloads: delta})
	}
	if len(panels[0].workloads) == 0 {
		panels = panels[1:]
	}
	height := header
	for i, pn := range panels {
		if i > 0 || pn.title != "" {
			height += panelTitle
		}
		height += panelH
	}

	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	esc := html.EscapeString
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s">`+"\n", width, height, width, height, fontFam)
	p(`<defs><pattern id="capped" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
		`<rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#777" stroke-width="3"/></pattern></defs>` + "\n")
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	title := fmt.Sprintf("Push over SSH: wall time, median of %d round%s (log scale, lower is better)", r.Settings.Rounds, plural(r.Settings.Rounds))
	p(`<text x="%d" y="24" font-size="17" font-weight="bold">%s</text>`+"\n", left, esc(title))
	sub := fmt.Sprintf("%d × %s, Linux %s, %s. Numbers: results.md", r.Machine.CPUs, r.Machine.CPU, r.Machine.Kernel, r.Date.UTC().Format("2006-01-02"))
	if r.Quick {
		p(`<text x="%d" y="44" font-size="12" fill="#b00" font-weight="bold">QUICK MODE: small data, a harness check, not the benchmark. <tspan font-weight="normal" fill="#555">%s</tspan></text>`+"\n", left, esc(sub))
	} else {
		p(`<text x="%d" y="44" font-size="12" fill="#555">%s</text>`+"\n", left, esc(sub))
	}

	// Legend.
	anyCapped := slices.ContainsFunc(r.Runs, func(run Run) bool { return run.Capped })
	x := float64(left)
	for _, t := range r.Tools {
		p(`<rect x="%.1f" y="58" width="14" height="14" fill="%s"/>`, x, colours[t])
		p(`<text x="%.1f" y="70" font-size="13">%s</text>`+"\n", x+19, esc(t))
		x += 30 + 9*float64(len(t))
	}
	if anyCapped {
		p(`<rect x="%.1f" y="58" width="14" height="14" fill="url(#capped)" stroke="#777"/>`, x)
		p(`<text x="%.1f" y="70" font-size="13">stopped at %s s</text>`+"\n", x+19, seconds(r.Settings.Timeout))
	}

	top := header
	if len(panels) == 0 {
		panels = []panel{{}}
	}
	for i, pn := range panels {
		if i > 0 || pn.title != "" {
			p(`<text x="%d" y="%d" font-size="14" font-weight="bold">%s</text>`+"\n", left, top+panelTitle-12, esc(pn.title))
			top += panelTitle
		}
		r.svgPanel(w, pn.workloads, float64(left), float64(top), float64(width-left-right))
		top += panelH
	}
	p("</svg>\n")
}

// The height of a panel's title, and of a panel: the plot and the labels
// of its groups below it.
const (
	panelTitle = 34
	panelH     = 370 + panelLabels
	panelPlotH = panelH - panelLabels
	// panelLabels is room for up to three lines of group labels.
	panelLabels = 78
)

// svgPanel draws the bars of workloads, with the axis, at left, top.
func (r *Results) svgPanel(w io.Writer, workloads []Label, left, top0, plotW float64) {
	const barGap, groupPad = 2, 0.18
	const plotH = panelPlotH
	type group struct {
		workload, link Label
		tools          []string // the tools that run the workload
		cells          []Cell
		present        []bool
	}
	var groups []group
	lo, hi := math.Inf(1), 0.0
	for _, wl := range workloads {
		for _, l := range r.Links {
			g := group{workload: wl, link: l.Label}
			shown := false
			for _, t := range r.Tools {
				if !wl.Runs(t) {
					continue
				}
				g.tools = append(g.tools, t)
				c, ok := r.Cell(l.Name, wl.Name, t)
				g.cells = append(g.cells, c)
				g.present = append(g.present, ok)
				switch {
				case ok && c.Capped:
					hi = math.Max(hi, r.Settings.Timeout)
				case ok && c.valid():
					lo, hi = math.Min(lo, c.Median), math.Max(hi, c.Median)
				}
				shown = shown || ok || r.omitted(l.Name, wl.Name, t) != ""
			}
			if shown {
				groups = append(groups, g)
			}
		}
	}
	if hi == 0 {
		lo, hi = 0.1, 1
	}
	if math.IsInf(lo, 1) {
		lo = hi / 10
	}
	bottom := math.Pow(10, math.Floor(math.Log10(lo)))
	top := niceAbove(hi * 1.3) // room for the labels above the bars
	y := func(v float64) float64 {
		return top0 + plotH - (math.Log10(v)-math.Log10(bottom))/(math.Log10(top)-math.Log10(bottom))*plotH
	}
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	esc := html.EscapeString
	right := left + plotW

	// Axis and grid at 1, 2 and 5 times the powers of ten.
	for d := math.Round(math.Log10(bottom)); d <= math.Ceil(math.Log10(top)); d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if v > top*1.0001 {
				break
			}
			yy := y(v)
			stroke, label := "#eeeeee", axisLabel(v)
			if m == 1 {
				stroke = "#cccccc"
			}
			p(`<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="%s"/>`, left, right, yy, yy, stroke)
			if label != "" {
				p(`<text x="%.0f" y="%.1f" font-size="11" text-anchor="end" fill="#444">%s</text>`, left-6, yy+4, label)
			}
			p("\n")
		}
	}
	p(`<text transform="translate(18 %.1f) rotate(-90)" font-size="12" text-anchor="middle" fill="#444">seconds</text>`+"\n", top0+plotH/2)
	p(`<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="#444"/>`+"\n", left, right, top0+plotH, top0+plotH)

	// Bars.
	if len(groups) == 0 {
		return
	}
	groupW := plotW / float64(len(groups))
	barW := (groupW*(1-groupPad) - barGap*float64(len(r.Tools)-1)) / float64(len(r.Tools))
	base := top0 + plotH
	for gi, g := range groups {
		// A workload that fewer tools run has its bars centred.
		gx := left + float64(gi)*groupW + groupW*groupPad/2 +
			float64(len(r.Tools)-len(g.tools))*(barW+barGap)/2
		for ti, t := range g.tools {
			bx := gx + float64(ti)*(barW+barGap)
			cx := bx + barW/2
			if r.omitted(g.link.Name, g.workload.Name, t) != "" {
				p(`<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#888">n/a</text>`+"\n", cx, base-4)
				continue
			}
			if !g.present[ti] {
				continue
			}
			c := g.cells[ti]
			switch {
			case c.Capped:
				yy := y(r.Settings.Timeout)
				p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="url(#capped)" stroke="%s" stroke-width="1.5"><title>%s: stopped at %s s</title></rect>`,
					bx, yy, barW, base-yy, colours[t], esc(t), seconds(r.Settings.Timeout))
				p(`<text x="%.1f" y="%.1f" font-size="9" text-anchor="middle">&gt;%s</text>`+"\n", cx, yy-4, seconds(r.Settings.Timeout))
			case c.valid():
				yy := y(c.Median)
				p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s s</title></rect>`,
					bx, yy, barW, base-yy, colours[t], esc(t), seconds(c.Median))
				weight := "normal"
				if t == "fcp" {
					weight = "bold"
				}
				p(`<text x="%.1f" y="%.1f" font-size="10" font-weight="%s" text-anchor="middle">%s</text>`+"\n", cx, yy-4, weight, seconds(c.Median))
			default:
				p(`<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle" fill="#b00">failed</text>`+"\n", cx, base-4)
			}
		}
		// The workload's label, split at its comma ("1 GiB file, 1 MiB
		// changed"), then the link's.
		mid := left + (float64(gi)+0.5)*groupW
		line := 0
		for _, part := range strings.SplitN(g.workload.Label, ", ", 2) {
			p(`<text x="%.1f" y="%.0f" font-size="12" font-weight="bold" text-anchor="middle">%s</text>`, mid, base+20+float64(line)*16, esc(part))
			line++
		}
		p(`<text x="%.1f" y="%.0f" font-size="12" text-anchor="middle" fill="#444">%s</text>`+"\n", mid, base+20+float64(line)*16+1, esc(g.link.Label))
	}
}

func axisLabel(v float64) string { return fmt.Sprintf("%g", v) }

// niceAbove returns the smallest of 1, 2 and 5 times a power of ten that is
// at least v.
func niceAbove(v float64) float64 {
	for d := math.Floor(math.Log10(v)); ; d++ {
		for _, m := range []float64{1, 2, 5} {
			if n := m * math.Pow(10, d); n >= v*0.9999 {
				return n
			}
		}
	}
}
