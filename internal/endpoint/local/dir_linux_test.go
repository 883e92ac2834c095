package local

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// openDirTest returns the dir of a new directory holding a/b/c, the file
// f and the symlink l to f.
func openDirTest(t *testing.T) (dir, string) {
	t.Helper()
	top := t.TempDir()
	mkdir(t, filepath.Join(top, "a", "b", "c"))
	writeFile(t, filepath.Join(top, "f"), "f", 0o644)
	symlink(t, "f", filepath.Join(top, "l"))
	d, err := openRootDir(top)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.close() })
	return d, top
}

// TestWalk covers the way directories open without openat2.
func TestWalk(t *testing.T) {
	d, _ := openDirTest(t)
	for _, rel := range []string{"a", "a/b/c"} {
		sub, err := d.walk(rel)
		if err != nil {
			t.Fatalf("walk(%q): %v", rel, err)
		}
		if m, err := sub.lstat("."); err != nil || !m.IsDir() {
			t.Errorf("walk(%q) opened %v, %v", rel, m, err)
		}
		sub.close()
	}
}

// TestChmodProc covers chmod without fchmodat2 (before Linux 6.6).
func TestChmodProc(t *testing.T) {
	d, top := openDirTest(t)
	if err := d.chmodProc("f", 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(top, "f")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("f after chmod: %v, %v", fi.Mode(), err)
	}
	if err := d.chmodProc("l", 0o777); !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("chmod of a symlink = %v, want %v", err, unix.EOPNOTSUPP)
	}
	if fi, err := os.Stat(filepath.Join(top, "l")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("symlink target after chmod of the link: %v, %v", fi.Mode(), err)
	}
}
