package shell

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// applyCase is one Apply call on a destination that setup prepared.
type applyCase struct {
	name  string
	setup func(t *testing.T, dir, outside string)
	ops   []wire.Op
	want  []error // per op: nil, or what its error must match
	check func(t *testing.T, dir, outside string, kind shellKind)
}

var applyCases = []applyCase{
	{
		name: "mkdir new, nested in one run",
		ops:  []wire.Op{mkdirOp("a", 0o750), mkdirOp("a/b", 0o750), mkdirOp("a/b/c\n$(touch pwned)", 0o750), mkdirOp(".", 0o755)},
		want: []error{nil, nil, nil, nil},
		check: func(t *testing.T, dir, _ string, _ shellKind) {
			checkMode(t, filepath.Join(dir, "a/b/c\n$(touch pwned)"), fs.ModeDir|0o750)
		},
	},
	{
		name: "mkdir keeps a directory, replaces a file and a symlink",
		setup: func(t *testing.T, dir, outside string) {
			mkdirAll(t, dir, "keep", 0o711)
			writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
			symlink(t, outside, filepath.Join(dir, "link"))
		},
		ops:  []wire.Op{mkdirOp("keep", 0o755), mkdirOp("file", 0o755), mkdirOp("link", 0o755)},
		want: []error{nil, nil, nil},
		check: func(t *testing.T, dir, outside string, _ shellKind) {
			checkMode(t, filepath.Join(dir, "keep"), fs.ModeDir|0o711)
			checkMode(t, filepath.Join(dir, "file"), fs.ModeDir|0o755)
			checkMode(t, filepath.Join(dir, "link"), fs.ModeDir|0o755)
			checkEmpty(t, outside)
		},
	},
	{
		name: "mkdir refuses a missing parent, a symlink and a file on the way",
		setup: func(t *testing.T, dir, outside string) {
			symlink(t, outside, filepath.Join(dir, "link"))
			writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
		},
		ops:   []wire.Op{mkdirOp("missing/a", 0o755), mkdirOp("link/a", 0o755), mkdirOp("file/a", 0o755)},
		want:  []error{fs.ErrNotExist, endpoint.ErrInvalidPath, endpoint.ErrInvalidPath},
		check: func(t *testing.T, _, outside string, _ shellKind) { checkEmpty(t, outside) },
	},
	{
		name: "symlink new, over a file, over a directory",
		setup: func(t *testing.T, dir, _ string) {
			writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
			writeFile(t, filepath.Join(dir, "dir", "f"), "x", 0o644)
		},
		ops: []wire.Op{
			{Kind: wire.OpSymlink, Path: "new", Target: "t\narget $(touch pwned) `x` 'q'"},
			{Kind: wire.OpSymlink, Path: "file", Target: "/abs"},
			{Kind: wire.OpSymlink, Path: "dir", Target: "-rel"},
		},
		want: []error{nil, nil, nil},
		check: func(t *testing.T, dir, _ string, _ shellKind) {
			checkLink(t, filepath.Join(dir, "new"), "t\narget $(touch pwned) `x` 'q'")
			checkLink(t, filepath.Join(dir, "file"), "/abs")
			checkLink(t, filepath.Join(dir, "dir"), "-rel")
		},
	},
	{
		name:  "symlink over a link to a directory is not followed",
		setup: func(t *testing.T, dir, outside string) { symlink(t, outside, filepath.Join(dir, "link")) },
		ops:   []wire.Op{{Kind: wire.OpSymlink, Path: "link", Target: "elsewhere"}, {Kind: wire.OpSymlink, Path: "link/x", Target: "y"}},
		want:  []error{nil, endpoint.ErrInvalidPath},
		check: func(t *testing.T, dir, outside string, _ shellKind) {
			checkLink(t, filepath.Join(dir, "link"), "elsewhere")
			checkEmpty(t, outside)
		},
	},
	{
		name: "symlink refuses the root and an empty target",
		ops:  []wire.Op{{Kind: wire.OpSymlink, Path: ".", Target: "x"}, {Kind: wire.OpSymlink, Path: "a", Target: ""}},
		want: []error{endpoint.ErrInvalidPath, endpoint.ErrInvalidPath},
	},
	{
		name: "remove",
		setup: func(t *testing.T, dir, outside string) {
			writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
			writeFile(t, filepath.Join(dir, "dir", "sub", "f"), "x", 0o644)
			writeFile(t, filepath.Join(outside, "keep"), "x", 0o644)
			symlink(t, outside, filepath.Join(dir, "link"))
		},
		ops: []wire.Op{
			{Kind: wire.OpRemove, Path: "file"}, {Kind: wire.OpRemove, Path: "dir"}, {Kind: wire.OpRemove, Path: "link"},
			{Kind: wire.OpRemove, Path: "missing"}, {Kind: wire.OpRemove, Path: "missing/deeper"}, {Kind: wire.OpRemove, Path: "."},
		},
		want: []error{nil, nil, nil, nil, nil, endpoint.ErrInvalidPath},
		check: func(t *testing.T, dir, outside string, _ shellKind) {
			checkGone(t, filepath.Join(dir, "file"))
			checkGone(t, filepath.Join(dir, "dir"))
			checkGone(t, filepath.Join(dir, "link"))
			readFile(t, filepath.Join(outside, "keep"))
		},
	},
	{
		name: "remove through a symlink is refused",
		setup: func(t *testing.T, dir, outside string) {
			writeFile(t, filepath.Join(outside, "keep"), "x", 0o644)
			symlink(t, outside, filepath.Join(dir, "link"))
		},
		ops:   []wire.Op{{Kind: wire.OpRemove, Path: "link/keep"}},
		want:  []error{endpoint.ErrInvalidPath},
		check: func(t *testing.T, _, outside string, _ shellKind) { readFile(t, filepath.Join(outside, "keep")) },
	},
	{
		name: "setmeta of directories, files, symlinks, the root",
		setup: func(t *testing.T, dir, outside string) {
			writeFile(t, filepath.Join(dir, "d1", "f"), "x", 0o644)
			mkdirAll(t, dir, "d2", 0o755)
			writeFile(t, filepath.Join(dir, "file"), "x", 0o644)
			symlink(t, outside, filepath.Join(dir, "link"))
		},
		ops: []wire.Op{
			metaOp("d1", 0o750, 1), metaOp("file", 0o600, 2), metaOp("d2", 0o2755, 3), metaOp("link", 0o600, 4),
			metaOp(".", 0o751, 5), metaOp("missing", 0o644, 6), metaOp("file/x", 0o644, 7),
		},
		want: []error{nil, nil, nil, nil, nil, fs.ErrNotExist, endpoint.ErrInvalidPath},
		check: func(t *testing.T, dir, outside string, kind shellKind) {
			checkMeta(t, kind, filepath.Join(dir, "d1"), fs.ModeDir|0o750, 1)
			checkMeta(t, kind, filepath.Join(dir, "file"), 0o600, 2)
			checkMeta(t, kind, filepath.Join(dir, "d2"), fs.ModeDir|fs.ModeSetgid|0o755, 3)
			checkMeta(t, kind, dir, fs.ModeDir|0o751, 5)
			checkMode(t, outside, fs.ModeDir|0o755)
		},
	},
	{
		name: "rename",
		setup: func(t *testing.T, dir, _ string) {
			for _, f := range []string{"a", "b", "c", "file"} {
				writeFile(t, filepath.Join(dir, f), f, 0o644)
			}
			writeFile(t, filepath.Join(dir, "dir", "sub", "f"), "x", 0o644)
		},
		ops: []wire.Op{
			renameOp("a", "new\nname"), renameOp("b", "file"), renameOp("c", "dir"),
			renameOp("missing", "x"), renameOp("dir", "dir/sub"), renameOp("file", "."),
		},
		want: []error{nil, nil, nil, fs.ErrNotExist, endpoint.ErrInvalidPath, endpoint.ErrInvalidPath},
		check: func(t *testing.T, dir, _ string, _ shellKind) {
			if got := readFile(t, filepath.Join(dir, "new\nname")); got != "a" {
				t.Errorf("new name holds %q", got)
			}
			if got := readFile(t, filepath.Join(dir, "file")); got != "b" {
				t.Errorf("file holds %q", got)
			}
			if got := readFile(t, filepath.Join(dir, "dir")); got != "c" {
				t.Errorf("dir holds %q", got)
			}
			checkGone(t, filepath.Join(dir, "a"))
		},
	},
	{
		name: "bad ops",
		ops:  []wire.Op{{Kind: 99, Path: "a"}, mkdirOp("../a", 0o755), mkdirOp("/abs", 0o755), mkdirOp("a\x00b", 0o755), renameOp("../x", "y")},
		want: []error{endpoint.ErrInvalidPath, endpoint.ErrInvalidPath, endpoint.ErrInvalidPath, endpoint.ErrInvalidPath, endpoint.ErrInvalidPath},
	},
}

func TestApply(t *testing.T) {
	forShells(t, func(t *testing.T, kind shellKind) {
		for _, tc := range applyCases {
			t.Run(tc.name, func(t *testing.T) {
				base := t.TempDir()
				dir, outside := filepath.Join(base, "dst"), filepath.Join(base, "outside")
				mkdirAll(t, base, "dst", 0o755)
				mkdirAll(t, base, "outside", 0o755)
				if tc.setup != nil {
					tc.setup(t, dir, outside)
				}
				ep, p := openShell(t, kind, dir, Options{})
				errs, err := ep.Apply(context.Background(), tc.ops)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range tc.want {
					switch {
					case want == nil && errs[i] != nil:
						t.Errorf("op %d (%v %q): %v", i, tc.ops[i].Kind, tc.ops[i].Path, errs[i])
					case want != nil && !errors.Is(errs[i], want):
						t.Errorf("op %d (%v %q): %v, want %v", i, tc.ops[i].Kind, tc.ops[i].Path, errs[i], want)
					}
				}
				if tc.check != nil {
					tc.check(t, dir, outside, kind)
				}
				ep.Close()
				checkNoLeftovers(t, dir)
				checkNoPwned(t, base, p.cmd.Dir)
			})
		}
	})
}

func mkdirOp(p string, mode uint32) wire.Op { return wire.Op{Kind: wire.OpMkdir, Path: p, Mode: mode} }

func renameOp(from, to string) wire.Op {
	return wire.Op{Kind: wire.OpRename, Path: to, Target: from}
}

// metaOp sets mode and the mtime testMtime plus hours.
func metaOp(p string, mode uint32, hours int) wire.Op {
	return wire.Op{Kind: wire.OpSetMeta, Path: p, Mode: mode, Mtime: testMtime.Add(time.Duration(hours) * time.Hour).UnixNano()}
}

func mkdirAll(t *testing.T, dir, rel string, mode fs.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

func checkMode(t *testing.T, p string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Error(err)
		return
	}
	if fi.Mode() != want {
		t.Errorf("%q: mode %v, want %v", p, fi.Mode(), want)
	}
}

// checkMeta checks the mode of p and that its mtime is testMtime plus
// hours, to the precision of kind.
func checkMeta(t *testing.T, kind shellKind, p string, mode fs.FileMode, hours int) {
	t.Helper()
	checkMode(t, p, mode)
	fi, err := os.Lstat(p)
	if err != nil {
		return
	}
	want := testMtime.Add(time.Duration(hours) * time.Hour).Truncate(precision(kind))
	if !fi.ModTime().Equal(want) {
		t.Errorf("%q: mtime %v, want %v", p, fi.ModTime(), want)
	}
}

func checkLink(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.Readlink(p)
	if err != nil || got != want {
		t.Errorf("%q: link to %q (%v), want %q", p, got, err, want)
	}
}

func checkGone(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%q: still there (%v)", p, err)
	}
}

func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Errorf("%q: %v (%v), want it empty", dir, ents, err)
	}
}
