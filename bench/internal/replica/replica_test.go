package replica

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func write(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotAndDiff(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for _, root := range []string{src, dst} {
		write(t, root, "a/x", "x")
		write(t, root, "a/b/y", "y")
		write(t, root, ".git/HEAD", "ref: refs/heads/main\n")
	}
	write(t, src, "new", "n")
	write(t, dst, "a/b/y", "Y")
	write(t, dst, "extra/z", "z")
	if err := os.Symlink("a/x", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/x", filepath.Join(dst, "link")); err != nil {
		t.Fatal(err)
	}
	want, err := Snapshot(src, SkipGit)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := want[".git"]; ok {
		t.Error(".git was not skipped")
	}
	if len(want) != 6 { // a, a/x, a/b, a/b/y, new, link
		t.Errorf("snapshot has %d entries, want 6: %v", len(want), want)
	}
	have, err := Snapshot(dst, SkipGit)
	if err != nil {
		t.Fatal(err)
	}
	if got, exp := Diff(want, have), []string{"a/b/y", "extra", "extra/z", "new"}; !slices.Equal(got, exp) {
		t.Errorf("Diff = %q, want %q", got, exp)
	}
	if err := os.Chmod(filepath.Join(dst, "a/x"), 0o600); err != nil {
		t.Fatal(err)
	}
	have, _ = Snapshot(dst, SkipGit)
	if got := Diff(want, have); !slices.Contains(got, "a/x") {
		t.Errorf("Diff = %q misses a changed mode", got)
	}
}

func TestTracker(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, src, "a/x", "x1")
	write(t, src, "b/y", "y")
	write(t, dst, "a/x", "x0")
	write(t, dst, "c/old", "o")
	want, err := Snapshot(src, SkipGit)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTracker(dst, want, SkipGit)
	if got, exp := tr.Pending(), []string{"a/x", "b", "b/y", "c", "c/old"}; !slices.Equal(got, exp) {
		t.Fatalf("Pending = %q, want %q", got, exp)
	}
	if tr.Poll() {
		t.Fatal("Poll: equal before any change")
	}
	write(t, dst, "a/x", "x1")
	write(t, dst, "b/y", "y")
	if tr.Poll() || !slices.Equal(tr.Pending(), []string{"c", "c/old"}) {
		t.Fatalf("Poll: pending %q, want c and c/old", tr.Pending())
	}
	// Something appears outside the pending paths: the confirming walk
	// finds it.
	write(t, dst, "a/.tmp", "t")
	if err := os.RemoveAll(filepath.Join(dst, "c")); err != nil {
		t.Fatal(err)
	}
	if tr.Poll() || !slices.Equal(tr.Pending(), []string{"a/.tmp"}) {
		t.Fatalf("Poll: pending %q, want a/.tmp", tr.Pending())
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		os.Remove(filepath.Join(dst, "a/.tmp"))
	}()
	start := time.Now()
	at, ok := tr.Wait(context.Background(), 5*time.Second, time.Millisecond)
	if !ok || at.Before(start.Add(20*time.Millisecond)) || at.After(start.Add(2*time.Second)) {
		t.Fatalf("Wait = %v after start, %v", at.Sub(start), ok)
	}
	if _, ok := NewTracker(filepath.Join(dst, "missing"), want, nil).Wait(context.Background(), 20*time.Millisecond, time.Millisecond); ok {
		t.Error("a missing copy converged")
	}
}

func TestWaiter(t *testing.T) {
	w, err := NewWaiter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	src, dst := t.TempDir(), t.TempDir()
	ctx := context.Background()
	// The "replicator": copies src/f to dst/f 30 ms after the change, as
	// a temporary file renamed into place.
	replicate := func() {
		time.Sleep(30 * time.Millisecond)
		b, _ := os.ReadFile(filepath.Join(src, "f"))
		os.WriteFile(filepath.Join(dst, ".f.tmp"), b, 0o644)
		os.Rename(filepath.Join(dst, ".f.tmp"), filepath.Join(dst, "f"))
	}
	r, err := w.Do(ctx, filepath.Join(dst, "f"), []byte("token 1"), 5*time.Second, func() error {
		go replicate()
		return os.WriteFile(filepath.Join(src, "f"), []byte("token 1"), 0o644)
	})
	if err != nil || !r.OK || !r.Watched {
		t.Fatalf("Do = %+v, %v", r, err)
	}
	if l := r.Latency(); l < 30*time.Millisecond || l > 2*time.Second {
		t.Errorf("latency %v, want about 30 ms", l)
	}
	// Never arrives.
	r, err = w.Do(ctx, filepath.Join(dst, "f"), []byte("token 2"), 50*time.Millisecond, func() error { return nil })
	if err != nil || r.OK {
		t.Errorf("Do of a change that never arrives = %+v, %v", r, err)
	}
	// A directory the copy lacks: polled.
	r, err = w.Do(ctx, filepath.Join(dst, "sub", "g"), []byte("g"), 5*time.Second, func() error {
		go func() {
			time.Sleep(10 * time.Millisecond)
			os.Mkdir(filepath.Join(dst, "sub"), 0o755)
			os.WriteFile(filepath.Join(dst, "sub", "g"), []byte("g"), 0o644)
		}()
		return nil
	})
	if err != nil || !r.OK || r.Watched {
		t.Errorf("Do in a missing directory = %+v, %v", r, err)
	}
}
