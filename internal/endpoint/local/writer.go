package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// Temporary names are tempPrefix, the target's name (shortened so the
// whole fits wire.MaxName), a dot, eight random hex digits and
// tempSuffix: hidden, and recognisable as fcp's leftovers.
const (
	tempPrefix = ".fcp-"
	tempSuffix = ".tmp"
	tempTries  = 8
)

// Create implements endpoint.Endpoint. The file is written to a temporary
// file in rel's directory, which must exist and be writable. size is not
// used.
func (e *dirEndpoint) Create(ctx context.Context, rel string, size int64) (endpoint.FileWriter, error) {
	if err := e.check(ctx, "create", rel); err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, fmt.Errorf("create .: %w: the root", endpoint.ErrInvalidPath)
	}
	if err := e.checkParents(rel); err != nil {
		return nil, fail("create", rel, err)
	}
	var err error
	for range tempTries {
		tmp := tempName(rel)
		var f *os.File
		f, err = e.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return &fileWriter{e: e, rel: rel, tmp: tmp, f: f}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return nil, fail("create", rel, err)
}

// tempName returns a new temporary name in the directory of rel.
func tempName(rel string) string {
	dir, base := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir, base = rel[:i+1], rel[i+1:]
	}
	suffix := fmt.Sprintf(".%08x%s", rand.Uint32(), tempSuffix)
	if n := wire.MaxName - len(tempPrefix) - len(suffix); len(base) > n {
		base = base[:n]
	}
	return dir + tempPrefix + base + suffix
}

// fileWriter is an endpoint.FileWriter that writes a temporary file and
// renames it over its target on Commit.
type fileWriter struct {
	e    *dirEndpoint
	rel  string
	tmp  string   // the temporary file, relative to the root
	f    *os.File // the open temporary file; nil once closed
	end  int64    // highest offset written
	err  error    // the first failed Write, returned by Commit
	done bool     // committed or discarded
}

// Write implements endpoint.FileWriter. After a failure (a mismatch, a
// write error, a cancelled ctx) every later Write and Commit fail with the
// same error; the file must then be aborted.
func (w *fileWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	switch {
	case w.done:
		return fmt.Errorf("write %s: %w", w.rel, fs.ErrClosed)
	case w.err != nil:
		return w.err
	case ctx.Err() != nil:
		w.err = fmt.Errorf("write %s: %w", w.rel, ctx.Err())
	case off < 0 || off > math.MaxInt64-int64(len(data)):
		w.err = fmt.Errorf("write %s: %w: offset %d", w.rel, endpoint.ErrInvalidPath, off)
	case blake3.Sum256(data) != sum:
		w.err = fmt.Errorf("write %s: %d bytes at %d: %w", w.rel, len(data), off, endpoint.ErrMismatch)
	}
	if w.err != nil {
		return w.err
	}
	if _, err := w.f.WriteAt(data, off); err != nil {
		w.err = fail("write", w.rel, err)
		return w.err
	}
	w.end = max(w.end, off+int64(len(data)))
	return nil
}

// Commit implements endpoint.FileWriter. On failure the temporary file is
// removed and the target left as it was, except that a directory at the
// target may already be gone.
func (w *fileWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64) error {
	if w.done {
		return fmt.Errorf("commit %s: %w", w.rel, fs.ErrClosed)
	}
	if err := w.commit(ctx, size, mode, mtime); err != nil {
		w.discard()
		return err
	}
	w.done = true
	return nil
}

func (w *fileWriter) commit(ctx context.Context, size int64, mode uint32, mtime int64) error {
	switch {
	case w.err != nil:
		return w.err
	case w.end != size:
		return fmt.Errorf("commit %s: %d bytes written, want %d", w.rel, w.end, size)
	case ctx.Err() != nil:
		return fmt.Errorf("commit %s: %w", w.rel, ctx.Err())
	case w.e.closed.Load():
		return fmt.Errorf("commit %s: %w", w.rel, endpoint.ErrClosed)
	}
	if err := w.f.Chmod(fileMode(mode)); err != nil {
		return fail("commit", w.rel, err)
	}
	t := time.Unix(0, mtime)
	if err := w.e.root.Chtimes(w.tmp, t, t); err != nil {
		return fail("commit", w.rel, err)
	}
	if w.e.opts.fsync {
		if err := w.f.Sync(); err != nil {
			return fail("commit", w.rel, err)
		}
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		return fail("commit", w.rel, err)
	}
	if err := w.e.checkParents(w.rel); err != nil {
		return fail("commit", w.rel, err)
	}
	if err := w.e.removeDir(w.rel); err != nil {
		return fail("commit", w.rel, err)
	}
	if err := w.e.root.Rename(w.tmp, w.rel); err != nil {
		return fail("commit", w.rel, err)
	}
	return nil
}

// Abort implements endpoint.FileWriter. It returns an error only if the
// temporary file could not be removed.
func (w *fileWriter) Abort() error {
	if w.done {
		return nil
	}
	return w.discard()
}

// discard closes and removes the temporary file.
func (w *fileWriter) discard() error {
	w.done = true
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	err := w.e.root.Remove(w.tmp)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	w.e.opts.logger.Warn("cannot remove temporary file", "root", w.e.abs, "path", w.tmp, "err", err)
	return fail("abort", w.rel, err)
}

// removeDir removes rel if it is a directory, with everything in it, so
// that a file or symlink can be renamed over it. Anything else at rel is
// left alone.
func (e *dirEndpoint) removeDir(rel string) error {
	fi, err := e.root.Lstat(rel)
	if err != nil || !fi.IsDir() {
		return nil
	}
	e.dirs.forget(rel)
	err = e.root.RemoveAll(rel)
	e.dirs.forget(rel)
	return err
}
