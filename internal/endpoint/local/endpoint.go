package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"syscall"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// dirEndpoint is an endpoint.Endpoint on the directory tree under abs.
type dirEndpoint struct {
	abs  string // the root's absolute path, for messages
	opts options
	dirs *dirCache // the root and other open directories, see parent
	caps wire.Caps // what Caps reports
	ids  ids       // user and group names, for Scan and the attributes it sets

	closed  atomic.Bool
	onClose func() // set by Host.Open before e is shared
}

var _ endpoint.Endpoint = (*dirEndpoint)(nil)

// Close implements endpoint.Endpoint. Later calls fail with
// endpoint.ErrClosed; a FileWriter still open cannot commit.
func (e *dirEndpoint) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	e.dirs.close()
	if e.onClose != nil {
		e.onClose()
	}
	return nil
}

// Read implements endpoint.Endpoint. rel must be a regular file: a
// directory fails with an error matching syscall.EISDIR, a symlink or
// special file with endpoint.ErrInvalidPath. A file replaced, or grown
// past a short read, while it was read fails with endpoint.ErrChanged.
func (e *dirEndpoint) Read(ctx context.Context, rel string, off int64, n int) (endpoint.Chunk, error) {
	if err := e.check(ctx, "read", rel); err != nil {
		return endpoint.Chunk{}, err
	}
	if off < 0 || n < 0 || n > wire.MaxChunk {
		return endpoint.Chunk{}, fmt.Errorf("read %s: %w: %d bytes at offset %d", rel, endpoint.ErrInvalidPath, n, off)
	}
	d, name, err := e.parent(rel)
	if err != nil {
		return endpoint.Chunk{}, fail("read", rel, err)
	}
	defer e.dirs.release(d)
	c, err := d.read(name, off, n)
	if err != nil {
		return endpoint.Chunk{}, fail("read", rel, err)
	}
	c.Sum = blake3.Sum256(c.Data)
	return c, nil
}

// Caps implements endpoint.Endpoint: hard links, FIFOs, extended
// attributes and ACLs on Linux, and owners and device nodes when the
// process runs as root; none of them elsewhere.
func (e *dirEndpoint) Caps() wire.Caps { return e.caps }

// Extents implements endpoint.Endpoint with SEEK_DATA and SEEK_HOLE (on
// Linux; elsewhere the rest of the file is one extent). rel must be a
// regular file, as for Read; a file replaced while it is examined fails
// with endpoint.ErrChanged.
func (e *dirEndpoint) Extents(ctx context.Context, rel string, off int64) (endpoint.Extents, error) {
	if err := e.check(ctx, "extents", rel); err != nil {
		return endpoint.Extents{}, err
	}
	if off < 0 {
		return endpoint.Extents{}, fmt.Errorf("extents %s: %w: offset %d", rel, endpoint.ErrInvalidPath, off)
	}
	d, name, err := e.parent(rel)
	if err != nil {
		return endpoint.Extents{}, fail("extents", rel, err)
	}
	defer e.dirs.release(d)
	x, err := d.extents(name, off)
	if err != nil {
		return endpoint.Extents{}, fail("extents", rel, err)
	}
	return x, nil
}

// check validates what every method of e is called with.
func (e *dirEndpoint) check(ctx context.Context, op, rel string) error {
	if err := wire.ValidPath(rel); err != nil {
		return fmt.Errorf("%s: %w: %v", op, endpoint.ErrInvalidPath, err)
	}
	if e.closed.Load() {
		return fmt.Errorf("%s %s: %w", op, rel, endpoint.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, rel, err)
	}
	return nil
}

// fail returns err as the failure of op on rel.
func fail(op, rel string, err error) error {
	err = cause(err)
	if errors.Is(err, syscall.ENOSPC) {
		err = noSpaceError{err}
	}
	return fmt.Errorf("%s %s: %w", op, rel, err)
}

// cause strips the *fs.PathError, *os.LinkError or *os.SyscallError
// around err, whose op and path name a system call rather than what the
// caller asked for.
func cause(err error) error {
	switch e := err.(type) {
	case *fs.PathError:
		return e.Err
	case *os.LinkError:
		return e.Err
	case *os.SyscallError:
		return e.Err
	}
	return err
}

// noSpaceError is a filesystem error that also matches endpoint.ErrNoSpace.
type noSpaceError struct{ error }

func (e noSpaceError) Unwrap() error        { return e.error }
func (e noSpaceError) Is(target error) bool { return target == endpoint.ErrNoSpace }

// regular returns nil if m is a regular file's mode and otherwise the
// error for reading or hashing such a file.
func regular(m fs.FileMode) error {
	switch {
	case m.IsRegular():
		return nil
	case m.IsDir():
		return syscall.EISDIR
	case m&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: a symlink", endpoint.ErrInvalidPath)
	}
	return fmt.Errorf("%w: not a regular file", endpoint.ErrInvalidPath)
}

// fileType returns the wire type for m, 0 for sockets and anything else
// the wire does not carry.
func fileType(m fs.FileMode) wire.FileType {
	switch {
	case m.IsRegular():
		return wire.TypeFile
	case m.IsDir():
		return wire.TypeDir
	case m&fs.ModeSymlink != 0:
		return wire.TypeSymlink
	case m&fs.ModeNamedPipe != 0:
		return wire.TypeFIFO
	case m&fs.ModeCharDevice != 0:
		return wire.TypeChar
	case m&fs.ModeDevice != 0:
		return wire.TypeBlock
	}
	return 0
}

// special reports whether t is a FIFO or device node.
func special(t wire.FileType) bool {
	return t == wire.TypeFIFO || t == wire.TypeChar || t == wire.TypeBlock
}

// modeBits returns the permission, set-id and sticky bits of m as 07777
// bits.
func modeBits(m fs.FileMode) uint32 {
	b := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// fileMode is the inverse of modeBits; bits outside 07777 are ignored.
func fileMode(b uint32) fs.FileMode {
	m := fs.FileMode(b & 0o777)
	if b&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if b&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if b&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}
