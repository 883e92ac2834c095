package local

import (
	"context"
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

// scanTree describes the tree makeScanTree builds, in scan order. Files
// hold their content; every file and directory has mtime testMtime.
var scanTree = []struct {
	path    string
	typ     wire.FileType
	mode    uint32
	content string // files
	target  string // symlinks
}{
	{path: "A", typ: wire.TypeFile, mode: 0o644, content: "upper case sorts first"},
	{path: "a", typ: wire.TypeDir, mode: 0o755},
	{path: "a/b", typ: wire.TypeFile, mode: 0o600, content: "in a"},
	{path: "a b", typ: wire.TypeFile, mode: 0o644, content: "space"},
	{path: "a-b", typ: wire.TypeFile, mode: 0o644, content: "dash"},
	{path: "dangling", typ: wire.TypeSymlink, target: "../nowhere"},
	{path: "empty", typ: wire.TypeDir, mode: 0o700},
	{path: "link", typ: wire.TypeSymlink, target: "a b"},
	{path: "linkdir", typ: wire.TypeSymlink, target: "z"},
	{path: "new\nline", typ: wire.TypeFile, mode: 0o640},
	{path: "sticky", typ: wire.TypeDir, mode: 0o1777},
	{path: "suid", typ: wire.TypeFile, mode: 0o4755, content: "#!/bin/sh\n"},
	{path: "z", typ: wire.TypeDir, mode: 0o2755},
	{path: "z/deep", typ: wire.TypeDir, mode: 0o755},
	{path: "z/deep/f", typ: wire.TypeFile, mode: 0o444, content: "deep"},
	{path: "ünï", typ: wire.TypeDir, mode: 0o755},
	{path: "ünï/x", typ: wire.TypeFile, mode: 0o644},
	{path: "\xff", typ: wire.TypeFile, mode: 0o644, content: "invalid UTF-8 name"},
}

// makeScanTree builds scanTree in dir, plus a FIFO that Scan must skip.
func makeScanTree(t *testing.T, dir string) {
	t.Helper()
	for _, n := range scanTree {
		p := filepath.Join(dir, n.path)
		switch n.typ {
		case wire.TypeDir:
			mkdir(t, p)
		case wire.TypeFile:
			writeFile(t, p, n.content, 0o644)
		case wire.TypeSymlink:
			symlink(t, n.target, p)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range slices.Backward(scanTree) {
		if n.typ == wire.TypeSymlink {
			continue
		}
		p := filepath.Join(dir, n.path)
		if err := os.Chmod(p, fileMode(n.mode)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, testMtime, testMtime); err != nil {
			t.Fatal(err)
		}
	}
}

// collect scans rel and returns the entries.
func collect(ctx context.Context, e endpoint.Endpoint, rel string, opts endpoint.ScanOptions) ([]wire.Entry, error) {
	var got []wire.Entry
	err := e.Scan(ctx, rel, opts, func(ent *wire.Entry) error {
		got = append(got, *ent)
		return nil
	})
	return got, err
}

func TestScanTree(t *testing.T) {
	e, dir := openTest(t)
	makeScanTree(t, dir)
	for _, hash := range []bool{false, true} {
		name := "plain"
		if hash {
			name = "hash"
		}
		t.Run(name, func(t *testing.T) {
			got, err := collect(t.Context(), e, ".", endpoint.ScanOptions{Hash: hash})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(scanTree)+1 {
				t.Fatalf("got %d entries, want %d: %q", len(got), len(scanTree)+1, paths(got))
			}
			if got[0].Path != "." || got[0].Type != wire.TypeDir {
				t.Errorf("first entry = %+v, want the root directory", got[0])
			}
			for i, want := range scanTree {
				g := got[i+1]
				if i > 0 && wire.ComparePaths(got[i].Path, g.Path) >= 0 {
					t.Errorf("%q reported after %q", g.Path, got[i].Path)
				}
				if g.Path != want.path || g.Type != want.typ {
					t.Errorf("entry %d = %q %v, want %q %v", i+1, g.Path, g.Type, want.path, want.typ)
					continue
				}
				if want.typ == wire.TypeSymlink {
					if g.Target != want.target {
						t.Errorf("%q: target %q, want %q", g.Path, g.Target, want.target)
					}
					continue
				}
				if g.Mode != want.mode {
					t.Errorf("%q: mode %#o, want %#o", g.Path, g.Mode, want.mode)
				}
				if g.Mtime != testMtime.UnixNano() {
					t.Errorf("%q: mtime %d, want %d", g.Path, g.Mtime, testMtime.UnixNano())
				}
				if want.typ != wire.TypeFile {
					if g.Size != 0 || g.HasSum {
						t.Errorf("%q: size %d, HasSum %v for a directory", g.Path, g.Size, g.HasSum)
					}
					continue
				}
				if g.Size != int64(len(want.content)) {
					t.Errorf("%q: size %d, want %d", g.Path, g.Size, len(want.content))
				}
				if g.HasSum != hash || hash && g.Sum != sum(want.content) {
					t.Errorf("%q: HasSum %v, Sum %x, want HasSum %v, Sum %x", g.Path, g.HasSum, g.Sum, hash, sum(want.content))
				}
			}
		})
	}
}

func TestScanSubset(t *testing.T) {
	e, dir := openTest(t)
	makeScanTree(t, dir)
	tests := []struct {
		name  string
		rel   string
		rules []string
		want  []string
	}{
		{name: "subdirectory", rel: "z", want: []string{".", "deep", "deep/f"}},
		{name: "nested subdirectory", rel: "z/deep", want: []string{".", "f"}},
		{name: "file", rel: "a b", want: []string{"."}},
		{name: "symlink not followed", rel: "linkdir", want: []string{"."}},
		{name: "special file", rel: "fifo", want: nil},
		{
			name:  "excluded directory not entered",
			rel:   ".",
			rules: []string{"- z", "- a"},
			want: []string{".", "A", "a b", "a-b", "dangling", "empty", "link", "linkdir",
				"new\nline", "sticky", "suid", "ünï", "ünï/x", "\xff"},
		},
		{
			name:  "rules relative to rel",
			rel:   "z",
			rules: []string{"- /f", "- deep/f"},
			want:  []string{".", "deep"},
		},
		{
			name:  "rules never apply to the scanned path",
			rel:   "z",
			rules: []string{"- z"},
			want:  []string{".", "deep", "deep/f"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(t.Context(), e, tt.rel, endpoint.ScanOptions{Rules: tt.rules})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(paths(got), tt.want) {
				t.Errorf("Scan(%q) = %q, want %q", tt.rel, paths(got), tt.want)
			}
		})
	}
}

func TestScanErrors(t *testing.T) {
	e, dir := openTest(t)
	makeScanTree(t, dir)
	errStop := errors.New("stop")
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		rel     string
		rules   []string
		fn      func(n int) error
		wantErr error
		wantN   int // calls of fn, -1 to skip the check
	}{
		{name: "missing", rel: "nope", wantErr: fs.ErrNotExist},
		{name: "missing parent", rel: "nope/x", wantErr: fs.ErrNotExist},
		{name: "through symlink", rel: "linkdir/deep", wantErr: endpoint.ErrInvalidPath},
		{name: "invalid path", rel: "../x", wantErr: endpoint.ErrInvalidPath},
		{name: "bad rule", rel: ".", rules: []string{"bogus"}, wantN: 0},
		{name: "canceled", ctx: canceled, rel: ".", wantErr: context.Canceled},
		{
			name:    "fn error stops the scan",
			rel:     ".",
			fn:      func(n int) error { return errStop },
			wantErr: errStop,
			wantN:   1,
		},
		{
			name: "fn error returned as is",
			rel:  "z",
			fn: func(n int) error {
				if n == 3 {
					return errStop
				}
				return nil
			},
			wantErr: errStop,
			wantN:   3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			n := 0
			err := e.Scan(ctx, tt.rel, endpoint.ScanOptions{Rules: tt.rules}, func(*wire.Entry) error {
				n++
				if tt.fn != nil {
					return tt.fn(n)
				}
				return nil
			})
			if err == nil {
				t.Fatalf("Scan(%q) succeeded", tt.rel)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Scan(%q) = %v, want %v", tt.rel, err, tt.wantErr)
			}
			if tt.wantErr == errStop && err != errStop {
				t.Errorf("Scan(%q) = %v, want fn's error unwrapped", tt.rel, err)
			}
			if n != tt.wantN {
				t.Errorf("fn called %d times, want %d", n, tt.wantN)
			}
		})
	}
}

func TestScanUnreadableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	e, dir := openTest(t)
	mkdir(t, filepath.Join(dir, "locked", "inside"))
	if err := os.Chmod(filepath.Join(dir, "locked"), 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dir, "locked"), 0o755) })
	_, err := collect(t.Context(), e, ".", endpoint.ScanOptions{})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Scan = %v, want %v", err, fs.ErrPermission)
	}
}

// paths returns the paths of ents.
func paths(ents []wire.Entry) []string {
	var ps []string
	for _, e := range ents {
		ps = append(ps, e.Path)
	}
	return ps
}
