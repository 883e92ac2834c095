package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// openCache returns a dirCache on a new directory holding a/b/c, a/bc,
// x, the file f and the symlink l to a.
func openCache(t *testing.T) (*dirCache, string) {
	t.Helper()
	top := t.TempDir()
	mkdir(t, filepath.Join(top, "a", "b", "c"))
	mkdir(t, filepath.Join(top, "a", "bc"))
	mkdir(t, filepath.Join(top, "x"))
	writeFile(t, filepath.Join(top, "f"), "", 0o644)
	symlink(t, "a", filepath.Join(top, "l"))
	d, err := openRootDir(top)
	if err != nil {
		t.Fatal(err)
	}
	c := newDirCache(d)
	t.Cleanup(c.close)
	return c, top
}

// cached returns the paths c holds, sorted.
func cached(c *dirCache) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ps []string
	for p := range c.open {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

func TestDirCache(t *testing.T) {
	tests := []struct {
		name    string
		acquire []string // acquired and released in order
		forget  string
		want    []string // cached afterwards
	}{
		{name: "root is not listed", acquire: []string{"."}},
		{name: "cached", acquire: []string{"a/b", "a/b", "x"}, want: []string{"a/b", "x"}},
		{name: "ancestors not cached", acquire: []string{"a/b/c"}, want: []string{"a/b/c"}},
		{name: "forget subtree", acquire: []string{"a", "a/b", "a/b/c", "x"}, forget: "a/b", want: []string{"a", "x"}},
		{name: "forget at component boundary", acquire: []string{"a/b", "a/bc"}, forget: "a/b", want: []string{"a/bc"}},
		{name: "forget all below", acquire: []string{"a/b/c", "a/bc", "x"}, forget: "a", want: []string{"x"}},
		{name: "forget missing", acquire: []string{"a"}, forget: "q/r", want: []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := openCache(t)
			for _, p := range tt.acquire {
				h, err := c.acquire(p)
				if err != nil {
					t.Fatalf("acquire(%q): %v", p, err)
				}
				if m, err := h.lstat("."); err != nil || !m.IsDir() {
					t.Errorf("acquire(%q) opened %v, %v", p, m, err)
				}
				c.release(h)
			}
			if tt.forget != "" {
				c.forget(tt.forget)
			}
			if got := cached(c); !slices.Equal(got, tt.want) {
				t.Errorf("cached %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDirCacheRefused(t *testing.T) {
	tests := []struct {
		path    string
		wantErr error
	}{
		{path: "l", wantErr: endpoint.ErrInvalidPath},
		{path: "l/b", wantErr: endpoint.ErrInvalidPath},
		{path: "f", wantErr: endpoint.ErrInvalidPath},
		{path: "f/x", wantErr: endpoint.ErrInvalidPath},
		{path: "a/missing/x", wantErr: fs.ErrNotExist},
	}
	c, _ := openCache(t)
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			h, err := c.acquire(tt.path)
			if err == nil {
				c.release(h)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("acquire(%q) = %v, want %v", tt.path, err, tt.wantErr)
			}
		})
	}
	if got := cached(c); len(got) != 0 {
		t.Errorf("cached %q after failures", got)
	}
}

func TestDirCacheStaleInsert(t *testing.T) {
	c, _ := openCache(t)
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	d, err := c.root.openBeneath("a")
	if err != nil {
		t.Fatal(err)
	}
	c.forget("x")
	h, err := c.insert("a", &dirHandle{dir: d, refs: 1}, gen)
	if err != nil {
		t.Fatal(err)
	}
	if got := cached(c); len(got) != 0 {
		t.Errorf("opened before a forget, yet cached: %q", got)
	}
	if m, err := h.lstat("b"); err != nil || !m.IsDir() {
		t.Errorf("uncached handle unusable: %v, %v", m, err)
	}
	c.release(h)
}

func TestDirCacheHeldHandle(t *testing.T) {
	tests := []struct {
		name string
		drop func(c *dirCache)
	}{
		{name: "forget", drop: func(c *dirCache) { c.forget("a") }},
		{name: "close", drop: func(c *dirCache) { c.close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := openCache(t)
			h, err := c.acquire("a")
			if err != nil {
				t.Fatal(err)
			}
			tt.drop(c)
			if m, err := h.lstat("b"); err != nil || !m.IsDir() {
				t.Errorf("held handle after %s: %v, %v", tt.name, m, err)
			}
			c.release(h)
		})
	}
	c, _ := openCache(t)
	c.close()
	if _, err := c.acquire("a"); !errors.Is(err, endpoint.ErrClosed) {
		t.Errorf("acquire after close = %v, want %v", err, endpoint.ErrClosed)
	}
}

func TestDirCacheBounded(t *testing.T) {
	c, top := openCache(t)
	for i := range maxOpenDirs + 10 {
		p := fmt.Sprintf("x/%d", i)
		mkdir(t, filepath.Join(top, p))
		h, err := c.acquire(p)
		if err != nil {
			t.Fatal(err)
		}
		c.release(h)
	}
	if n := len(cached(c)); n > maxOpenDirs {
		t.Errorf("cache holds %d directories, limit %d", n, maxOpenDirs)
	}
}

// TestDirCacheSwappedBehindBack replaces a cached directory with a
// symlink to outside the tree, as another program might: writes go to
// the directory, moved, and never through the symlink.
func TestDirCacheSwappedBehindBack(t *testing.T) {
	e, dir := openTest(t)
	outside := t.TempDir()
	mkdir(t, filepath.Join(dir, "d"))
	if err := put(e, "d/x", "x", 0o644, testMtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "d"), filepath.Join(dir, "moved")); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(dir, "d"))
	if err := put(e, "d/y", "y", 0o644, testMtime); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, outside); len(got) != 0 {
		t.Errorf("written through a symlink: outside holds %q", got)
	}
	if got := listDir(t, filepath.Join(dir, "moved")); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("moved directory holds %q, want x and y", got)
	}
}
