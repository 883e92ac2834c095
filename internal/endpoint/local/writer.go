package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"strings"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
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
	d, name, err := e.parent(rel)
	if err != nil {
		return nil, fail("create", rel, err)
	}
	for range tempTries {
		tmp := tempName(name)
		var f *os.File
		f, err = d.createTemp(tmp, true)
		if err == nil {
			lockTemp(f)
			return &fileWriter{e: e, rel: rel, dir: d, name: name, tmp: tmp, f: f}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	e.dirs.release(d)
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
	dir  *dirHandle // rel's directory, held until done
	name string     // rel's last component
	tmp  string     // the temporary file's name in dir
	f    *os.File   // the open temporary file; nil once closed
	end  int64      // highest offset written, holes included
	hole int64      // end of the last hole (see Hole), 0 for none
	err  error      // the first failed Write, returned by Commit
	done bool       // committed or discarded

	basis     *os.File   // what Copy copies from (CreateFrom); nil for none
	basisKind wire.Basis // which file basis is
	stamp     uint64     // the basis's stamp when copies are trusted, else 0
	buf       []byte     // Copy's scratch space
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
	}
	if w.err = endpoint.CheckWrite(ctx, w.rel, off, data, sum); w.err != nil {
		return w.err
	}
	if _, err := w.f.WriteAt(data, off); err != nil {
		w.err = fail("write", w.rel, err)
		return w.err
	}
	w.end = max(w.end, off+int64(len(data)))
	return nil
}

// Hole implements endpoint.FileWriter: nothing is written; Commit makes
// the file long enough that a hole at its end is part of it. The same
// errors as Write's stick.
func (w *fileWriter) Hole(ctx context.Context, off, n int64) error {
	switch {
	case w.done:
		return fmt.Errorf("hole %s: %w", w.rel, fs.ErrClosed)
	case w.err != nil:
		return w.err
	}
	if w.err = endpoint.CheckHole(ctx, w.rel, off, n); w.err != nil {
		return w.err
	}
	w.end = max(w.end, off+n)
	w.hole = max(w.hole, off+n)
	return nil
}

// Commit implements endpoint.FileWriter. The parts of attrs that the
// endpoint's Caps allow are set on the temporary file (owner, extended
// attributes, ACLs, in that order), then its mode and mtime, before it is
// renamed into place. On failure the temporary file is removed and the
// target left as it was, except that a directory at the target may
// already be gone.
func (w *fileWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	if w.done {
		return fmt.Errorf("commit %s: %w", w.rel, fs.ErrClosed)
	}
	unsupported, err := w.commit(ctx, size, mode, mtime, &attrs)
	if err != nil {
		w.discard()
		return err
	}
	w.done = true
	w.release()
	if unsupported != nil {
		return fmt.Errorf("commit %s: %w", w.rel, unsupported)
	}
	return nil
}

// commit is Commit but for the end of the writer. Metadata the file
// system does not support is returned apart, as the first result.
func (w *fileWriter) commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs *wire.Attrs) (unsupported, err error) {
	switch {
	case w.err != nil:
		return nil, w.err
	case w.end != size:
		return nil, fmt.Errorf("commit %s: %d bytes written, want %d", w.rel, w.end, size)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("commit %s: %w", w.rel, ctx.Err())
	case w.e.closed.Load():
		return nil, fmt.Errorf("commit %s: %w", w.rel, endpoint.ErrClosed)
	}
	if err := w.checkBasis(); err != nil {
		return nil, err
	}
	if w.hole > 0 {
		// A hole at the end: the file ends at size all the same.
		if err := w.f.Truncate(size); err != nil {
			return nil, fail("commit", w.rel, err)
		}
	}
	if !attrs.IsZero() {
		if err := w.e.setAttrs(w.dir.dir, w.tmp, 0, attrs); errors.Is(err, endpoint.ErrMetaUnsupported) {
			unsupported = err
		} else if err != nil {
			return nil, fail("commit", w.rel, err)
		}
	}
	if err := w.f.Chmod(fileMode(mode)); err != nil {
		return nil, fail("commit", w.rel, err)
	}
	if err := w.dir.chtimes(w.tmp, mtime); err != nil {
		return nil, fail("commit", w.rel, err)
	}
	if w.e.opts.fsync {
		if err := w.f.Sync(); err != nil {
			return nil, fail("commit", w.rel, err)
		}
	}
	f := w.f
	w.f = nil
	if err := f.Close(); err != nil {
		return nil, fail("commit", w.rel, err)
	}
	if err := w.e.replace(w.dir, w.tmp, w.name, w.rel); err != nil {
		return nil, fail("commit", w.rel, err)
	}
	if w.basisKind == wire.BasisPartial || size >= endpoint.ResumeMin {
		// A partial file (this one's basis, or left by a run that lost
		// its connection) has no use once the file is in place, nor have
		// temporary files of killed writers of it.
		w.e.removeTemp(w.dir, partialName(w.name), w.rel)
		tidySiblings(w.dir.dir, w.name, w.tmp)
	}
	return unsupported, nil
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
	err := w.e.removeTemp(w.dir, w.tmp, w.rel)
	w.release()
	if err != nil {
		return fail("abort", w.rel, err)
	}
	return nil
}

// release gives back the writer's directory and closes its basis, once.
func (w *fileWriter) release() {
	if w.basis != nil {
		w.basis.Close()
		w.basis = nil
	}
	if w.dir != nil {
		w.e.dirs.release(w.dir)
		w.dir = nil
	}
}

// replace renames tmp over name in d, the directory of rel. A directory
// at rel is removed first, with everything in it; anything else is
// replaced by the rename itself.
func (e *dirEndpoint) replace(d *dirHandle, tmp, name, rel string) error {
	err := d.rename(tmp, name)
	if err == nil {
		return nil
	}
	if m, lerr := d.lstat(name); lerr != nil || !m.IsDir() {
		return err
	}
	e.dirs.forget(rel)
	err = d.removeAll(name)
	e.dirs.forget(rel)
	if err != nil {
		return err
	}
	return d.rename(tmp, name)
}

// removeTemp removes the temporary name tmp in d, the directory of rel,
// logging a failure to do so. A missing tmp is not an error.
func (e *dirEndpoint) removeTemp(d *dirHandle, tmp, rel string) error {
	err := d.unlink(tmp)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	e.opts.logger.Warn("cannot remove temporary file", "root", e.abs, "path", path.Join(path.Dir(rel), tmp), "err", err)
	return err
}
