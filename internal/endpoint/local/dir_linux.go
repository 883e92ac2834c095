package local

import (
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fcp-dev/fcp/internal/endpoint"
)

// dir is an open directory of the tree: an O_PATH descriptor, which
// serves the *at system calls without read permission on the directory.
// Every operation on an entry is one system call relative to it.
type dir struct{ fd int }

// dirFlags open a directory as a dir, refusing a symlink.
const dirFlags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// openRootDir opens the directory abs, following symlinks.
func openRootDir(abs string) (dir, error) {
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return dir{}, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	return dir{fd}, nil
}

// openBeneath implements dirOps: with one openat2 call refusing
// symlinks (Linux 5.6 and later), else a component at a time.
func (d dir) openBeneath(rel string) (dir, error) {
	fd, err := ignoringEINTR(func() (int, error) {
		return unix.Openat2(d.fd, rel, &unix.OpenHow{
			Flags:   dirFlags,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
		})
	})
	if err == nil {
		return dir{fd}, nil
	}
	// Either openat2 is missing, or something is in the way: walking
	// finds out what.
	return d.walk(rel)
}

// walk opens rel a component at a time, refusing symlinks.
func (d dir) walk(rel string) (dir, error) {
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
		name := rel[start:end]
		fd, err := openat(cur.fd, name, dirFlags, 0)
		if err != nil {
			err = cur.notDir(rel[:end], name, err)
		}
		if cur != d {
			cur.close()
		}
		if err != nil {
			return dir{}, err
		}
		cur = dir{fd}
	}
	return cur, nil
}

// notDir explains why name in d, the path p, failed to open as a
// directory with err.
func (d dir) notDir(p, name string, err error) error {
	if err == unix.ENOTDIR || err == unix.ELOOP {
		switch m, lerr := d.lstat(name); {
		case lerr != nil, m.IsDir():
		case m&fs.ModeSymlink != 0:
			return fmt.Errorf("%w: %s is a symlink", endpoint.ErrInvalidPath, p)
		default:
			return fmt.Errorf("%w: %s is not a directory", endpoint.ErrInvalidPath, p)
		}
	}
	return fmt.Errorf("parent %s: %w", p, err)
}

func (d dir) close() error {
	return unix.Close(d.fd)
}

func (d dir) lstat(name string) (fs.FileMode, error) {
	var st unix.Stat_t
	if err := fstatat(d.fd, name, &st); err != nil {
		return 0, err
	}
	return unixMode(st.Mode), nil
}

func (d dir) lstatInfo(name string) (fs.FileInfo, error) {
	fi := &statInfo{name: name}
	if err := fstatat(d.fd, name, &fi.st); err != nil {
		return nil, err
	}
	return fi, nil
}

// openDir implements dirOps. Unlike the directories of the cache, this
// one is open for reading, to be listed.
func (d dir) openDir(name string, fi fs.FileInfo) (dir, error) {
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return dir{}, err
	}
	got := &statInfo{name: name}
	if err := fstat(fd, &got.st); err != nil || !sameFile(fi, got) {
		unix.Close(fd)
		if err == nil {
			err = endpoint.ErrChanged
		}
		return dir{}, err
	}
	return dir{fd}, nil
}

func (d dir) names(buf []byte) ([]string, error) {
	var names []string
	for {
		n, err := ignoringEINTR(func() (int, error) { return unix.Getdents(d.fd, buf) })
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
}

func (d dir) readlink(name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := ignoringEINTR(func() (int, error) { return unix.Readlinkat(d.fd, name, b) })
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}

// openFile implements dirOps. O_NONBLOCK: a FIFO put in the file's place
// must not block the open.
func (d dir) openFile(name string) (*os.File, error) {
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// statInfo is an fs.FileInfo from fstatat.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func (fi *statInfo) Name() string       { return fi.name }
func (fi *statInfo) Size() int64        { return fi.st.Size }
func (fi *statInfo) Mode() fs.FileMode  { return unixMode(fi.st.Mode) }
func (fi *statInfo) ModTime() time.Time { return time.Unix(fi.st.Mtim.Unix()) }
func (fi *statInfo) IsDir() bool        { return fi.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (fi *statInfo) Sys() any           { return &fi.st }

// sameFile reports whether a and b, from lstatInfo or *os.File.Stat,
// describe the same file.
func sameFile(a, b fs.FileInfo) bool {
	devA, inoA, okA := devIno(a)
	devB, inoB, okB := devIno(b)
	return okA && okB && devA == devB && inoA == inoB
}

func devIno(fi fs.FileInfo) (dev, ino uint64, ok bool) {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return uint64(st.Dev), uint64(st.Ino), true
	case *syscall.Stat_t:
		return uint64(st.Dev), uint64(st.Ino), true
	}
	return 0, 0, false
}

// read implements dirOps like Endpoint.Read: Lstat, open, read, fstat,
// comparing the first and the last.
func (d dir) read(name string, off int64, n int) (endpoint.Chunk, error) {
	var before, after unix.Stat_t
	if err := fstatat(d.fd, name, &before); err != nil {
		return endpoint.Chunk{}, err
	}
	if err := regular(unixMode(before.Mode)); err != nil {
		return endpoint.Chunk{}, err
	}
	// O_NONBLOCK: a FIFO put in the file's place must not block the open.
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ELOOP:
		return endpoint.Chunk{}, endpoint.ErrChanged
	case err != nil:
		return endpoint.Chunk{}, err
	}
	defer unix.Close(fd)
	buf := make([]byte, min(int64(n), max(before.Size-off, 0)))
	m, err := preadFull(fd, buf, off)
	if err != nil {
		return endpoint.Chunk{}, err
	}
	if err := fstat(fd, &after); err != nil {
		return endpoint.Chunk{}, err
	}
	if before.Dev != after.Dev || before.Ino != after.Ino || m < n && after.Size > off+int64(m) {
		return endpoint.Chunk{}, endpoint.ErrChanged
	}
	return endpoint.Chunk{Data: buf[:m], Size: after.Size, Mtime: after.Mtim.Nano()}, nil
}

// preadFull reads into buf at off until buf is full or the file ends.
func preadFull(fd int, buf []byte, off int64) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := ignoringEINTR(func() (int, error) { return unix.Pread(fd, buf[n:], off+int64(n)) })
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

func (d dir) createTemp(name string, excl bool) (*os.File, error) {
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_CLOEXEC
	if excl {
		flags |= unix.O_EXCL
	}
	fd, err := openat(d.fd, name, flags, 0o600)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// chmod implements dirOps with fchmodat2 (Linux 6.6), which refuses a
// symlink, or before it as the C libraries do: through /proc, on the
// entry opened without following it.
func (d dir) chmod(name string, mode fs.FileMode) error {
	err := unix.Fchmodat(d.fd, name, modeBits(mode), unix.AT_SYMLINK_NOFOLLOW)
	if err != unix.EOPNOTSUPP {
		return err
	}
	return d.chmodProc(name, mode)
}

// chmodProc is chmod without fchmodat2.
func (d dir) chmodProc(name string, mode fs.FileMode) error {
	fd, err := openat(d.fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), modeBits(mode), 0)
}

func (d dir) chtimes(name string, mtime int64) error {
	ts := unix.NsecToTimespec(mtime)
	return unix.UtimesNanoAt(d.fd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

func (d dir) lchtimes(name string, mtime int64) error {
	return d.chtimes(name, mtime)
}

func (d dir) mkdir(name string, perm fs.FileMode) error {
	return unix.Mkdirat(d.fd, name, uint32(perm.Perm()))
}

func (d dir) symlink(target, name string) error {
	return unix.Symlinkat(target, d.fd, name)
}

func (d dir) rename(old, new string) error {
	return unix.Renameat(d.fd, old, d.fd, new)
}

func (d dir) unlink(name string) error {
	return unix.Unlinkat(d.fd, name, 0)
}

// removeAll implements dirOps depth first, opening each directory
// without following a symlink.
func (d dir) removeAll(name string) error {
	switch err := d.unlink(name); err {
	case nil, unix.ENOENT:
		return nil
	case unix.EISDIR:
	default:
		return err
	}
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ENOENT:
		return nil
	case err != nil:
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	for _, n := range names {
		if err != nil {
			break
		}
		err = dir{fd}.removeAll(n)
	}
	f.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR); err != unix.ENOENT {
		return err
	}
	return nil
}

// openat is unix.Openat, retried on EINTR.
func openat(dirfd int, name string, flags int, perm uint32) (int, error) {
	return ignoringEINTR(func() (int, error) { return unix.Openat(dirfd, name, flags, perm) })
}

// fstatat is unix.Fstatat without following a symlink, retried on EINTR.
func fstatat(dirfd int, name string, st *unix.Stat_t) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Fstatat(dirfd, name, st, unix.AT_SYMLINK_NOFOLLOW) })
	return err
}

// fstat is unix.Fstat, retried on EINTR.
func fstat(fd int, st *unix.Stat_t) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Fstat(fd, st) })
	return err
}

// ignoringEINTR calls f until it does not fail with EINTR, which some
// filesystems return when the runtime's preemption signal arrives.
func ignoringEINTR[T any](f func() (T, error)) (T, error) {
	for {
		v, err := f()
		if err != unix.EINTR {
			return v, err
		}
	}
}

// unixMode converts a stat mode to an fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fileMode(m & 0o7777)
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	default:
		mode |= fs.ModeIrregular
	}
	return mode
}

// renameAt moves name a in directory da to name b in directory db.
func renameAt(da *dirHandle, a string, db *dirHandle, b string) error {
	return unix.Renameat(da.fd, a, db.fd, b)
}

// gone reports whether the directory was removed since it was opened
// (no name links to it any more).
func (d dir) gone() bool {
	var st unix.Stat_t
	return fstat(d.fd, &st) == nil && st.Nlink == 0
}

// openRootIn opens the directory rel inside r, following symlinks only
// while they stay inside r (os.Root's rule), for an Endpoint's root.
func openRootIn(r *os.Root, rel string) (dir, error) {
	f, err := r.Open(rel)
	if err != nil {
		return dir{}, err
	}
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return dir{}, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	var st unix.Stat_t
	if err := fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		if err == nil {
			err = unix.ENOTDIR
		}
		return dir{}, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	return dir{fd}, nil
}
