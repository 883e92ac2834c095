package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/filter"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// hashBufSize is the read size for hashing; large enough for BLAKE3's
// parallel compression to pay off.
const hashBufSize = 256 << 10

// Scan implements endpoint.Endpoint. Directories are walked through an
// *os.Root opened at each one, holding one open directory and one sorted
// list of names per level, so memory grows with depth times directory
// width, not with the size of the tree. An entry that vanishes between
// listing and Lstat is skipped. An unreadable directory, or with
// opts.Hash an unreadable file, ends the scan with an error matching the
// fs error. A file that changes while it is hashed is reported without a
// sum (HasSum false). A path longer than wire.MaxPath ends the scan with
// endpoint.ErrInvalidPath. A rel that is a special file reports nothing.
func (e *dirEndpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	if err := e.check(ctx, "scan", rel); err != nil {
		return err
	}
	f, err := filter.Compile(opts.Rules)
	if err != nil {
		return fmt.Errorf("scan %s: %w", rel, err)
	}
	s := &scanner{ctx: ctx, rel: rel, filter: f, fn: fn}
	if opts.Hash {
		s.hasher = blake3.New()
		s.buf = make([]byte, hashBufSize)
	}

	fi, err := e.root.Lstat(rel)
	if err != nil {
		return fail("scan", rel, err)
	}
	if fileType(fi.Mode()) == 0 {
		return nil
	}
	if fi.IsDir() {
		dir, err := openSubdir(e.root, rel, fi)
		if err != nil {
			return fail("scan", rel, err)
		}
		defer dir.Close()
		return s.walk(e.root, rel, ".", fi, dir)
	}
	return s.walk(e.root, rel, ".", fi, nil)
}

// scanner is the state of one Scan.
type scanner struct {
	ctx    context.Context
	rel    string // the scanned path, relative to the endpoint's root
	filter *filter.Filter
	fn     func(*wire.Entry) error
	hasher *blake3.Hasher // nil unless hashing
	buf    []byte
}

// walk reports the entry p (relative to s.rel) described by fi, which is
// name in parent, and if dir is not nil (p is a directory, opened as dir)
// everything below it.
func (s *scanner) walk(parent *os.Root, name, p string, fi fs.FileInfo, dir *os.Root) error {
	if err := s.ctx.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", s.path(p), err)
	}
	ent := &wire.Entry{
		Path:  p,
		Type:  fileType(fi.Mode()),
		Mode:  modeBits(fi.Mode()),
		Mtime: fi.ModTime().UnixNano(),
	}
	switch ent.Type {
	case wire.TypeFile:
		ent.Size = fi.Size()
		if s.hasher != nil {
			if err := s.hash(parent, name, fi, ent); err != nil {
				return fail("scan", s.path(p), err)
			}
		}
	case wire.TypeSymlink:
		target, err := parent.Readlink(name)
		if err != nil {
			return fail("scan", s.path(p), err)
		}
		ent.Target = target
	}
	if err := s.fn(ent); err != nil {
		return err
	}
	if dir == nil {
		return nil
	}

	names, err := readNames(dir)
	if err != nil {
		return fail("scan", s.path(p), err)
	}
	for _, childName := range names {
		child := wire.Join(p, childName)
		if s.tooLong(child) {
			return fmt.Errorf("scan %s: %w: path longer than %d bytes", s.path(p), endpoint.ErrInvalidPath, wire.MaxPath)
		}
		fi, err := dir.Lstat(childName)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return fail("scan", s.path(child), err)
		}
		typ := fileType(fi.Mode())
		if typ == 0 || !s.filter.Match(child, typ == wire.TypeDir) {
			continue
		}
		if typ != wire.TypeDir {
			if err := s.walk(dir, childName, child, fi, nil); err != nil {
				return err
			}
			continue
		}
		sub, err := openSubdir(dir, childName, fi)
		if err != nil {
			return fail("scan", s.path(child), err)
		}
		err = s.walk(dir, childName, child, fi, sub)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// path returns p, relative to the scanned path, relative to the root.
func (s *scanner) path(p string) string {
	return wire.Join(s.rel, p)
}

// tooLong reports whether p, relative to the scanned path, is longer
// than wire.MaxPath relative to the root.
func (s *scanner) tooLong(p string) bool {
	n := len(p)
	if s.rel != "." {
		n += len(s.rel) + 1
	}
	return n > wire.MaxPath
}

// hash sets ent.Sum to the BLAKE3 hash of the regular file name in dir,
// which Lstat described as fi. If the file is not the one fi describes
// once open, or changes while it is read, ent.HasSum stays false.
func (s *scanner) hash(dir *os.Root, name string, fi fs.FileInfo, ent *wire.Entry) error {
	f, err := dir.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	s.hasher.Reset()
	var n int64
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		m, err := f.Read(s.buf)
		s.hasher.Write(s.buf[:m])
		n += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	after, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(fi, after) || n != fi.Size() || after.Size() != n || !after.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	s.hasher.Sum(ent.Sum[:0])
	ent.HasSum = true
	return nil
}

// openSubdir opens the directory name in parent as a Root, checking that it
// is still the directory fi describes (not replaced by a symlink since).
func openSubdir(parent *os.Root, name string, fi fs.FileInfo) (*os.Root, error) {
	dir, err := parent.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	got, err := dir.Lstat(".")
	if err != nil {
		dir.Close()
		return nil, err
	}
	if !os.SameFile(fi, got) {
		dir.Close()
		return nil, endpoint.ErrChanged
	}
	return dir, nil
}

// readNames returns the names in dir, sorted bytewise.
func readNames(dir *os.Root) ([]string, error) {
	f, err := dir.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}
