package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

func TestApply(t *testing.T) {
	e, dir := openTest(t)
	writeFile(t, filepath.Join(dir, "f"), "file", 0o644)
	writeFile(t, filepath.Join(dir, "dd", "inner", "x"), "x", 0o644)
	writeFile(t, filepath.Join(dir, "meta"), "m", 0o644)
	mtime := testMtime.UnixNano()

	steps := []struct {
		name    string
		op      wire.Op
		wantErr error // nil: success
	}{
		{"mkdir", wire.Op{Kind: wire.OpMkdir, Path: "d", Mode: 0o755}, nil},
		{"mkdir existing", wire.Op{Kind: wire.OpMkdir, Path: "d", Mode: 0o700}, nil},
		{"mkdir in dir made before", wire.Op{Kind: wire.OpMkdir, Path: "d/e", Mode: 0o500}, nil},
		{"mkdir missing parent", wire.Op{Kind: wire.OpMkdir, Path: "missing/e", Mode: 0o755}, fs.ErrNotExist},
		{"mkdir replaces file", wire.Op{Kind: wire.OpMkdir, Path: "f", Mode: 0o755}, nil},
		{"mkdir root", wire.Op{Kind: wire.OpMkdir, Path: ".", Mode: 0o755}, nil},
		{"symlink", wire.Op{Kind: wire.OpSymlink, Path: "d/l", Target: "../f"}, nil},
		{"symlink replaces symlink", wire.Op{Kind: wire.OpSymlink, Path: "d/l", Target: "other\nname"}, nil},
		{"symlink replaces directory", wire.Op{Kind: wire.OpSymlink, Path: "dd", Target: "/absolute/target"}, nil},
		{"symlink root", wire.Op{Kind: wire.OpSymlink, Path: ".", Target: "x"}, endpoint.ErrInvalidPath},
		{"remove missing", wire.Op{Kind: wire.OpRemove, Path: "nothing"}, nil},
		{"remove missing parent", wire.Op{Kind: wire.OpRemove, Path: "missing/x"}, nil},
		{"remove root", wire.Op{Kind: wire.OpRemove, Path: "."}, endpoint.ErrInvalidPath},
		{"setmeta file", wire.Op{Kind: wire.OpSetMeta, Path: "meta", Mode: 0o2751, Mtime: mtime}, nil},
		{"setmeta dir", wire.Op{Kind: wire.OpSetMeta, Path: "d", Mode: 0o750, Mtime: mtime}, nil},
		{"setmeta symlink", wire.Op{Kind: wire.OpSetMeta, Path: "d/l", Mode: 0o600, Mtime: mtime}, nil},
		{"setmeta missing", wire.Op{Kind: wire.OpSetMeta, Path: "nope", Mode: 0o644}, fs.ErrNotExist},
		{"unknown kind", wire.Op{Kind: 99, Path: "d"}, endpoint.ErrInvalidPath},
		{"invalid path", wire.Op{Kind: wire.OpMkdir, Path: "../x"}, endpoint.ErrInvalidPath},
		{"after failures", wire.Op{Kind: wire.OpMkdir, Path: "last", Mode: 0o755}, nil},
	}
	ops := make([]wire.Op, len(steps))
	for i, s := range steps {
		ops[i] = s.op
	}
	errs, err := e.Apply(t.Context(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(ops) {
		t.Fatalf("%d results for %d ops", len(errs), len(ops))
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.wantErr == nil && errs[i] != nil || s.wantErr != nil && !errors.Is(errs[i], s.wantErr) {
				t.Errorf("op %d %+v: %v, want %v", i, s.op, errs[i], s.wantErr)
			}
		})
	}

	checks := []struct {
		name   string
		path   string
		mode   fs.FileMode // type and permission bits
		target string      // symlinks
		mtime  bool        // mtime must be testMtime
	}{
		{name: "new dir gets mode and mtime", path: "d", mode: fs.ModeDir | 0o750, mtime: true},
		{name: "new dir writable by owner", path: "d/e", mode: fs.ModeDir | 0o700},
		{name: "file replaced by dir", path: "f", mode: fs.ModeDir | 0o755},
		{name: "symlink replaced", path: "d/l", mode: fs.ModeSymlink | 0o777, target: "other\nname", mtime: runtime.GOOS == "linux"},
		{name: "dir replaced by symlink", path: "dd", mode: fs.ModeSymlink | 0o777, target: "/absolute/target"},
		{name: "file meta", path: "meta", mode: fs.ModeSetgid | 0o751, mtime: true},
		{name: "op after failures", path: "last", mode: fs.ModeDir | 0o755},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			fi, err := os.Lstat(filepath.Join(dir, c.path))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != c.mode {
				t.Errorf("%q: mode %v, want %v", c.path, fi.Mode(), c.mode)
			}
			if c.target != "" {
				if got, _ := os.Readlink(filepath.Join(dir, c.path)); got != c.target {
					t.Errorf("%q -> %q, want %q", c.path, got, c.target)
				}
			}
			if c.mtime && !fi.ModTime().Equal(testMtime) {
				t.Errorf("%q: mtime %v, want %v", c.path, fi.ModTime(), testMtime)
			}
		})
	}
	if _, err := os.Lstat(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing parent was created")
	}
	checkNoTemps(t, dir)
}

func TestApplyCanceled(t *testing.T) {
	e, dir := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ops := []wire.Op{
		{Kind: wire.OpMkdir, Path: "a", Mode: 0o755},
		{Kind: wire.OpSymlink, Path: "b", Target: "a"},
		{Kind: wire.OpRemove, Path: "c"},
	}
	errs, err := e.Apply(ctx, ops)
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("op %d: %v, want %v", i, err, context.Canceled)
		}
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("canceled Apply made %q", names)
	}
}

func TestClosedEndpoint(t *testing.T) {
	e, _ := openTest(t)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ctx := t.Context()
	if _, err := e.Read(ctx, "f", 0, 1); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Read after Close = %v", err)
	}
	if _, err := e.Create(ctx, "f", 0); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Create after Close = %v", err)
	}
	if err := applyOne(ctx, e, wire.Op{Kind: wire.OpMkdir, Path: "d"}); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Apply after Close = %v", err)
	}
	err := e.Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error { return nil })
	if !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Scan after Close = %v", err)
	}
}
