package local

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// chunk is one Write of a test.
type chunk struct {
	off  int64
	data string
}

func TestCommit(t *testing.T) {
	var outside string // set by setup, for check
	tests := []struct {
		name   string
		setup  func(t *testing.T, dir string)
		rel    string
		chunks []chunk
		mode   uint32
		want   string
		check  func(t *testing.T, dir string)
	}{
		{
			name:   "new file",
			rel:    "f",
			chunks: []chunk{{0, "hello, "}, {7, "world"}},
			mode:   0o640,
			want:   "hello, world",
		},
		{
			name: "empty file",
			rel:  "empty",
			mode: 0o600,
		},
		{
			name:   "writes out of order",
			rel:    "f",
			chunks: []chunk{{5, "world"}, {0, "hello"}},
			mode:   0o644,
			want:   "helloworld",
		},
		{
			name:   "nested",
			setup:  func(t *testing.T, dir string) { mkdir(t, filepath.Join(dir, "a", "b")) },
			rel:    "a/b/c",
			chunks: []chunk{{0, "nested"}},
			mode:   0o644,
			want:   "nested",
		},
		{
			name:   "odd name",
			rel:    "new\nline \xff ü",
			chunks: []chunk{{0, "odd"}},
			mode:   0o644,
			want:   "odd",
		},
		{
			name: "file shrinks",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "f"), strings.Repeat("x", 10000), 0o644)
			},
			rel:    "f",
			chunks: []chunk{{0, "short"}},
			mode:   0o644,
			want:   "short",
		},
		{
			name:   "read-only file replaced",
			setup:  func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "f"), "old", 0o400) },
			rel:    "f",
			chunks: []chunk{{0, "new"}},
			mode:   0o444,
			want:   "new",
		},
		{
			name:   "set-id bits",
			rel:    "suid",
			chunks: []chunk{{0, "#!/bin/sh\n"}},
			mode:   0o4755,
			want:   "#!/bin/sh\n",
		},
		{
			name: "directory in the way",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "d", "sub", "x"), "x", 0o644)
				outside = t.TempDir()
				writeFile(t, filepath.Join(outside, "keep"), "keep", 0o644)
				symlink(t, outside, filepath.Join(dir, "d", "out"))
			},
			rel:    "d",
			chunks: []chunk{{0, "now a file"}},
			mode:   0o644,
			want:   "now a file",
			check: func(t *testing.T, dir string) {
				if got := readFile(t, filepath.Join(outside, "keep")); got != "keep" {
					t.Errorf("file behind a removed link changed to %q", got)
				}
			},
		},
		{
			name: "symlink in the way",
			setup: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, "target"), "target", 0o644)
				symlink(t, "target", filepath.Join(dir, "l"))
			},
			rel:    "l",
			chunks: []chunk{{0, "replaces the link"}},
			mode:   0o644,
			want:   "replaces the link",
			check: func(t *testing.T, dir string) {
				if got := readFile(t, filepath.Join(dir, "target")); got != "target" {
					t.Errorf("link target changed to %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, dir := openTest(t)
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			ctx := t.Context()
			w, err := e.Create(ctx, tt.rel, int64(len(tt.want)))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tt.chunks {
				if err := w.Write(ctx, c.off, []byte(c.data), sum(c.data)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Lstat(filepath.Join(dir, tt.rel)); tt.setup == nil && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("target exists before Commit: %v", err)
			}
			if err := w.Commit(ctx, int64(len(tt.want)), tt.mode, testMtime.UnixNano(), wire.Attrs{}); err != nil {
				t.Fatal(err)
			}
			if err := w.Abort(); err != nil {
				t.Errorf("Abort after Commit: %v", err)
			}

			p := filepath.Join(dir, tt.rel)
			fi, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if !fi.Mode().IsRegular() {
				t.Fatalf("%q is %v, want a regular file", tt.rel, fi.Mode())
			}
			if got := readFile(t, p); got != tt.want {
				t.Errorf("content %q, want %q", got, tt.want)
			}
			if got := modeBits(fi.Mode()); got != tt.mode {
				t.Errorf("mode %#o, want %#o", got, tt.mode)
			}
			if got := fi.ModTime().UnixNano(); got != testMtime.UnixNano() {
				t.Errorf("mtime %d, want %d", got, testMtime.UnixNano())
			}
			if tt.check != nil {
				tt.check(t, dir)
			}
			checkNoTemps(t, dir)
		})
	}
}

func TestCommitFails(t *testing.T) {
	wrong := sum("something else")
	tests := []struct {
		name    string
		chunks  []chunk
		sums    []*wire.Sum // per chunk; nil means the right one
		size    int64
		wantErr error // nil: any error
	}{
		{
			name:    "hash mismatch",
			chunks:  []chunk{{0, "new"}},
			sums:    []*wire.Sum{&wrong},
			size:    3,
			wantErr: endpoint.ErrMismatch,
		},
		{
			name:    "mismatch poisons later writes",
			chunks:  []chunk{{0, "ne"}, {2, "w"}},
			sums:    []*wire.Sum{&wrong, nil},
			size:    3,
			wantErr: endpoint.ErrMismatch,
		},
		{
			name:   "too few bytes",
			chunks: []chunk{{0, "new"}},
			size:   5,
		},
		{
			name:   "too many bytes",
			chunks: []chunk{{0, "new"}, {3, "er"}},
			size:   3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, dir := openTest(t)
			writeFile(t, filepath.Join(dir, "f"), "old", 0o644)
			ctx := t.Context()
			w, err := e.Create(ctx, "f", tt.size)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range tt.chunks {
				s := sum(c.data)
				if i < len(tt.sums) && tt.sums[i] != nil {
					s = *tt.sums[i]
				}
				err := w.Write(ctx, c.off, []byte(c.data), s)
				if tt.wantErr != nil && err != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("Write = %v, want %v", err, tt.wantErr)
				}
			}
			err = w.Commit(ctx, tt.size, 0o644, testMtime.UnixNano(), wire.Attrs{})
			if err == nil {
				t.Fatal("Commit succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Commit = %v, want %v", err, tt.wantErr)
			}
			if got := readFile(t, filepath.Join(dir, "f")); got != "old" {
				t.Errorf("old file changed to %q", got)
			}
			checkNoTemps(t, dir)
			if err := w.Abort(); err != nil {
				t.Errorf("Abort after failed Commit: %v", err)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	e, dir := openTest(t)
	ctx := t.Context()
	w, err := e.Create(ctx, "f", 5)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, 0, []byte("hello"), sum("hello")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := w.Abort(); err != nil {
			t.Errorf("Abort #%d: %v", i+1, err)
		}
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("left behind: %q", names)
	}
	if err := w.Write(ctx, 5, []byte("x"), sum("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if err := w.Commit(ctx, 5, 0o644, 0, wire.Attrs{}); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if names := listDir(t, dir); len(names) != 0 {
		t.Errorf("left behind: %q", names)
	}
}

func TestCreateRefused(t *testing.T) {
	tests := []struct {
		name    string
		rel     string
		wantErr error
	}{
		{name: "root", rel: ".", wantErr: endpoint.ErrInvalidPath},
		{name: "missing parent", rel: "nope/f", wantErr: fs.ErrNotExist},
		{name: "parent is a file", rel: "file/f", wantErr: endpoint.ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, dir := openTest(t)
			writeFile(t, filepath.Join(dir, "file"), "", 0o644)
			_, err := e.Create(t.Context(), tt.rel, 0)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Create(%q) = %v, want %v", tt.rel, err, tt.wantErr)
			}
			checkNoTemps(t, dir)
		})
	}
}

func TestCreateReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
	}
	e, dir := openTest(t)
	mkdir(t, filepath.Join(dir, "ro"))
	if err := os.Chmod(filepath.Join(dir, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "ro"), 0o755) })
	_, err := e.Create(t.Context(), "ro/f", 0)
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Create in read-only dir = %v, want %v", err, fs.ErrPermission)
	}
}

func TestTempName(t *testing.T) {
	long := strings.Repeat("n", wire.MaxName)
	tests := []struct {
		name    string
		rel     string
		wantDir string
	}{
		{name: "top level", rel: "f", wantDir: ""},
		{name: "nested", rel: "a/b/f", wantDir: "a/b/"},
		{name: "long name", rel: "a/" + long, wantDir: "a/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tempName(tt.rel)
			if err := wire.ValidPath(got); err != nil {
				t.Fatal(err)
			}
			dir, base := "", got
			if i := strings.LastIndexByte(got, '/'); i >= 0 {
				dir, base = got[:i+1], got[i+1:]
			}
			if dir != tt.wantDir || !strings.HasPrefix(base, tempPrefix) || !strings.HasSuffix(base, tempSuffix) {
				t.Errorf("tempName(%q) = %q", tt.rel, got)
			}
			if tempName(tt.rel) == got {
				t.Errorf("tempName(%q) repeats %q", tt.rel, got)
			}
		})
	}
}

func TestConcurrentCommits(t *testing.T) {
	e, dir := openTest(t)
	ctx := context.Background()
	const dirs, files = 4, 25
	for d := range dirs {
		mkdir(t, filepath.Join(dir, "d", string(rune('a'+d)), "sub"))
	}
	var wg sync.WaitGroup
	for d := range dirs {
		for f := range files {
			wg.Go(func() {
				rel := "d/" + string(rune('a'+d)) + "/sub/" + string(rune('A'+f))
				if err := put(e, rel, rel, 0o644, testMtime); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	n := 0
	err := e.Scan(ctx, "d", endpoint.ScanOptions{Hash: true}, func(ent *wire.Entry) error {
		if ent.Type == wire.TypeFile {
			n++
			if want := sum("d/" + ent.Path); ent.Sum != want {
				t.Errorf("%q: wrong content", ent.Path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != dirs*files {
		t.Errorf("%d files, want %d", n, dirs*files)
	}
	checkNoTemps(t, dir)
}
