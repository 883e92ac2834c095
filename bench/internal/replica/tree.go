// Package replica watches a copy that another process keeps in step with
// its source, for the replication latency workload: when a file at the
// copy holds given bytes (Waiter, on inotify), and when a whole tree equals
// a snapshot of the source (Tracker, by polling).
package replica

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Entry is what a tree holds at one path: a directory, a symbolic link
// (its target) or a regular file (its size, permission bits and content's
// SHA-256). Times and ownership are not compared.
type Entry struct {
	Type   fs.FileMode // fs.ModeDir, fs.ModeSymlink or 0
	Perm   fs.FileMode // of regular files
	Size   int64
	Sum    [32]byte
	Target string
}

// Tree maps slash-separated paths relative to the root to entries; the
// root itself is not in it.
type Tree map[string]Entry

// Skip tells Snapshot and Tracker to leave out the path rel (and, for a
// directory, everything in it).
type Skip func(rel string, isDir bool) bool

// SkipGit leaves out .git at the root: what fcp replicate never sends.
func SkipGit(rel string, isDir bool) bool { return rel == ".git" }

// Snapshot reads the tree under root. Anything but directories, regular
// files and symbolic links is an error.
func Snapshot(root string, skip Skip) (Tree, error) { return snapshot(root, skip, false) }

// snapshot is Snapshot; with vanishing, a path that goes away while it is
// read is left out, and a root that does not exist is an empty tree.
func snapshot(root string, skip Skip, vanishing bool) (Tree, error) {
	t := make(Tree)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if vanishing && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if p == root {
			return nil
		}
		rel := filepath.ToSlash(p[len(root)+1:])
		if skip != nil && skip(rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		e, err := entry(p)
		if vanishing && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		t[rel] = e
		return nil
	})
	return t, err
}

func entry(p string) (Entry, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return Entry{}, err
	}
	switch {
	case fi.IsDir():
		return Entry{Type: fs.ModeDir}, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		return Entry{Type: fs.ModeSymlink, Target: target}, err
	case fi.Mode().IsRegular():
		b, err := os.ReadFile(p)
		if err != nil {
			return Entry{}, err
		}
		return Entry{Perm: fi.Mode().Perm(), Size: int64(len(b)), Sum: sha256.Sum256(b)}, nil
	}
	return Entry{}, fmt.Errorf("%s: unexpected file type %v", p, fi.Mode().Type())
}

// matches reports whether the copy's path p holds want, reading the file
// only when type and size already match.
func matches(p string, want Entry) bool {
	fi, err := os.Lstat(p)
	if err != nil || fi.Mode().Type() != want.Type {
		return false
	}
	switch want.Type {
	case fs.ModeDir:
		return true
	case fs.ModeSymlink:
		target, err := os.Readlink(p)
		return err == nil && target == want.Target
	}
	if fi.Size() != want.Size || fi.Mode().Perm() != want.Perm {
		return false
	}
	b, err := os.ReadFile(p)
	return err == nil && int64(len(b)) == want.Size && sha256.Sum256(b) == want.Sum
}

// Diff lists the paths where have differs from want, sorted: those
// missing, different or extra in have.
func Diff(want, have Tree) []string {
	var out []string
	for p, w := range want {
		if h, ok := have[p]; !ok || h != w {
			out = append(out, p)
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Tracker follows a copy until it equals a snapshot of its source.
//
// It keeps the paths that still differ. A poll (Poll) looks at those only:
// a path expected at the copy must match the snapshot, a path the
// snapshot lacks must be gone. When none is left, a full walk of the copy
// confirms the whole tree (and finds anything that appeared meanwhile,
// such as a temporary file of the replicator, whose paths then differ
// again). So the cost of a poll shrinks as the copy converges, and the
// moment the last difference goes is seen within one poll.
type Tracker struct {
	root    string
	want    Tree
	skip    Skip
	pending map[string]bool
	walks   int
	equal   time.Time // when the last poll found no pending path left
}

// NewTracker starts following the copy at root towards want.
func NewTracker(root string, want Tree, skip Skip) *Tracker {
	t := &Tracker{root: root, want: want, skip: skip}
	t.walk()
	return t
}

// walk compares the whole copy with want and makes every difference
// pending.
func (t *Tracker) walk() {
	t.walks++
	t.pending = make(map[string]bool)
	have, err := snapshot(t.root, t.skip, true)
	if err != nil {
		// Not a vanished path (those are left out): an unreadable copy.
		// Everything is pending, and the next walk tells.
		for p := range t.want {
			t.pending[p] = true
		}
		t.pending["."] = true
		return
	}
	for _, p := range Diff(t.want, have) {
		t.pending[p] = true
	}
}

// Poll checks the paths that differed; when none does any more, it
// confirms with a full walk. It reports whether the copy equals want.
func (t *Tracker) Poll() bool {
	if t.pending["."] {
		t.walk() // the last walk failed
		return false
	}
	for p := range t.pending {
		full := filepath.Join(t.root, filepath.FromSlash(p))
		w, expected := t.want[p]
		if expected && matches(full, w) {
			delete(t.pending, p)
		} else if _, err := os.Lstat(full); !expected && errors.Is(err, fs.ErrNotExist) {
			delete(t.pending, p)
		}
	}
	if len(t.pending) > 0 {
		return false
	}
	t.equal = time.Now()
	t.walk()
	return len(t.pending) == 0
}

// Pending returns the paths that differed at the last poll, sorted.
func (t *Tracker) Pending() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for p := range t.pending {
			if !yield(p) {
				return
			}
		}
	})
}

// Walks is the number of full walks of the copy so far.
func (t *Tracker) Walks() int { return t.walks }

// Wait polls until the copy equals want, ctx ends or timeout passes. It
// returns the moment the last poll had found every pending path settled,
// before the walk that confirmed it (so the copy became equal at most one
// poll interval and one poll's checks earlier), and whether it did.
// Between polls it sleeps as long as the last poll took, at least
// minSleep, so that it takes at most about half a CPU from the processes
// it watches.
func (t *Tracker) Wait(ctx context.Context, timeout, minSleep time.Duration) (at time.Time, ok bool) {
	deadline := time.Now().Add(timeout)
	for {
		start := time.Now()
		if t.Poll() {
			return t.equal, true
		}
		took := time.Since(start)
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, false
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-time.After(max(took, minSleep)):
		}
	}
}

// Holds reports whether the file at path holds exactly want.
func Holds(path string, want []byte) bool {
	b, err := os.ReadFile(path)
	return err == nil && bytes.Equal(b, want)
}
