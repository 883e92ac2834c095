package local

import (
	"context"
	"fmt"
	"io/fs"
	"strings"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// CreateShared implements endpoint.Endpoint. The temporary file's name is
// made from rel's name and share, so every writer of the same share opens
// the same file.
func (e *dirEndpoint) CreateShared(ctx context.Context, rel string, size int64, share string, part bool) (endpoint.FileWriter, error) {
	if err := e.check(ctx, "create", rel); err != nil {
		return nil, err
	}
	if rel == "." {
		return nil, fmt.Errorf("create .: %w: the root", endpoint.ErrInvalidPath)
	}
	if err := wire.ValidShare(share); err != nil || share == "" {
		return nil, fmt.Errorf("create %s: %w: bad share token %q", rel, endpoint.ErrInvalidPath, share)
	}
	d, name, err := e.parent(rel)
	if err != nil {
		return nil, fail("create", rel, err)
	}
	tmp := sharedTempName(name, share)
	f, err := d.createTemp(tmp, false)
	if err != nil {
		e.dirs.release(d)
		return nil, fail("create", rel, err)
	}
	lockTemp(f)
	w := &fileWriter{e: e, rel: rel, dir: d, name: name, tmp: tmp, f: f}
	if part {
		return &partWriter{w: w}, nil
	}
	return &sharedWriter{w: w}, nil
}

// sharedTempName returns the temporary name of a shared file.
func sharedTempName(rel, share string) string {
	dir, base := "", rel
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		dir, base = rel[:i+1], rel[i+1:]
	}
	suffix := "." + share + tempSuffix
	if n := wire.MaxName - len(tempPrefix) - len(suffix); len(base) > n {
		base = base[:n]
	}
	return dir + tempPrefix + base + suffix
}

// sharedWriter commits a shared file: like fileWriter, but the size it
// checks is the file's on disk, since parts wrote ranges of it too.
type sharedWriter struct {
	w *fileWriter
}

func (s *sharedWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	return s.w.Write(ctx, off, data, sum)
}

// Commit commits the file, whose size is what is on disk or the end of
// its last hole, whichever is greater.
func (s *sharedWriter) Commit(ctx context.Context, size int64, mode uint32, mtime int64, attrs wire.Attrs) error {
	if s.w.f != nil && s.w.err == nil {
		fi, err := s.w.f.Stat()
		if err != nil {
			s.w.discard()
			return fail("commit", s.w.rel, err)
		}
		s.w.end = max(fi.Size(), s.w.hole)
	}
	return s.w.Commit(ctx, size, mode, mtime, attrs)
}

func (s *sharedWriter) Hole(ctx context.Context, off, n int64) error {
	return s.w.Hole(ctx, off, n)
}

func (s *sharedWriter) Abort() error { return s.w.Abort() }

func (s *sharedWriter) Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error {
	return s.w.Copy(ctx, off, basisOff, n, sum)
}

// Suspend keeps the file as a partial file, judged by its size on disk
// since parts wrote ranges of it too.
func (s *sharedWriter) Suspend() error {
	if s.w.f != nil && s.w.err == nil {
		if fi, err := s.w.f.Stat(); err == nil {
			s.w.end = max(s.w.end, fi.Size())
		}
	}
	return s.w.Suspend()
}

// partWriter writes ranges of a shared file and leaves it to the
// committing writer.
type partWriter struct {
	w *fileWriter
}

func (p *partWriter) Write(ctx context.Context, off int64, data []byte, sum wire.Sum) error {
	return p.w.Write(ctx, off, data, sum)
}

// Hole is recorded, but only the committing writer's holes make the file
// longer.
func (p *partWriter) Hole(ctx context.Context, off, n int64) error {
	return p.w.Hole(ctx, off, n)
}

// Commit closes the file and reports the first failed write.
func (p *partWriter) Commit(ctx context.Context, _ int64, _ uint32, _ int64, _ wire.Attrs) error {
	if p.w.done {
		return fmt.Errorf("commit %s: %w", p.w.rel, fs.ErrClosed)
	}
	p.w.done = true
	p.w.release()
	f := p.w.f
	p.w.f = nil
	if p.w.err != nil {
		f.Close()
		return p.w.err
	}
	if p.w.e.opts.fsync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fail("commit", p.w.rel, err)
		}
	}
	if err := f.Close(); err != nil {
		return fail("commit", p.w.rel, err)
	}
	return ctx.Err()
}

// Abort closes the file without removing it.
func (p *partWriter) Abort() error {
	if !p.w.done {
		p.w.done = true
		p.w.release()
		if p.w.f != nil {
			p.w.f.Close()
			p.w.f = nil
		}
	}
	return nil
}

// Copy fails: a part has no basis.
func (p *partWriter) Copy(ctx context.Context, off, basisOff int64, n int, sum wire.Sum) error {
	return p.w.Copy(ctx, off, basisOff, n, sum)
}

// Suspend is Abort: the committing writer decides what becomes of the file.
func (p *partWriter) Suspend() error { return p.Abort() }
