//go:build !linux

package local

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// dir is an open directory of the tree: an *os.Root, so that even an
// operation that follows a symlink stays inside the tree.
type dir struct{ root *os.Root }

// openRootDir opens the directory abs, following symlinks.
func openRootDir(abs string) (dir, error) {
	r, err := os.OpenRoot(abs)
	return dir{r}, err
}

// openBeneath implements dirOps a component at a time: each must be a
// directory per Lstat, and the one opened must be that directory.
func (d dir) openBeneath(rel string) (dir, error) {
	cur := d
	for end := 0; end < len(rel); {
		start := end
		if start > 0 {
			start++
		}
		end = len(rel)
		if i := strings.IndexByte(rel[start:], '/'); i >= 0 {
			end = start + i
		}
		sub, err := cur.openSubdir(rel[:end], rel[start:end])
		if cur != d {
			cur.close()
		}
		if err != nil {
			return dir{}, err
		}
		cur = sub
	}
	return cur, nil
}

// openSubdir opens name in d, the path p, if it is a real directory.
func (d dir) openSubdir(p, name string) (dir, error) {
	fi, err := d.root.Lstat(name)
	switch {
	case err != nil:
		return dir{}, fmt.Errorf("parent %s: %w", p, cause(err))
	case fi.Mode()&fs.ModeSymlink != 0:
		return dir{}, fmt.Errorf("%w: %s is a symlink", endpoint.ErrInvalidPath, p)
	case !fi.IsDir():
		return dir{}, fmt.Errorf("%w: %s is not a directory", endpoint.ErrInvalidPath, p)
	}
	sub, err := d.openDir(name, fi)
	if err != nil {
		return dir{}, fmt.Errorf("parent %s: %w", p, cause(err))
	}
	return sub, nil
}

func (d dir) close() error {
	return d.root.Close()
}

func (d dir) lstat(name string) (fs.FileMode, error) {
	fi, err := d.root.Lstat(name)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

func (d dir) lstatInfo(name string) (fs.FileInfo, error) {
	return d.root.Lstat(name)
}

func (d dir) openDir(name string, fi fs.FileInfo) (dir, error) {
	sub, err := d.root.OpenRoot(name)
	if err != nil {
		return dir{}, err
	}
	got, err := sub.Lstat(".")
	if err != nil || !os.SameFile(fi, got) {
		sub.Close()
		if err == nil {
			err = endpoint.ErrChanged
		}
		return dir{}, err
	}
	return dir{sub}, nil
}

func (d dir) names(buf []byte) ([]string, error) {
	f, err := d.root.Open(".")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

func (d dir) readlink(name string) (string, error) {
	return d.root.Readlink(name)
}

func (d dir) openFile(name string) (*os.File, error) {
	return d.root.Open(name)
}

// sameFile reports whether a and b describe the same file.
func sameFile(a, b fs.FileInfo) bool {
	return os.SameFile(a, b)
}

// read implements dirOps like Endpoint.Read: Lstat, open, read, stat,
// comparing the first and the last.
func (d dir) read(name string, off int64, n int) (endpoint.Chunk, error) {
	before, err := d.root.Lstat(name)
	if err != nil {
		return endpoint.Chunk{}, err
	}
	if err := regular(before.Mode()); err != nil {
		return endpoint.Chunk{}, err
	}
	f, err := d.root.Open(name)
	if err != nil {
		return endpoint.Chunk{}, err
	}
	defer f.Close()
	buf := make([]byte, min(int64(n), max(before.Size()-off, 0)))
	m, err := f.ReadAt(buf, off)
	if err != nil && err != io.EOF {
		return endpoint.Chunk{}, err
	}
	after, err := f.Stat()
	if err != nil {
		return endpoint.Chunk{}, err
	}
	if !os.SameFile(before, after) || m < n && after.Size() > off+int64(m) {
		return endpoint.Chunk{}, endpoint.ErrChanged
	}
	return endpoint.Chunk{Data: buf[:m], Size: after.Size(), Mtime: after.ModTime().UnixNano()}, nil
}

func (d dir) createTemp(name string, excl bool) (*os.File, error) {
	flags := os.O_WRONLY | os.O_CREATE
	if excl {
		flags |= os.O_EXCL
	}
	return d.root.OpenFile(name, flags, 0o600)
}

func (d dir) chmod(name string, mode fs.FileMode) error {
	return d.root.Chmod(name, mode)
}

func (d dir) chtimes(name string, mtime int64) error {
	t := time.Unix(0, mtime)
	return d.root.Chtimes(name, t, t)
}

// lchtimes implements dirOps: it does nothing here.
func (d dir) lchtimes(name string, mtime int64) error {
	return nil
}

func (d dir) mkdir(name string, perm fs.FileMode) error {
	return d.root.Mkdir(name, perm)
}

func (d dir) symlink(target, name string) error {
	return d.root.Symlink(target, name)
}

func (d dir) rename(old, new string) error {
	return d.root.Rename(old, new)
}

func (d dir) unlink(name string) error {
	return d.root.Remove(name)
}

func (d dir) removeAll(name string) error {
	return d.root.RemoveAll(name)
}

// renameAt moves name a in directory da to name b in directory db. An
// os.Root renames only within itself, so this goes through the two
// directories' paths; both were opened beneath the tree's root and a and
// b are single names.
func renameAt(da *dirHandle, a string, db *dirHandle, b string) error {
	return os.Rename(filepath.Join(da.root.Name(), a), filepath.Join(db.root.Name(), b))
}

// gone reports false: a removed directory is not detected here.
func (d dir) gone() bool { return false }

// openRootIn opens the directory rel inside r, following symlinks only
// while they stay inside r (os.Root's rule), for an Endpoint's root.
func openRootIn(r *os.Root, rel string) (dir, error) {
	sub, err := r.OpenRoot(rel)
	return dir{sub}, err
}
