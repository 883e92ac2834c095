package shell

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint/local"
	"github.com/fcp-dev/fcp/internal/transfer"
)

// nastyNames are file names no byte of which the shell may interpret.
var nastyNames = []string{
	"plain",
	"with space",
	"new\nline",
	"trailing newline\n",
	"\nleading newline",
	"tab\there",
	"star*",
	"what?",
	"[abc]",
	"$(touch pwned)",
	"`touch pwned`",
	"${IFS}x",
	"semi;colon|pipe&amp>gt<lt",
	"quote'single",
	`quote"double`,
	`back\slash`,
	`\0101\n`,
	"-leading-dash",
	"--",
	"-",
	"%s%d%b",
	"bad\xff\xfe\x81utf8",
	"\x81\x82\x83\x88\x8a",
	"\x01\x02\x7f",
	"日本語 é ü",
	"FCPSH 0000000000000000 1 END 0",
	strings.Repeat("L", 255),
	".hidden",
	"~tilde",
}

// nastyDir returns the name of a directory named after name.
func nastyDir(name string) string {
	return "d " + name[:min(len(name), 250)]
}

// treeOptions shapes a test tree.
type treeOptions struct {
	mtime time.Time // base mtime of everything
}

// makeTree makes a source tree with every kind of entry under dir.
func makeTree(t *testing.T, dir string, o treeOptions) {
	t.Helper()
	mt := o.mtime
	for i, name := range nastyNames {
		writeFile(t, filepath.Join(dir, name), fmt.Sprintf("content of %q\n", name), 0o644)
		writeFile(t, filepath.Join(dir, nastyDir(name), name), strings.Repeat("x", i), 0o600)
	}
	writeFile(t, filepath.Join(dir, "empty"), "", 0o644)
	writeFile(t, filepath.Join(dir, "modes", "0600"), "a", 0o600)
	writeFile(t, filepath.Join(dir, "modes", "0755"), "b", 0o755)
	writeFile(t, filepath.Join(dir, "modes", "0444"), "c", 0o444)
	writeFile(t, filepath.Join(dir, "modes", "4755"), "d", 0o755|fs.ModeSetuid)
	writeFile(t, filepath.Join(dir, "big"), strings.Repeat("0123456789abcdef", 200_000), 0o644)
	for _, d := range []string{"emptydir", "deep/a/b/c/d", "ro/sub", "swap-d2f", "nasty dir $(touch pwned)/inner"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "ro", "sub", "file"), "in a read-only dir", 0o444)
	writeFile(t, filepath.Join(dir, "swap-d2f", "inner"), "goes away", 0o644)
	writeFile(t, filepath.Join(dir, "swap-f2d"), "becomes a dir", 0o644)
	for target, name := range map[string]string{
		"/etc/passwd":         "abs-link",
		"../modes/0600":       "deep/rel-link",
		"nowhere/at all":      "dangling-link",
		"target\nwith\nlines": "newline-link",
		"$(touch pwned)":      "pwned-link",
		"emptydir":            "dir-link",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	// Mtimes last, deepest first, then modes of directories.
	var dirs []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
		case d.IsDir():
			dirs = append(dirs, p)
		default:
			if err := os.Chtimes(p, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	slices.Reverse(dirs)
	for i, d := range dirs {
		if strings.HasSuffix(d, "ro") || strings.HasSuffix(d, "ro/sub") {
			if err := os.Chmod(d, 0o555); err != nil {
				t.Fatal(err)
			}
		}
		dt := mt.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(d, dt, dt); err != nil {
			t.Fatal(err)
		}
	}
}

// entryInfo is what is compared of one entry of a tree.
type entryInfo struct {
	mode   fs.FileMode
	mtime  time.Time // of files and directories
	data   string    // of files
	target string    // of symlinks
}

// readTree returns what is under dir, by path.
func readTree(t *testing.T, dir string) map[string]entryInfo {
	t.Helper()
	tree := map[string]entryInfo{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		info := entryInfo{mode: fi.Mode()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			info.target, err = os.Readlink(p)
		case fi.IsDir():
			info.mtime = fi.ModTime()
		default:
			info.mtime = fi.ModTime()
			var b []byte
			b, err = os.ReadFile(p)
			info.data = string(b)
		}
		tree[rel] = info
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// compareTrees fails unless dst has what src has, with mtimes equal to
// the precision prec.
func compareTrees(t *testing.T, src, dst string, prec time.Duration) {
	t.Helper()
	want, got := readTree(t, src), readTree(t, dst)
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("%q: missing", p)
		case g.mode != w.mode:
			t.Errorf("%q: mode %v, want %v", p, g.mode, w.mode)
		case g.data != w.data:
			t.Errorf("%q: %d bytes differ from the %d of the source", p, len(g.data), len(w.data))
		case g.target != w.target:
			t.Errorf("%q: target %q, want %q", p, g.target, w.target)
		case !g.mtime.Equal(w.mtime.Truncate(prec)):
			t.Errorf("%q: mtime %v, want %v", p, g.mtime, w.mtime)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%q: not in the source", p)
		}
	}
}

// checkNoPwned fails if a file named pwned is under any of dirs.
func checkNoPwned(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "pwned" {
				t.Errorf("a command in a file name ran: %q", p)
			}
			return nil
		})
	}
}

// precision is how much of an mtime survives through the shell of kind:
// GNU tar and touch keep nanoseconds, busybox seconds.
func precision(kind shellKind) time.Duration {
	if kind.name == "busybox" {
		return time.Second
	}
	return time.Nanosecond
}

func TestTransferNastyTree(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		for _, byStat := range []bool{false, true} {
			t.Run(fmt.Sprintf("scanByStat=%v", byStat), func(t *testing.T) {
				testTransferNastyTree(t, kind, byStat)
			})
		}
	})
}

func testTransferNastyTree(t *testing.T, kind shellKind, byStat bool) {
	ctx := context.Background()
	base := t.TempDir()
	src, dst := filepath.Join(base, "src"), filepath.Join(base, "dst")
	mt := testMtime
	if kind.name == "busybox" {
		mt = mt.Truncate(time.Second) // see precision
	}
	makeTree(t, src, treeOptions{mtime: mt})
	srcEp, err := local.Open(src, false)
	if err != nil {
		t.Fatal(err)
	}
	defer srcEp.Close()
	ep, p := openShell(t, kind, dst, Options{scanByStat: byStat})

	run := func() transfer.Stats {
		t.Helper()
		var errs []string
		st, err := transfer.Run(ctx, ep, []transfer.Job{{Src: srcEp, SrcRel: ".", DestRel: "."}}, transfer.Options{
			Delete: true,
			OnEvent: func(ev transfer.Event) {
				if ev.Err != nil {
					errs = append(errs, fmt.Sprintf("%q: %v", ev.Path, ev.Err))
				}
			},
		})
		if err != nil {
			t.Fatalf("transfer: %v\n%s", err, strings.Join(errs, "\n"))
		}
		return st
	}

	st := run()
	if st.Created == 0 {
		t.Fatalf("first run created nothing: %+v", st)
	}
	compareTrees(t, src, dst, precision(kind))

	if st := run(); st != (transfer.Stats{}) {
		t.Errorf("second run did something: %+v", st)
	}

	// A file replaces a directory and the other way round; extraneous
	// entries with nasty names go.
	os.RemoveAll(filepath.Join(src, "swap-d2f"))
	writeFile(t, filepath.Join(src, "swap-d2f"), "now a file", 0o644)
	os.Remove(filepath.Join(src, "swap-f2d"))
	writeFile(t, filepath.Join(src, "swap-f2d", "inner"), "now in a dir", 0o644)
	for _, name := range nastyNames[:8] {
		writeFile(t, filepath.Join(dst, "extra "+name), "extraneous", 0o644)
		writeFile(t, filepath.Join(dst, nastyDir(nastyNames[3]), "extra "+name), "extraneous", 0o644)
	}
	if err := os.MkdirAll(filepath.Join(dst, "extra dir\n$(touch pwned)", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{src, filepath.Join(src, "swap-f2d")} {
		if err := os.Chtimes(d, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"swap-d2f", "swap-f2d/inner"} {
		if err := os.Chtimes(filepath.Join(src, f), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	st = run()
	if st.Deleted != 17 || st.Created+st.Updated != 3 {
		t.Errorf("third run: %+v", st)
	}
	compareTrees(t, src, dst, precision(kind))
	if st := run(); st != (transfer.Stats{}) {
		t.Errorf("fourth run did something: %+v", st)
	}

	if err := ep.Close(); err != nil {
		t.Fatal(err)
	}
	checkNoLeftovers(t, dst)
	checkNoPwned(t, base, p.cmd.Dir)
}

// TestTransferOverSymlink checks that a symlink in the destination where
// the source has a directory is replaced, not followed.
func TestTransferOverSymlink(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		ctx := context.Background()
		base := t.TempDir()
		src, dst, outside := filepath.Join(base, "src"), filepath.Join(base, "dst"), filepath.Join(base, "outside")
		writeFile(t, filepath.Join(src, "d", "f"), "data", 0o644)
		writeFile(t, filepath.Join(src, "l"), "a file where a link to a directory is", 0o644)
		if err := os.MkdirAll(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"d", "l"} {
			if err := os.Symlink(outside, filepath.Join(dst, name)); err != nil {
				t.Fatal(err)
			}
		}
		srcEp, err := local.Open(src, false)
		if err != nil {
			t.Fatal(err)
		}
		defer srcEp.Close()
		ep, _ := openShell(t, kind, dst, Options{})
		if _, err := transfer.Run(ctx, ep, []transfer.Job{{Src: srcEp, SrcRel: ".", DestRel: "."}}, transfer.Options{}); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, filepath.Join(dst, "d", "f")); got != "data" {
			t.Errorf("d/f = %q", got)
		}
		if fi, err := os.Lstat(filepath.Join(dst, "l")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("l: %v, %v", fi, err)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Errorf("written through a symlink: %v", ents)
		}
	})
}
