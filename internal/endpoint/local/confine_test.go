package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// applyOne applies op alone and returns its error.
func applyOne(ctx context.Context, e endpoint.Endpoint, op wire.Op) error {
	errs, err := e.Apply(ctx, []wire.Op{op})
	if err != nil {
		return err
	}
	return errs[0]
}

func TestInvalidPaths(t *testing.T) {
	e, dir := openTest(t)
	writeFile(t, filepath.Join(dir, "a", "x"), "x", 0o644)
	ops := []struct {
		name string
		do   func(ctx context.Context, rel string) error
	}{
		{"scan", func(ctx context.Context, rel string) error {
			return e.Scan(ctx, rel, endpoint.ScanOptions{}, func(*wire.Entry) error { return nil })
		}},
		{"read", func(ctx context.Context, rel string) error {
			_, err := e.Read(ctx, rel, 0, 1)
			return err
		}},
		{"create", func(ctx context.Context, rel string) error {
			w, err := e.Create(ctx, rel, 0)
			if err == nil {
				w.Abort()
			}
			return err
		}},
		{"mkdir", func(ctx context.Context, rel string) error {
			return applyOne(ctx, e, wire.Op{Kind: wire.OpMkdir, Path: rel, Mode: 0o755})
		}},
		{"symlink", func(ctx context.Context, rel string) error {
			return applyOne(ctx, e, wire.Op{Kind: wire.OpSymlink, Path: rel, Target: "x"})
		}},
		{"remove", func(ctx context.Context, rel string) error {
			return applyOne(ctx, e, wire.Op{Kind: wire.OpRemove, Path: rel})
		}},
		{"setmeta", func(ctx context.Context, rel string) error {
			return applyOne(ctx, e, wire.Op{Kind: wire.OpSetMeta, Path: rel, Mode: 0o777})
		}},
	}
	paths := []string{"", "..", "../x", "/etc/x", "/", "a/../../x", "a/..", "./a", "a/./x", "a//x", "a/", "a\x00b"}
	for _, op := range ops {
		for _, p := range paths {
			t.Run(op.name+"/"+p, func(t *testing.T) {
				if err := op.do(t.Context(), p); !errors.Is(err, endpoint.ErrInvalidPath) {
					t.Errorf("%s %q = %v, want %v", op.name, p, err, endpoint.ErrInvalidPath)
				}
			})
		}
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"a"}) {
		t.Errorf("root holds %q, want only %q", got, "a")
	}
	if got := listDir(t, filepath.Join(dir, "a")); !slices.Equal(got, []string{"x"}) {
		t.Errorf("a holds %q, want only %q", got, "x")
	}
}

func TestSymlinkEscape(t *testing.T) {
	tests := []struct {
		name    string
		do      func(ctx context.Context, e endpoint.Endpoint) error
		wantErr error
		check   func(t *testing.T, dir string)
	}{
		{
			name:    "create through symlink",
			do:      func(ctx context.Context, e endpoint.Endpoint) error { return put(e, "sub/x", "x", 0o644, testMtime) },
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "create through nested symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return put(e, "real/link/x", "x", 0o644, testMtime)
			},
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "create through symlink to a directory inside",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return put(e, "inner/x", "x", 0o644, testMtime)
			},
			wantErr: endpoint.ErrInvalidPath,
			check: func(t *testing.T, dir string) {
				if got := listDir(t, filepath.Join(dir, "real")); !slices.Equal(got, []string{"link"}) {
					t.Errorf("real holds %q", got)
				}
			},
		},
		{
			name: "mkdir through symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpMkdir, Path: "sub/d", Mode: 0o755})
			},
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "symlink through symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpSymlink, Path: "sub/l", Target: "y"})
			},
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "remove through symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpRemove, Path: "sub/y"})
			},
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "setmeta through symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpSetMeta, Path: "sub/y", Mode: 0o777})
			},
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "setmeta of symlink leaves target alone",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpSetMeta, Path: "sub", Mode: 0o777, Mtime: testMtime.UnixNano()})
			},
		},
		{
			name: "mkdir replaces symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				if err := applyOne(ctx, e, wire.Op{Kind: wire.OpMkdir, Path: "sub", Mode: 0o755}); err != nil {
					return err
				}
				return put(e, "sub/x", "inside", 0o644, testMtime)
			},
			check: func(t *testing.T, dir string) {
				if got := readFile(t, filepath.Join(dir, "sub", "x")); got != "inside" {
					t.Errorf("sub/x = %q", got)
				}
			},
		},
		{
			name: "symlink replaces symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpSymlink, Path: "sub", Target: "real"})
			},
			check: func(t *testing.T, dir string) {
				if got, err := os.Readlink(filepath.Join(dir, "sub")); got != "real" {
					t.Errorf("sub -> %q (%v), want real", got, err)
				}
			},
		},
		{
			name: "file replaces symlink",
			do:   func(ctx context.Context, e endpoint.Endpoint) error { return put(e, "sub", "file", 0o644, testMtime) },
			check: func(t *testing.T, dir string) {
				if got := readFile(t, filepath.Join(dir, "sub")); got != "file" {
					t.Errorf("sub = %q", got)
				}
			},
		},
		{
			name: "remove symlink to directory",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpRemove, Path: "sub"})
			},
			check: func(t *testing.T, dir string) {
				if _, err := os.Lstat(filepath.Join(dir, "sub")); err == nil {
					t.Error("sub still exists")
				}
			},
		},
		{
			name: "remove directory holding symlink",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				return applyOne(ctx, e, wire.Op{Kind: wire.OpRemove, Path: "real"})
			},
			check: func(t *testing.T, dir string) {
				if _, err := os.Lstat(filepath.Join(dir, "real")); err == nil {
					t.Error("real still exists")
				}
			},
		},
		{
			name: "cache forgets a replaced directory",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				if err := put(e, "d/x", "x", 0o644, testMtime); err != nil {
					return err
				}
				errs, _ := e.Apply(ctx, []wire.Op{
					{Kind: wire.OpRemove, Path: "d"},
					{Kind: wire.OpSymlink, Path: "d", Target: "real/link"},
				})
				if err := errors.Join(errs...); err != nil {
					return err
				}
				return put(e, "d/y", "y", 0o644, testMtime)
			},
			wantErr: endpoint.ErrInvalidPath,
		},
		{
			name: "cache forgets a directory replaced by a file",
			do: func(ctx context.Context, e endpoint.Endpoint) error {
				if err := applyOne(ctx, e, wire.Op{Kind: wire.OpMkdir, Path: "d/e", Mode: 0o755}); err != nil {
					return err
				}
				if err := put(e, "d/e/x", "x", 0o644, testMtime); err != nil {
					return err
				}
				if err := put(e, "d", "file", 0o644, testMtime); err != nil {
					return err
				}
				return applyOne(ctx, e, wire.Op{Kind: wire.OpMkdir, Path: "d/e", Mode: 0o755})
			},
			wantErr: endpoint.ErrInvalidPath,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, dir := openTest(t)
			outside := t.TempDir()
			writeFile(t, filepath.Join(outside, "y"), "keep", 0o600)
			if err := os.Chtimes(outside, testMtime, testMtime); err != nil {
				t.Fatal(err)
			}
			symlink(t, outside, filepath.Join(dir, "sub"))
			mkdir(t, filepath.Join(dir, "real"))
			symlink(t, outside, filepath.Join(dir, "real", "link"))
			mkdir(t, filepath.Join(dir, "d"))
			symlink(t, "real", filepath.Join(dir, "inner"))

			err := tt.do(t.Context(), e)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, dir)
			}
			if got := listDir(t, outside); !slices.Equal(got, []string{"y"}) {
				t.Errorf("outside holds %q, want only y", got)
			}
			fi, err := os.Stat(filepath.Join(outside, "y"))
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(outside, "y")); got != "keep" || fi.Mode().Perm() != 0o600 {
				t.Errorf("outside/y = %q, %v; want %q, 0600", got, fi.Mode(), "keep")
			}
			if fi, err := os.Stat(outside); err != nil || fi.Mode().Perm() == 0o777 {
				t.Errorf("outside directory mode changed: %v, %v", fi.Mode(), err)
			}
			checkNoTemps(t, dir)
		})
	}
}
