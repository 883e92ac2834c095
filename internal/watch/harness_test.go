package watch

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// convergeTimeout bounds how long a scenario may take to converge; it is
// generous because the race detector slows everything down.
const convergeTimeout = 30 * time.Second

// entry is what the test consumer knows about one path.
type entry struct {
	mode  fs.FileMode
	size  int64
	mtime time.Time
}

func entryOf(fi fs.FileInfo) entry {
	e := entry{mode: fi.Mode()}
	if !fi.IsDir() {
		// A directory's size and mtime change with its entries, which no
		// watcher reports as changes of the directory.
		e.size, e.mtime = fi.Size(), fi.ModTime()
	}
	return e
}

// harness is a consumer of batches: it keeps a model of the tree, updated
// as the package documentation tells consumers to, and checks that the
// model converges to the tree.
type harness struct {
	t      *testing.T
	root   string
	ignore func(string, bool) bool
	w      *Watcher
	model  map[string]entry
	// batches holds every batch received, in order.
	batches []Batch
}

// newHarness creates a temporary tree, lets setup populate it, starts a
// watcher on it, and then takes the consumer's initial scan.
func newHarness(t *testing.T, o Options, setup func(h *harness)) *harness {
	t.Helper()
	h := &harness{t: t, root: t.TempDir(), ignore: o.Ignore}
	if h.ignore == nil {
		h.ignore = func(string, bool) bool { return false }
	}
	if setup != nil {
		setup(h)
	}
	w, err := New(h.root, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	h.w = w
	h.model = h.scan(".")
	return h
}

func (h *harness) abs(rel string) string { return filepath.Join(h.root, filepath.FromSlash(rel)) }

// scan walks the subtree at rel as a consumer would, skipping ignored
// entries; rel itself is included unless it is the root.
func (h *harness) scan(rel string) map[string]entry {
	m := make(map[string]entry)
	err := filepath.WalkDir(h.abs(rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if isGone(err) {
				return nil // vanished while walking; a later batch tells
			}
			return err
		}
		r, err := filepath.Rel(h.root, p)
		if err != nil {
			return err
		}
		r = filepath.ToSlash(r)
		if r == "." {
			return nil
		}
		if h.ignore(r, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if isGone(err) {
			return nil
		}
		if err != nil {
			return err
		}
		m[r] = entryOf(fi)
		return nil
	})
	if err != nil {
		h.t.Errorf("scan %s: %v", rel, err)
	}
	return m
}

// forget drops rel and everything below it from the model.
func (h *harness) forget(rel string) {
	for p := range h.model {
		if within(p, rel) {
			delete(h.model, p)
		}
	}
}

// apply updates the model with b, after checking that b has the shape the
// package documentation promises.
func (h *harness) apply(b Batch) {
	h.t.Helper()
	h.batches = append(h.batches, b)
	h.checkShape(b)
	for _, c := range b.Changes {
		if c.Op&(Removed|MovedFrom) != 0 {
			h.forget(c.Path)
		}
		fi, err := os.Lstat(h.abs(c.Path))
		if err != nil {
			h.forget(c.Path)
			continue
		}
		e := entryOf(fi)
		if old, ok := h.model[c.Path]; ok && old.mode.Type() != e.mode.Type() {
			h.forget(c.Path)
		}
		h.model[c.Path] = e
	}
	for _, r := range b.Rescan {
		h.forget(r)
		maps.Copy(h.model, h.scan(r))
	}
}

// checkShape checks the promises about a batch's form: sorted, each path
// once, From only with MovedTo, no nested rescans, nothing covered by a
// rescan without From, and nothing ignored.
func (h *harness) checkShape(b Batch) {
	h.t.Helper()
	if len(b.Changes) == 0 && len(b.Rescan) == 0 {
		h.t.Errorf("empty batch delivered")
	}
	for i, c := range b.Changes {
		if i > 0 && b.Changes[i-1].Path >= c.Path {
			h.t.Errorf("changes not sorted or not unique: %q then %q", b.Changes[i-1].Path, c.Path)
		}
		if c.Op == 0 {
			h.t.Errorf("change %q has no op", c.Path)
		}
		if c.From != "" && c.Op&MovedTo == 0 {
			h.t.Errorf("change %q has From %q without MovedTo", c.Path, c.From)
		}
		if c.From == "" && h.coveredBy(c.Path, b.Rescan) {
			h.t.Errorf("change %q is inside a rescan %q", c.Path, b.Rescan)
		}
		h.checkNotIgnored(c.Path, c.Dir)
	}
	for i, r := range b.Rescan {
		if i > 0 && b.Rescan[i-1] >= r {
			h.t.Errorf("rescans not sorted or not unique: %q", b.Rescan)
		}
		if r != "." && h.coveredBy(path.Dir(r), b.Rescan) {
			h.t.Errorf("rescan %q is nested in %q", r, b.Rescan)
		}
		h.checkNotIgnored(r, true)
	}
}

func (h *harness) coveredBy(p string, rescans []string) bool {
	for _, r := range rescans {
		if within(p, r) {
			return true
		}
	}
	return false
}

func (h *harness) checkNotIgnored(p string, isDir bool) {
	h.t.Helper()
	if p == "." {
		return
	}
	if h.ignore(p, isDir) {
		h.t.Errorf("ignored path %q reported", p)
	}
	for q := path.Dir(p); q != "."; q = path.Dir(q) {
		if h.ignore(q, true) {
			h.t.Errorf("path %q inside ignored directory %q reported", p, q)
		}
	}
}

// converge runs ops in a goroutine while receiving and applying batches,
// and returns once ops are done and the model equals a fresh scan of the
// tree. It returns the batches received meanwhile.
func (h *harness) converge(ops func()) []Batch {
	h.t.Helper()
	start := len(h.batches)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if ops != nil {
			ops()
		}
	}()
	deadline := time.NewTimer(convergeTimeout)
	defer deadline.Stop()
	idle := time.NewTicker(20 * time.Millisecond)
	defer idle.Stop()
	for {
		select {
		case b, ok := <-h.w.Batches():
			if !ok {
				h.t.Fatal("batches channel closed")
			}
			h.apply(b)
		case <-idle.C:
		case <-deadline.C:
			<-done
			h.t.Fatalf("did not converge in %v:\n%s", convergeTimeout, h.diff(h.scan(".")))
		}
		select {
		case <-done:
		default:
			continue
		}
		if maps.Equal(h.model, h.scan(".")) {
			return h.batches[start:]
		}
	}
}

// drain applies batches until none has come for quiet, and returns them.
func (h *harness) drain(quiet time.Duration) []Batch {
	start := len(h.batches)
	for {
		select {
		case b, ok := <-h.w.Batches():
			if !ok {
				h.t.Fatal("batches channel closed")
			}
			h.apply(b)
		case <-time.After(quiet):
			return h.batches[start:]
		}
	}
}

// waitFor applies batches until one satisfies ok.
func (h *harness) waitFor(what string, ok func(Batch) bool) {
	h.t.Helper()
	deadline := time.NewTimer(convergeTimeout)
	defer deadline.Stop()
	for {
		select {
		case b, open := <-h.w.Batches():
			if !open {
				h.t.Fatal("batches channel closed")
			}
			h.apply(b)
			if ok(b) {
				return
			}
		case <-deadline.C:
			h.t.Fatalf("no batch with %s in %v", what, convergeTimeout)
		}
	}
}

// diff describes how the model differs from the tree.
func (h *harness) diff(tree map[string]entry) string {
	var lines []string
	for p, e := range tree {
		if m, ok := h.model[p]; !ok {
			lines = append(lines, fmt.Sprintf("missing from model: %s %v", p, e.mode))
		} else if m != e {
			lines = append(lines, fmt.Sprintf("stale in model:     %s model=%+v tree=%+v", p, m, e))
		}
	}
	for p := range h.model {
		if _, ok := tree[p]; !ok {
			lines = append(lines, "gone from tree:     "+p)
		}
	}
	slices.Sort(lines)
	if len(lines) > 30 {
		lines = append(lines[:30], fmt.Sprintf("... and %d more", len(lines)-30))
	}
	return strings.Join(lines, "\n")
}

// watched returns the relative paths that have a kernel watch.
func (h *harness) watched() []string {
	var rels []string
	for _, p := range h.w.fsw.WatchList() {
		if r, ok := h.w.rel(p); ok {
			rels = append(rels, r)
		} else {
			rels = append(rels, p)
		}
	}
	slices.Sort(rels)
	return rels
}

// changesFor returns every Change for rel in batches.
func changesFor(batches []Batch, rel string) []Change {
	var cs []Change
	for _, b := range batches {
		for _, c := range b.Changes {
			if c.Path == rel {
				cs = append(cs, c)
			}
		}
	}
	return cs
}

// rescanned reports whether some batch has a Rescan covering rel.
func rescanned(batches []Batch, rel string) bool {
	for _, b := range batches {
		for _, r := range b.Rescan {
			if within(rel, r) {
				return true
			}
		}
	}
	return false
}

// File system operations for ops functions, which run on a goroutine of
// their own and so report failures with Errorf.

func (h *harness) mkdirAll(rel string) {
	if err := os.MkdirAll(h.abs(rel), 0o755); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) write(rel, data string) {
	if err := os.WriteFile(h.abs(rel), []byte(data), 0o644); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) rename(from, to string) {
	if err := os.Rename(h.abs(from), h.abs(to)); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) remove(rel string) {
	if err := os.Remove(h.abs(rel)); err != nil {
		h.t.Error(err)
	}
}

func (h *harness) removeAll(rel string) {
	if err := os.RemoveAll(h.abs(rel)); err != nil {
		h.t.Error(err)
	}
}
