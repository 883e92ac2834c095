package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"slices"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/filter"
	"github.com/fcp-dev/fcp/internal/ignore"
	"github.com/fcp-dev/fcp/internal/wire"
	"github.com/zeebo/blake3"
)

// hashBufSize is the read size for hashing; large enough for BLAKE3's
// parallel compression to pay off.
const hashBufSize = 256 << 10

// Scan implements endpoint.Endpoint. Directories are walked open, each
// listed and its entries Lstat'ed relative to it, holding one open
// directory and one sorted list of names per level, so memory grows with
// depth times directory width, not with the size of the tree; on more
// than one core, helpers Lstat the entries ahead of the walk (see
// statAhead). An entry
// that vanishes between listing and Lstat is skipped. An unreadable
// directory, or with opts.Hash an unreadable file, ends the scan with an
// error matching the fs error. A file that changes while it is hashed is
// reported without a sum (HasSum false). A path longer than wire.MaxPath
// ends the scan with endpoint.ErrInvalidPath. FIFOs and device nodes are
// reported only with wire.WantSpecials, sockets never; a rel that is not
// reported reports nothing. The metadata of opts.Want is read as each
// entry is reported (see endpoint.ScanOptions.Want); with
// wire.WantLinks, the scan remembers each regular file with several links
// until it has reached all of them.
func (e *dirEndpoint) Scan(ctx context.Context, rel string, opts endpoint.ScanOptions, fn func(*wire.Entry) error) error {
	if err := e.check(ctx, "scan", rel); err != nil {
		return err
	}
	f, err := filter.Compile(opts.Rules)
	if err != nil {
		return fmt.Errorf("scan %s: %w", rel, err)
	}
	s := &scanner{ctx: ctx, e: e, rel: rel, filter: f, ignore: opts.Ignore, tidy: opts.Tidy, want: opts.Want, fn: fn, dirent: make([]byte, direntBufSize)}
	if f.Git() {
		// git's rules, as git on this host would read them for this tree.
		m, err := ignore.New(e.abs, ignore.Options{Home: os.Getenv("HOME"), XDGConfigHome: os.Getenv("XDG_CONFIG_HOME")})
		if err != nil {
			return fmt.Errorf("scan %s: reading git's ignore rules: %w", rel, err)
		}
		defer m.Close()
		if other := opts.Ignore; other != nil {
			s.ignore = func(p string, isDir bool) bool { return m.Ignored(p, isDir) || other(p, isDir) }
		} else {
			s.ignore = m.Ignored
		}
	}
	if opts.Hash {
		s.hasher = blake3.New()
		s.buf = make([]byte, hashBufSize)
	}
	s.helpers = newStatHelpers(scanHelpers())
	defer s.helpers.stop()

	d, name, err := e.parent(rel)
	if err != nil {
		return fail("scan", rel, err)
	}
	defer e.dirs.release(d)
	fi, err := d.lstatInfo(name)
	if err != nil {
		return fail("scan", rel, err)
	}
	if !s.reported(fileType(fi.Mode())) {
		return nil
	}
	return s.enter(d.dir, name, ".", fi)
}

// direntBufSize is the buffer for listing a directory.
const direntBufSize = 32 << 10

// scanner is the state of one Scan.
type scanner struct {
	ctx    context.Context
	e      *dirEndpoint
	rel    string // the scanned path, relative to the endpoint's root
	filter *filter.Filter
	ignore func(string, bool) bool // ScanOptions.Ignore; nil for none
	tidy   bool                    // ScanOptions.Tidy
	want   wire.Want               // ScanOptions.Want
	links  map[fileID]*linkGroup   // WantLinks: files with links not reached yet
	fn     func(*wire.Entry) error
	hasher *blake3.Hasher // nil unless hashing
	buf    []byte         // for hashing
	dirent []byte         // for listing
	// helpers Lstat the entries of directories ahead of the walk (see
	// statAhead); nil on one core.
	helpers *statHelpers
}

// enter reports the entry p (relative to s.rel) described by fi, which is
// name in parent, and if it is a directory everything below it.
func (s *scanner) enter(parent dir, name, p string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return s.walk(parent, name, p, fi, nil)
	}
	sub, err := parent.openDir(name, fi)
	if err != nil {
		return fail("scan", s.path(p), err)
	}
	defer sub.close()
	return s.walk(parent, name, p, fi, &sub)
}

// walk reports the entry p (relative to s.rel) described by fi, which is
// name in parent, and if sub is not nil (p is a directory, open as sub)
// everything below it.
func (s *scanner) walk(parent dir, name, p string, fi fs.FileInfo, sub *dir) error {
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
		target, err := parent.readlink(name)
		if err != nil {
			return fail("scan", s.path(p), err)
		}
		ent.Target = target
	}
	if err := s.meta(parent, name, p, fi, ent); err != nil {
		return fail("scan", s.path(p), err)
	}
	if err := s.fn(ent); err != nil {
		return err
	}
	if sub == nil {
		return nil
	}

	names, err := sub.names(s.dirent)
	if err != nil {
		return fail("scan", s.path(p), err)
	}
	slices.Sort(names)
	tidied := false
	defer func() {
		if tidied {
			// The directory was reported with its mtime before tidying;
			// keep it so, as the transfer trusts what it was told.
			parent.chtimes(name, fi.ModTime().UnixNano())
		}
	}()
	ahead := newStatAhead(s.helpers, *sub, names)
	defer ahead.stop()
	for i, childName := range names {
		if isLeftover(childName) {
			if s.tidy && tidyTemp(*sub, childName, true) {
				tidied = true
			}
			continue // fcp's own temporary and partial files
		}
		child := wire.Join(p, childName)
		if s.tooLong(child) {
			return fmt.Errorf("scan %s: %w: path longer than %d bytes", s.path(p), endpoint.ErrInvalidPath, wire.MaxPath)
		}
		fi, err := ahead.stat(i)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return fail("scan", s.path(child), err)
		}
		typ := fileType(fi.Mode())
		if !s.reported(typ) || !s.filter.Match(child, typ == wire.TypeDir) {
			continue
		}
		if s.ignore != nil && s.ignore(s.path(child), typ == wire.TypeDir) {
			continue
		}
		if err := s.enter(*sub, childName, child, fi); err != nil {
			return err
		}
	}
	return nil
}

// reported reports whether entries of type t are reported.
func (s *scanner) reported(t wire.FileType) bool {
	return t != 0 && (!special(t) || s.want&wire.WantSpecials != 0)
}

// fileID identifies a file on this host.
type fileID struct{ dev, ino uint64 }

// linkGroup is a regular file with several links, the first reached at
// path, with left links not reached yet.
type linkGroup struct {
	path string
	left uint64
}

// meta fills what the scan wants of ent, the entry p (relative to s.rel)
// described by fi, which is name in d, besides its type, mode, size,
// mtime and target; and Sparse and Rdev, which the Lstat tells anyway.
func (s *scanner) meta(d dir, name, p string, fi fs.FileInfo, ent *wire.Entry) error {
	if m, ok := d.stat(fi); ok {
		switch ent.Type {
		case wire.TypeFile:
			ent.Sparse = sparse(ent.Size, m.alloc, s.want&wire.WantSparse != 0)
			if s.want&wire.WantLinks != 0 && m.nlink > 1 {
				s.link(fileID{m.dev, m.ino}, m.nlink, p, ent)
			}
		case wire.TypeChar, wire.TypeBlock:
			ent.Rdev = m.rdev
		}
	}
	if s.want&(wire.WantOwner|wire.WantNames|wire.WantXattrs|wire.WantACL) == 0 {
		return nil
	}
	return s.e.readAttrs(d, name, fi, s.want, &ent.Attrs)
}

// link sets the hard-link fields of ent, the entry p of the file id with
// nlink links: the first of a file reached becomes what the others link
// to, and the file is forgotten once all its links are reached.
func (s *scanner) link(id fileID, nlink uint64, p string, ent *wire.Entry) {
	ent.Nlink = uint32(min(nlink, math.MaxUint32))
	g := s.links[id]
	if g == nil {
		if s.links == nil {
			s.links = make(map[fileID]*linkGroup)
		}
		s.links[id] = &linkGroup{path: p, left: nlink - 1}
		return
	}
	ent.Link = g.path
	if g.left--; g.left == 0 {
		delete(s.links, id)
	}
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

// hash sets ent.Sum to the BLAKE3 hash of the regular file name in d,
// which Lstat described as fi. If the file is not the one fi describes
// once open, or changes while it is read, ent.HasSum stays false.
func (s *scanner) hash(d dir, name string, fi fs.FileInfo, ent *wire.Entry) error {
	f, err := d.openFile(name)
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
	if !sameFile(fi, after) || n != fi.Size() || after.Size() != n || !after.ModTime().Equal(fi.ModTime()) {
		return nil
	}
	s.hasher.Sum(ent.Sum[:0])
	ent.HasSum = true
	return nil
}
