package local

import (
	"io/fs"
	"os"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// dirOps is what the platform's dir type provides: an open directory of
// the tree, and operations on the entries of that directory, each
// relative to it. name is always one path component ("." only where
// said). No operation follows a symlink at name where the platform can
// avoid it (on Linux, none does); elsewhere callers Lstat first and, for
// reads, compare after. Errors keep the errno reachable. dir_linux.go
// implements it with file descriptors and *at system calls, dir_other.go
// with an *os.Root per directory.
type dirOps interface {
	// openBeneath opens the directory rel (a valid path below d, not ".")
	// through real directories only: a symlink or non-directory at any
	// component fails with endpoint.ErrInvalidPath naming it, a missing
	// one with an error matching fs.ErrNotExist naming it.
	openBeneath(rel string) (dir, error)
	close() error

	// lstat returns the type and permission bits of name ("." is d).
	lstat(name string) (fs.FileMode, error)
	// lstatInfo describes name ("." is d); sameFile compares what it
	// returns with what *os.File.Stat returns.
	lstatInfo(name string) (fs.FileInfo, error)
	// openDir opens the directory name ("." is d) for names, failing with
	// endpoint.ErrChanged unless it is the one fi describes.
	openDir(name string, fi fs.FileInfo) (dir, error)
	// names lists d, which openDir opened, unsorted; buf is scratch.
	names(buf []byte) ([]string, error)
	readlink(name string) (string, error)
	// openFile opens the file name for reading.
	openFile(name string) (*os.File, error)
	// read returns up to n bytes at off of the regular file name with
	// the size and mtime after the read, as Endpoint.Read documents;
	// Sum is not set.
	read(name string, off int64, n int) (endpoint.Chunk, error)
	// createTemp opens name for writing, creating it with mode 0600,
	// exclusively with excl.
	createTemp(name string, excl bool) (*os.File, error)
	// chmod sets the mode of name ("." is d), which is not a symlink.
	chmod(name string, mode fs.FileMode) error
	// chtimes sets the atime and mtime (ns) of name ("." is d), which is not
	// a symlink.
	chtimes(name string, mtime int64) error
	// lchtimes sets the atime and mtime of the symlink name, where the
	// platform can; elsewhere it does nothing.
	lchtimes(name string, mtime int64) error
	mkdir(name string, perm fs.FileMode) error
	symlink(target, name string) error
	// rename renames old over new, both in d.
	rename(old, new string) error
	// unlink removes name, which is not a directory.
	unlink(name string) error
	// removeAll removes name and everything in it; a missing name is
	// not an error.
	removeAll(name string) error
}

var _ dirOps = dir{}
