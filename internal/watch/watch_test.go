package watch

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestNestedTrees(t *testing.T) {
	t.Run("MkdirAll", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		h.converge(func() {
			for i := range 300 {
				dir := fmt.Sprintf("n%d/a/b/c", i)
				h.mkdirAll(dir)
				h.write(dir+"/f", "x")
				h.write(fmt.Sprintf("n%d/a/g", i), "y")
			}
		})
	})
	t.Run("shell", func(t *testing.T) {
		h := newHarness(t, Options{}, nil)
		var script strings.Builder
		for i := range 100 {
			fmt.Fprintf(&script, "mkdir -p s%d/a/b/c && touch s%d/a/b/c/f && ", i, i)
		}
		script.WriteString("mkdir -p a/b/c && touch a/b/c/f")
		batches := h.converge(func() {
			cmd := exec.Command("sh", "-c", script.String())
			cmd.Dir = h.root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("sh: %v: %s", err, out)
			}
		})
		for _, p := range []string{"a", "a/b", "a/b/c", "a/b/c/f"} {
			if len(changesFor(batches, p)) == 0 {
				t.Errorf("no change reported for %s", p)
			}
		}
	})
}

func TestRename(t *testing.T) {
	// A long quiet period makes rename pairing robust on a loaded machine.
	h := newHarness(t, Options{Quiet: 100 * time.Millisecond, MaxLatency: time.Second}, func(h *harness) {
		h.write("a.txt", "a")
		h.mkdirAll("d/sub")
		h.write("d/x", "x")
		h.write("d/sub/y", "y")
	})

	batches := h.converge(func() { h.rename("a.txt", "b.txt") })
	if cs := changesFor(batches, "b.txt"); len(cs) != 1 || cs[0].Op&MovedTo == 0 || cs[0].From != "a.txt" {
		t.Errorf("file rename: changes for b.txt = %+v, want one MovedTo from a.txt", cs)
	}
	if cs := changesFor(batches, "a.txt"); len(cs) != 1 || cs[0].Op&MovedFrom == 0 {
		t.Errorf("file rename: changes for a.txt = %+v, want one MovedFrom", cs)
	}

	batches = h.converge(func() { h.rename("d", "e") })
	if cs := changesFor(batches, "e"); len(cs) != 1 || cs[0].Op&MovedTo == 0 || cs[0].From != "d" || !cs[0].Dir {
		t.Errorf("directory rename: changes for e = %+v, want one MovedTo from d", cs)
	}
	if !rescanned(batches, "e") {
		t.Errorf("directory rename: e not rescanned")
	}
	if got, want := h.watched(), []string{".", "e", "e/sub"}; !slices.Equal(got, want) {
		t.Errorf("watches after directory rename = %q, want %q", got, want)
	}

	// Changes inside the renamed directory are reported under its new name.
	batches = h.converge(func() {
		h.write("e/x", "changed")
		h.write("e/sub/z", "z")
		h.mkdirAll("e/sub/new/deep")
		h.write("e/sub/new/deep/f", "f")
	})
	for _, p := range []string{"e/x", "e/sub/z", "e/sub/new", "e/sub/new/deep", "e/sub/new/deep/f"} {
		if len(changesFor(batches, p)) == 0 && !rescanned(batches, p) {
			t.Errorf("after directory rename: %s not reported", p)
		}
	}

	// Moves across directories, out of the tree and back in.
	outside := t.TempDir()
	h.converge(func() {
		h.rename("e/sub", "sub2")
		h.rename("b.txt", "sub2/b.txt")
		if err := os.Rename(h.abs("e"), outside+"/e"); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(outside+"/e/outside", nil, 0o644); err != nil {
			t.Error(err)
		}
		if err := os.Rename(outside+"/e", h.abs("back")); err != nil {
			t.Error(err)
		}
		h.write("back/inside", "i")
		h.write("sub2/new/deep/f", "again")
	})
	if got, want := h.watched(), []string{".", "back", "sub2", "sub2/new", "sub2/new/deep"}; !slices.Equal(got, want) {
		t.Errorf("watches after moves = %q, want %q", got, want)
	}
}

func TestEditorSave(t *testing.T) {
	tests := []struct {
		name string
		save func(h *harness)
	}{
		{"rename swap file over", func(h *harness) {
			h.write(".f.swp", "new content")
			h.rename(".f.swp", "f")
		}},
		{"rename backup file over", func(h *harness) {
			h.write("f~", "new content")
			h.rename("f~", "f")
		}},
		{"vim backup and rewrite", func(h *harness) {
			h.write("4913", "")
			h.remove("4913")
			h.rename("f", "f~")
			h.write("f", "new content")
			if err := os.Chmod(h.abs("f"), 0o600); err != nil {
				h.t.Error(err)
			}
			h.remove("f~")
		}},
		{"copy backup and write in place", func(h *harness) {
			h.write("f~", "old")
			h.write("f", "new content")
			h.remove("f~")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Quiet: 100 * time.Millisecond, MaxLatency: 5 * time.Second}, func(h *harness) {
				h.write("f", "old")
			})
			// The saved content differs in size, so that the model cannot
			// converge before the change of f is applied.
			batches := h.converge(func() { tt.save(h) })
			batches = append(batches, h.drain(300*time.Millisecond)...)
			if cs := changesFor(batches, "f"); len(cs) != 1 {
				t.Errorf("changes for f = %+v in %d batches, want exactly one", cs, len(batches))
			}
		})
	}
}

func TestBurst(t *testing.T) {
	const dirs, perDir = 30, 100 // 3,000 files, like a checkout of another branch
	h := newHarness(t, Options{}, func(h *harness) {
		for d := range dirs {
			h.mkdirAll(fmt.Sprintf("src/d%d", d))
			for f := range perDir {
				h.write(fmt.Sprintf("src/d%d/f%d.go", d, f), "package old")
			}
		}
	})
	start := time.Now()
	batches := h.converge(func() {
		for d := range dirs {
			for f := range perDir {
				p := fmt.Sprintf("src/d%d/f%d.go", d, f)
				switch f % 3 {
				case 0:
					h.remove(p)
				case 1:
					h.write(p, "package new // modified")
				case 2:
					h.write(p+".tmp", "package new // replaced")
					h.rename(p+".tmp", p)
				}
			}
			h.mkdirAll(fmt.Sprintf("src/new%d/x/y", d))
			for f := range perDir / 3 {
				h.write(fmt.Sprintf("src/new%d/x/y/g%d.go", d, f), "package created")
			}
		}
		h.removeAll("src/d0")
	})
	changes := 0
	for _, b := range batches {
		changes += len(b.Changes)
	}
	t.Logf("%d batches, %d changes, converged in %v", len(batches), changes, time.Since(start))
	// A batch gathers events until the tree is quiet for 10 ms or for at
	// most 50 ms, so a burst comes in few batches of many changes each,
	// however slowly (under the race detector, on a loaded machine) the
	// burst itself runs.
	if len(batches)*10 > changes {
		t.Errorf("%d batches for %d changes; coalescing does not work", len(batches), changes)
	}
}

func TestRemoveSubtree(t *testing.T) {
	h := newHarness(t, Options{}, func(h *harness) {
		for i := range 10 {
			dir := fmt.Sprintf("tree/a%d/b/c", i)
			h.mkdirAll(dir)
			for j := range 20 {
				h.write(fmt.Sprintf("%s/f%d", dir, j), "x")
			}
		}
		h.write("keep", "k")
	})
	batches := h.converge(func() { h.removeAll("tree") })
	if cs := changesFor(batches, "tree"); len(cs) == 0 || cs[len(cs)-1].Op&Removed == 0 {
		t.Errorf("changes for tree = %+v, want Removed", cs)
	}
	if got := h.watched(); !slices.Equal(got, []string{"."}) {
		t.Errorf("watches after removal = %q, want only the root", got)
	}
	if n := len(h.w.fsw.WatchList()); n != 1 {
		t.Errorf("%d watches left", n)
	}
}

func TestIgnored(t *testing.T) {
	var calls atomic.Int64
	ignore := func(rel string, isDir bool) bool {
		calls.Add(1)
		base := path.Base(rel)
		return (isDir && (base == ".git" || base == "ignored")) || strings.HasSuffix(base, ".tmp")
	}
	h := newHarness(t, Options{Ignore: ignore}, func(h *harness) {
		h.mkdirAll(".git/objects/aa")
		h.mkdirAll("ignored/old")
		h.mkdirAll("src")
	})
	batches := h.converge(func() {
		h.write(".git/objects/aa/bb", "obj")
		h.mkdirAll(".git/objects/cc/dd")
		h.write("ignored/new", "n")
		h.mkdirAll("ignored/x/y")
		h.write("ignored/x/y/z", "z")
		h.mkdirAll("src/ignored/deep") // ignored by name when it appears
		h.write("src/ignored/deep/f", "f")
		h.write("src/a.tmp", "t")
		h.write("src/a", "a")
	})
	if len(changesFor(batches, "src/a")) == 0 {
		t.Errorf("src/a not reported: %+v", batches)
	}
	for _, b := range batches {
		for _, c := range b.Changes {
			if strings.Contains(c.Path, "ignored") || strings.HasPrefix(c.Path, ".git") || strings.HasSuffix(c.Path, ".tmp") {
				t.Errorf("ignored path reported: %+v", c)
			}
		}
	}
	if got, want := h.watched(), []string{".", "src"}; !slices.Equal(got, want) {
		t.Errorf("watches = %q, want %q", got, want)
	}
	if calls.Load() == 0 {
		t.Errorf("Ignore never called")
	}
}

func TestReevaluate(t *testing.T) {
	var vendorIgnored atomic.Bool
	vendorIgnored.Store(true)
	ignore := func(rel string, isDir bool) bool {
		return isDir && path.Base(rel) == "vendor" && vendorIgnored.Load()
	}
	h := newHarness(t, Options{Ignore: ignore}, func(h *harness) {
		h.mkdirAll("vendor/lib")
		h.write("vendor/lib/old", "o")
	})
	h.converge(func() {
		h.write("vendor/lib/new", "n")
		h.write("top", "t")
	})
	if got := h.watched(); !slices.Equal(got, []string{"."}) {
		t.Fatalf("watches while ignored = %q", got)
	}

	// The rules change: vendor is no longer ignored.
	vendorIgnored.Store(false)
	if err := h.w.Reevaluate("."); err != nil {
		t.Fatal(err)
	}
	if got, want := h.watched(), []string{".", "vendor", "vendor/lib"}; !slices.Equal(got, want) {
		t.Errorf("watches after un-ignoring = %q, want %q", got, want)
	}
	batches := h.converge(nil)
	if !rescanned(batches, "vendor") {
		t.Errorf("un-ignored vendor not rescanned: %+v", batches)
	}
	batches = h.converge(func() { h.write("vendor/lib/later", "l") })
	if len(changesFor(batches, "vendor/lib/later")) == 0 {
		t.Errorf("write in un-ignored directory not reported: %+v", batches)
	}

	// And back.
	vendorIgnored.Store(true)
	if err := h.w.Reevaluate("vendor/lib"); err != nil { // inside: re-evaluates vendor
		t.Fatal(err)
	}
	if err := h.w.Reevaluate("."); err != nil {
		t.Fatal(err)
	}
	if got := h.watched(); !slices.Equal(got, []string{"."}) {
		t.Errorf("watches after ignoring again = %q", got)
	}
	// The consumer's model still has vendor; a real consumer drops what its
	// new rules exclude when it rescans.
	h.forget("vendor")
	h.converge(nil)
}

func TestSymlinks(t *testing.T) {
	outside := t.TempDir()
	h := newHarness(t, Options{}, nil)
	batches := h.converge(func() {
		if err := os.Symlink(outside, h.abs("link")); err != nil {
			t.Error(err)
		}
		if err := os.Symlink("nowhere", h.abs("dangling")); err != nil {
			t.Error(err)
		}
		if err := os.WriteFile(outside+"/f", nil, 0o644); err != nil {
			t.Error(err)
		}
	})
	if cs := changesFor(batches, "link"); len(cs) != 1 || cs[0].Dir {
		t.Errorf("changes for link = %+v, want one non-directory", cs)
	}
	if got := h.watched(); !slices.Equal(got, []string{"."}) {
		t.Errorf("watches = %q, want only the root", got)
	}
	for _, b := range batches {
		for _, c := range b.Changes {
			if strings.HasPrefix(c.Path, "link/") {
				t.Errorf("followed a symlink: %+v", c)
			}
		}
	}
}

func TestWatchLimit(t *testing.T) {
	var failing sync.Map // rel → true while adding its watch fails
	failing.Store("big", true)
	failing.Store("late", true)
	hook := func(rel string) error {
		if _, ok := failing.Load(rel); ok {
			return fmt.Errorf("inotify_add_watch: %w", syscall.ENOSPC)
		}
		return nil
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	h := newHarness(t, Options{addHook: hook, RetryInterval: 50 * time.Millisecond, Logger: logger}, func(h *harness) {
		h.mkdirAll("big/sub")
		h.write("big/sub/f", "f")
	})
	batches := h.converge(func() {
		h.write("big/sub/f", "changed")
		h.write("big/new", "n")
		h.mkdirAll("late/x")
		h.write("late/x/f", "f")
	})
	if !rescanned(batches, "big") || !rescanned(batches, "late") {
		t.Errorf("directories that cannot be watched not rescanned: %+v", batches)
	}
	logMu.Lock()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings logged, want 1:\n%s", n, logs.String())
	}
	logMu.Unlock()

	// Still polled: later changes are covered by further rescans.
	h.converge(func() { h.write("big/sub/g", "g") })

	// The limit goes away: the watches are added on the next retry.
	failing.Clear()
	deadline := time.Now().Add(convergeTimeout)
	for !slices.Equal(h.watched(), []string{".", "big", "big/sub", "late", "late/x"}) {
		if time.Now().After(deadline) {
			t.Fatalf("watches = %q after the limit went away", h.watched())
		}
		select {
		case b := <-h.w.Batches():
			h.apply(b)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Polling stops: no batch comes for several retry intervals.
	h.drain(10 * 50 * time.Millisecond)
	batches = h.converge(func() { h.write("big/sub/h", "h") })
	if len(changesFor(batches, "big/sub/h")) == 0 {
		t.Errorf("write after the watch was added not reported as a change: %+v", batches)
	}
}

func TestRootRemoved(t *testing.T) {
	h := newHarness(t, Options{RetryInterval: 20 * time.Millisecond}, func(h *harness) {
		h.mkdirAll("a")
	})
	h.removeAll(".")
	h.waitFor("a rescan of the root after its removal", func(b Batch) bool { return rescanned([]Batch{b}, ".") })
	batches := h.converge(func() {
		h.mkdirAll("b")
		h.write("b/f", "f")
	})
	if !rescanned(batches, ".") {
		t.Errorf("root return not reported as a rescan: %+v", batches)
	}
	h.converge(func() { h.write("b/g", "g") })

	// Renamed away and back.
	if err := os.Rename(h.root, h.root+".away"); err != nil {
		t.Fatal(err)
	}
	h.waitFor("a rescan of the root after it was renamed", func(b Batch) bool { return rescanned([]Batch{b}, ".") })
	if err := os.Rename(h.root+".away", h.root); err != nil {
		t.Fatal(err)
	}
	h.waitFor("a rescan of the root after it came back", func(b Batch) bool { return rescanned([]Batch{b}, ".") })
	h.converge(func() { h.write("b/h", "h") })
	if got, want := h.watched(), []string{".", "b"}; !slices.Equal(got, want) {
		t.Errorf("watches = %q, want %q", got, want)
	}
}

// TestChurn applies random operations to a small namespace, so that
// directories are created, filled, renamed, replaced and removed while the
// watcher is still adding watches for them.
func TestChurn(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			names := []string{"a", "b", "c"}
			pick := func() string {
				var parts []string
				for range 1 + rng.IntN(3) {
					parts = append(parts, names[rng.IntN(len(names))])
				}
				return strings.Join(parts, "/")
			}
			h := newHarness(t, Options{}, nil)
			h.converge(func() {
				for i := range 3000 {
					p := pick()
					switch rng.IntN(6) {
					case 0:
						os.MkdirAll(h.abs(p), 0o755)
					case 1:
						os.MkdirAll(h.abs(path.Dir(p)), 0o755)
						os.WriteFile(h.abs(p), []byte(strings.Repeat("x", i%7)), 0o644)
					case 2:
						os.RemoveAll(h.abs(p))
					case 3:
						os.Rename(h.abs(p), h.abs(pick()))
					case 4:
						os.MkdirAll(h.abs(p+"/x/y"), 0o755)
						os.WriteFile(h.abs(p+"/x/y/f"), nil, 0o644)
					case 5:
						os.Chmod(h.abs(p), fs.FileMode(0o700+rng.IntN(0o100)))
					}
				}
			})
		})
	}
}

func TestLatency(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	const n = 200
	lat := make([]time.Duration, 0, n)
	for i := range n {
		p := fmt.Sprintf("f%d", i)
		start := time.Now()
		h.write(p, "x")
		for len(lat) == i {
			select {
			case b := <-h.w.Batches():
				h.apply(b)
				if len(changesFor([]Batch{b}, p)) > 0 {
					lat = append(lat, time.Since(start))
				}
			case <-time.After(time.Second):
				t.Fatalf("write %d not reported within 1s", i)
			}
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[n/2], lat[n*99/100]
	t.Logf("latency over %d writes (quiet %v, max latency %v): p50 %v, p99 %v, max %v",
		n, DefaultQuiet, DefaultMaxLatency, p50, p99, lat[n-1])
	if p99 > time.Second {
		t.Errorf("p99 latency %v", p99)
	}
}

func TestClose(t *testing.T) {
	w, err := New(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := <-w.Batches(); ok {
		t.Error("Batches not closed")
	}
	if err := w.Reevaluate("."); err != ErrClosed {
		t.Errorf("Reevaluate after Close = %v, want ErrClosed", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{dir + "/missing", file} {
		if w, err := New(root, Options{}); err == nil {
			w.Close()
			t.Errorf("New(%q) succeeded", root)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
