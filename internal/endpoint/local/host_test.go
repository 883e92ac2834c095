package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// hostTree makes a small tree for the Host tests, sets HOME to it and
// makes it the working directory, and returns its resolved path.
func hostTree(t *testing.T) string {
	t.Helper()
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "file"), "f", 0o644)
	writeFile(t, filepath.Join(dir, "b.txt"), "b", 0o644)
	writeFile(t, filepath.Join(dir, "a.txt"), "a", 0o644)
	mkdir(t, filepath.Join(dir, "dir", "sub"))
	symlink(t, "dir", filepath.Join(dir, "dirlink"))
	symlink(t, "nowhere", filepath.Join(dir, "dangling"))
	t.Setenv("HOME", dir)
	t.Chdir(dir)
	return dir
}

func TestHostStat(t *testing.T) {
	dir := hostTree(t)
	h := NewHost()
	defer h.Close()
	tests := []struct {
		name string
		path string
		want wire.StatResp
	}{
		{name: "absolute file", path: filepath.Join(dir, "file"), want: wire.StatResp{Abs: filepath.Join(dir, "file"), Exists: true, Type: wire.TypeFile}},
		{name: "relative dir", path: "dir", want: wire.StatResp{Abs: filepath.Join(dir, "dir"), Exists: true, Type: wire.TypeDir}},
		{name: "unclean", path: "./dir//sub/", want: wire.StatResp{Abs: filepath.Join(dir, "dir", "sub"), Exists: true, Type: wire.TypeDir}},
		{name: "symlink followed", path: "dirlink", want: wire.StatResp{Abs: filepath.Join(dir, "dirlink"), Exists: true, Type: wire.TypeDir}},
		{name: "home", path: "~", want: wire.StatResp{Abs: dir, Exists: true, Type: wire.TypeDir}},
		{name: "in home", path: "~/file", want: wire.StatResp{Abs: filepath.Join(dir, "file"), Exists: true, Type: wire.TypeFile}},
		{name: "tilde name", path: "~file", want: wire.StatResp{Abs: filepath.Join(dir, "~file")}},
		{name: "missing", path: "nope", want: wire.StatResp{Abs: filepath.Join(dir, "nope")}},
		{name: "dangling symlink", path: "dangling", want: wire.StatResp{Abs: filepath.Join(dir, "dangling")}},
		{name: "below a file", path: "file/x", want: wire.StatResp{Abs: filepath.Join(dir, "file", "x")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Stat(t.Context(), tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Stat(%q) = %+v, want %+v", tt.path, got, tt.want)
			}
		})
	}
	for _, p := range []string{"", "a\x00b"} {
		if _, err := h.Stat(t.Context(), p); !errors.Is(err, endpoint.ErrInvalidPath) {
			t.Errorf("Stat(%q) = %v, want %v", p, err, endpoint.ErrInvalidPath)
		}
	}
}

func TestHostGlob(t *testing.T) {
	dir := hostTree(t)
	h := NewHost()
	defer h.Close()
	tests := []struct {
		name    string
		pattern string
		want    []string
		wantErr error
	}{
		{name: "relative", pattern: "*.txt", want: []string{filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")}},
		{name: "absolute", pattern: filepath.Join(dir, "?.txt"), want: []string{filepath.Join(dir, "a.txt"), filepath.Join(dir, "b.txt")}},
		{name: "home", pattern: "~/d*", want: []string{filepath.Join(dir, "dangling"), filepath.Join(dir, "dir"), filepath.Join(dir, "dirlink")}},
		{name: "through symlink", pattern: "dirlink/*", want: []string{filepath.Join(dir, "dirlink", "sub")}},
		{name: "literal", pattern: "file", want: []string{filepath.Join(dir, "file")}},
		{name: "no match", pattern: "*.go", want: nil},
		{name: "bad pattern", pattern: "[", wantErr: filepath.ErrBadPattern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Glob(t.Context(), tt.pattern)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, endpoint.ErrInvalidPath) {
					t.Errorf("Glob(%q) = %v, want %v", tt.pattern, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Glob(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestHostOpen(t *testing.T) {
	dir := hostTree(t)
	tests := []struct {
		name    string
		path    string
		create  bool
		wantErr error
		made    string // directory Open must have created
	}{
		{name: "existing", path: "dir"},
		{name: "symlink to directory", path: "dirlink"},
		{name: "home", path: "~"},
		{name: "create", path: "new", create: true, made: "new"},
		{name: "create existing", path: "dir/sub", create: true},
		{name: "create through symlink", path: "dirlink/made", create: true, made: "dir/made"},
		{name: "missing", path: "nope", wantErr: fs.ErrNotExist},
		{name: "create missing parent", path: "nope/new", create: true, wantErr: fs.ErrNotExist},
		{name: "file", path: "file", wantErr: syscall.ENOTDIR},
		{name: "file with create", path: "file", create: true, wantErr: syscall.ENOTDIR},
		{name: "dangling symlink", path: "dangling", wantErr: fs.ErrNotExist},
		{name: "empty", path: "", wantErr: endpoint.ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHost()
			defer h.Close()
			e, err := h.Open(t.Context(), tt.path, tt.create)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Open(%q, %v) = %v, want %v", tt.path, tt.create, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.made != "" {
				if fi, err := os.Lstat(filepath.Join(dir, tt.made)); err != nil || !fi.IsDir() {
					t.Errorf("%q not created: %v", tt.made, err)
				}
			}
			err = e.Scan(t.Context(), ".", endpoint.ScanOptions{}, func(ent *wire.Entry) error {
				if ent.Path == "." && ent.Type != wire.TypeDir {
					t.Errorf("root is %v", ent.Type)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

func TestHostClose(t *testing.T) {
	hostTree(t)
	h := NewHost()
	ctx := t.Context()
	a, err := h.Open(ctx, "dir", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Open(ctx, "dir/sub", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	err = a.Scan(ctx, ".", endpoint.ScanOptions{}, func(*wire.Entry) error { return nil })
	if !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Scan after Host.Close = %v, want %v", err, endpoint.ErrClosed)
	}
	if _, err := h.Open(ctx, "dir", false); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("Open after Host.Close = %v, want %v", err, endpoint.ErrClosed)
	}
}
