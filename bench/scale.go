//go:build linux

package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/fcp-dev/fcp/bench/internal/report"
	"github.com/fcp-dev/fcp/bench/internal/tool"
	"github.com/fcp-dev/fcp/bench/internal/workload"
)

// The scale workloads (issue 7): a million tiny files copied into an empty
// destination and then again onto that copy, and a 10 GiB sparse file.
// They run with the tools that can take them (tool.Tool.Scale: rsync and
// fcp), under a cap of their own (-scale-timeout), and are not in the
// default set: -workloads million,sparse. "million" brings its no-change
// re-run with it, as "nochange" does "tree".
const (
	wlMillion         = "million"
	wlMillionNoChange = "million-nochange"
	wlSparse          = "sparse"
)

// scaleWorkloads are the scale workloads in table order.
var scaleWorkloads = []string{wlMillion, wlMillionNoChange, wlSparse}

// The goals of the million-file workloads, from the issue: peak memory at
// each end, and the no-change re-run's time against rsync's.
const (
	scaleMaxRSS   = 150e6
	scaleMaxRatio = 0.5
)

// noChangeOf maps a copy workload to its no-change re-run, which runs
// right after each tool's copy, onto it.
var noChangeOf = map[string]string{wlTree: wlNoChange, wlMillion: wlMillionNoChange}

// copyOf is the inverse of noChangeOf.
func copyOf(noChange string) string {
	for c, n := range noChangeOf {
		if n == noChange {
			return c
		}
	}
	return ""
}

// isScale reports whether wl is a scale workload.
func isScale(wl string) bool { return slices.Contains(scaleWorkloads, wl) }

// pickScale completes the scale workloads of a picked list: each of the
// million-file pair brings the other. It returns the list in known's
// order.
func pickScale(workloads, known []string) []string {
	has := slices.Contains(workloads, wlMillion) || slices.Contains(workloads, wlMillionNoChange)
	if !has {
		return workloads
	}
	out := slices.Clone(workloads)
	for _, wl := range []string{wlMillion, wlMillionNoChange} {
		if !slices.Contains(out, wl) {
			out = append(out, wl)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return slices.Index(known, a) - slices.Index(known, b) })
	return out
}

// manySpec and sparseSpec are the scale data sets of the run.
func (s *session) manySpec() workload.Many {
	if s.o.quick {
		return workload.MillionQuick()
	}
	return workload.Million()
}

func (s *session) sparseSpec() workload.Sparse {
	if s.o.quick {
		return workload.SparseQuick()
	}
	return workload.SparseFile()
}

// generateScale writes the data of the scale workloads among workloads
// and records their digests.
func (s *session) generateScale(workloads []string) error {
	if slices.Contains(workloads, wlMillion) {
		m := s.manySpec()
		s.logf("generating data: %s files in %d × %d directories", report.Thousands(m.Count()), m.Dirs, m.Subdirs)
		start := time.Now()
		d, err := workload.GenerateMany(s.src, m)
		if err != nil {
			return fmt.Errorf("generate the tree of %s files: %w", report.Thousands(m.Count()), err)
		}
		s.digests[wlMillion], s.digests[wlMillionNoChange] = d, d
		s.logf("generated in %.1f s: %v", time.Since(start).Seconds(), d)
	}
	if slices.Contains(workloads, wlSparse) {
		d, err := workload.GenerateSparse(s.src, s.sparseSpec())
		if err != nil {
			return fmt.Errorf("generate the sparse file: %w", err)
		}
		s.digests[wlSparse] = d
		s.logf("generated the sparse file: %v", d)
	}
	return nil
}

// scaleJob is the copy of a scale workload.
func (s *session) scaleJob(wl string) tool.Job {
	if wl == wlSparse {
		return tool.Job{Src: filepath.Join(s.src, workload.SparseName), DstDir: s.dst, Sparse: true}
	}
	return tool.Job{Src: filepath.Join(s.src, workload.ManyName), Dir: true, DstDir: s.dst}
}

// capOf is the cap of one run of wl.
func (s *session) capOf(wl string) time.Duration {
	if isScale(wl) {
		return s.o.scaleTimeout
	}
	return s.o.timeout
}

// scaleLabel returns the label of a scale workload for the results, and
// false for any other workload.
func (s *session) scaleLabel(wl string, tools []string) (report.Label, bool) {
	if !isScale(wl) {
		return report.Label{}, false
	}
	m, sp := s.manySpec(), s.sparseSpec()
	l := report.Label{Name: wl, Tools: tools, Scale: true}
	switch wl {
	case wlMillion:
		l.Label = report.Thousands(m.Count()) + " files"
		l.Goals = report.Goals{MaxRSS: scaleMaxRSS}
	case wlMillionNoChange:
		l.Label = report.Thousands(m.Count()) + " files, no change"
		l.Goals = report.Goals{MaxRSS: scaleMaxRSS, MaxRatio: scaleMaxRatio}
	case wlSparse:
		l.Label = size(sp.Size) + " sparse file"
	}
	return l, true
}

// describeScale says what the scale workloads among workloads copy.
func (s *session) describeScale(workloads []string) string {
	out := ""
	if slices.Contains(workloads, wlMillion) {
		m := s.manySpec()
		out += fmt.Sprintf(" *Scale*: a tree of %s files in %d × %d directories of %s, one in %d of 1–%d random bytes and the others empty "+
			"(%.1f MB in all), copied into an empty destination and then again onto that copy (*no change*).",
			report.Thousands(m.Count()), m.Dirs, m.Subdirs, report.Thousands(m.Files), m.TinyEvery, m.TinyMax, float64(s.digests[wlMillion].Bytes)/1e6)
	}
	if slices.Contains(workloads, wlSparse) {
		sp := s.sparseSpec()
		out += fmt.Sprintf(" A sparse file of %s holding %d extents of %s of random bytes (%s of data), the rest holes; rsync gets -S, fcp -S.",
			size(sp.Size), sp.Extents, size(sp.ExtentBytes), size(int64(sp.Extents)*sp.ExtentBytes))
	}
	if out != "" {
		out += fmt.Sprintf(" A run of these has a cap of %v.", s.o.scaleTimeout)
	}
	return out
}
