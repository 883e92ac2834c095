package transfer

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// treeState maps every path under root to what a user sees of it.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b) + " " + fi.ModTime().String()
		case fi.IsDir() && rel != ".":
			desc += " " + fi.ModTime().String()
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameState(t *testing.T, a, b map[string]string) {
	t.Helper()
	for p, x := range a {
		if y, ok := b[p]; !ok {
			t.Errorf("%s: missing from the destination", p)
		} else if x != y {
			t.Errorf("%s: %q at the source, %q at the destination", p, x, y)
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			t.Errorf("%s: only at the destination", p)
		}
	}
}

func TestSyncPathsAppliesChanges(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "keep"), "keep")
	write(t, filepath.Join(src, "edit"), "old")
	write(t, filepath.Join(src, "gone"), "gone")
	write(t, filepath.Join(src, "moved"), "moved content")
	write(t, filepath.Join(src, "dir", "a"), "a")
	write(t, filepath.Join(src, "dir", "sub", "b"), "b")
	ctx := context.Background()
	if _, err := Run(ctx, open(t, dst), []Job{{Src: open(t, src), SrcRel: ".", DestRel: "."}}, Options{}); err != nil {
		t.Fatal(err)
	}

	write(t, filepath.Join(src, "edit"), "new content")
	must(t, os.Remove(filepath.Join(src, "gone")))
	must(t, os.Rename(filepath.Join(src, "moved"), filepath.Join(src, "moved-to")))
	must(t, os.Rename(filepath.Join(src, "dir"), filepath.Join(src, "renamed-dir")))
	write(t, filepath.Join(src, "renamed-dir", "sub", "b"), "b changed after the move")
	write(t, filepath.Join(src, "new", "deep", "f"), "new file")
	must(t, os.Symlink("keep", filepath.Join(src, "link")))
	must(t, os.Chmod(filepath.Join(src, "keep"), 0o600))
	big := bytes.Repeat([]byte("0123456789"), 200_000)
	must(t, os.WriteFile(filepath.Join(src, "big"), big, 0o644))

	changes := []Change{
		{Path: "edit"}, {Path: "gone"},
		{Path: "moved-to", From: "moved"},
		{Path: "renamed-dir", From: "dir"}, {Path: "renamed-dir/sub/b"},
		{Path: "new"}, {Path: "new/deep"}, {Path: "new/deep/f"},
		{Path: "link"}, {Path: "keep"}, {Path: "big"},
	}
	var rec recorder
	st, err := SyncPaths(ctx, open(t, src), open(t, dst), changes, Options{OnEvent: rec.add})
	if err != nil {
		t.Fatalf("SyncPaths: %v (%v)", err, rec.errs())
	}
	sameState(t, treeState(t, src), treeState(t, dst))
	// The moves cost no data: only the changed and new files were sent.
	want := int64(len("new content") + len("b changed after the move") + len("new file") + len(big) + len("keep"))
	if st.Bytes > want {
		t.Errorf("sent %d bytes, want at most %d (renames must not resend data)", st.Bytes, want)
	}

	// A rename the destination cannot do (its source is missing there)
	// falls back to a copy.
	write(t, filepath.Join(src, "late"), "late")
	if _, err := SyncPaths(ctx, open(t, src), open(t, dst), []Change{{Path: "late", From: "never-synced"}}, Options{}); err != nil {
		t.Fatal(err)
	}
	sameState(t, treeState(t, src), treeState(t, dst))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
