package local

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// testMtime is a modification time with nanoseconds, which must survive.
var testMtime = time.Unix(1_600_000_000, 123_456_789)

// openTest opens an Endpoint on a new temporary directory.
func openTest(t *testing.T) (endpoint.Endpoint, string) {
	t.Helper()
	dir := t.TempDir()
	e, err := Open(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e, dir
}

// writeFile makes the file name with content and mode, creating parents.
func writeFile(t *testing.T, name, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// mkdir makes the directory name and its parents.
func mkdir(t *testing.T, name string) {
	t.Helper()
	if err := os.MkdirAll(name, 0o755); err != nil {
		t.Fatal(err)
	}
}

// symlink makes name a symlink to target.
func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// readFile returns the content of name.
func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sum returns the BLAKE3 hash of s.
func sum(s string) wire.Sum {
	return blake3.Sum256([]byte(s))
}

// put writes the file rel through e in one Write and commits it.
func put(e endpoint.Endpoint, rel, content string, mode uint32, mtime time.Time) error {
	ctx := context.Background()
	w, err := e.Create(ctx, rel, int64(len(content)))
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(ctx, 0, []byte(content), sum(content)); err != nil {
		return err
	}
	return w.Commit(ctx, int64(len(content)), mode, mtime.UnixNano(), wire.Attrs{})
}

// checkNoTemps fails if a temporary file is left anywhere under dir.
func checkNoTemps(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			t.Errorf("temporary file left behind: %q", p)
		}
		return nil
	})
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
