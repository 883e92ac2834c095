package local

import (
	"errors"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/fcp-dev/fcp/internal/endpoint"
	"github.com/fcp-dev/fcp/internal/wire"
)

// capsFor returns what an Endpoint of a process with effective user id
// euid can keep: everything but owners and device nodes, which need root.
func capsFor(euid int) wire.Caps {
	c := wire.CapLinks | wire.CapSpecials | wire.CapXattrs | wire.CapACL
	if euid == 0 {
		c |= wire.CapOwner | wire.CapDevices
	}
	return c
}

func (d dir) stat(fi fs.FileInfo) (statMeta, bool) {
	st, ok := fi.Sys().(*unix.Stat_t)
	if !ok {
		return statMeta{}, false
	}
	return statMeta{
		uid:   st.Uid,
		gid:   st.Gid,
		nlink: uint64(st.Nlink),
		alloc: st.Blocks * 512,
		rdev:  uint64(st.Rdev),
		dev:   uint64(st.Dev),
		ino:   st.Ino,
	}, true
}

// procPath names name in d through /proc, for the extended-attribute
// calls, which have no *at form: the directory is reached through its
// descriptor (never through a path of the tree) and the l* calls do not
// follow a symlink at name.
func (d dir) procPath(name string) string {
	return "/proc/self/fd/" + strconv.Itoa(d.fd) + "/" + name
}

func (d dir) listXattrs(name string) ([]string, error) {
	p := d.procPath(name)
	buf := make([]byte, 256)
	for {
		n, err := ignoringEINTR(func() (int, error) { return unix.Llistxattr(p, buf) })
		if err == unix.ERANGE {
			size, err := ignoringEINTR(func() (int, error) { return unix.Llistxattr(p, nil) })
			if err != nil {
				return nil, err
			}
			buf = make([]byte, size+256)
			continue
		}
		if err != nil {
			return nil, err
		}
		return splitNUL(buf[:n]), nil
	}
}

// splitNUL splits a list of NUL-terminated strings.
func splitNUL(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i == len(b) {
			break
		}
		b = b[i+1:]
	}
	return out
}

func (d dir) getXattr(name, attr string) ([]byte, error) {
	p := d.procPath(name)
	buf := make([]byte, 256)
	for {
		n, err := ignoringEINTR(func() (int, error) { return unix.Lgetxattr(p, attr, buf) })
		if err == unix.ERANGE {
			size, err := ignoringEINTR(func() (int, error) { return unix.Lgetxattr(p, attr, nil) })
			if err != nil {
				return nil, err
			}
			buf = make([]byte, size+256)
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n:n], nil
	}
}

func (d dir) setXattr(name, attr string, value []byte) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Lsetxattr(d.procPath(name), attr, value, 0) })
	return err
}

func (d dir) removeXattr(name, attr string) error {
	_, err := ignoringEINTR(func() (int, error) { return 0, unix.Lremovexattr(d.procPath(name), attr) })
	return err
}

func (d dir) chown(name string, uid, gid int) error {
	return unix.Fchownat(d.fd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

func (d dir) mknod(name string, typ wire.FileType, perm uint32, rdev uint64) error {
	mode := perm & 0o7777
	switch typ {
	case wire.TypeFIFO:
		mode |= unix.S_IFIFO
		rdev = 0
	case wire.TypeChar:
		mode |= unix.S_IFCHR
	case wire.TypeBlock:
		mode |= unix.S_IFBLK
	default:
		return unix.EINVAL
	}
	return unix.Mknodat(d.fd, name, mode, int(rdev))
}

func (d dir) link(od dir, old, name string) error {
	return unix.Linkat(od.fd, old, d.fd, name, 0)
}

// extents implements metaOps with SEEK_DATA and SEEK_HOLE on the file
// opened without following a symlink, checked to be the one Lstat saw.
func (d dir) extents(name string, off int64) (endpoint.Extents, error) {
	var before, after unix.Stat_t
	if err := fstatat(d.fd, name, &before); err != nil {
		return endpoint.Extents{}, err
	}
	if err := regular(unixMode(before.Mode)); err != nil {
		return endpoint.Extents{}, err
	}
	fd, err := openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	switch {
	case err == unix.ELOOP:
		return endpoint.Extents{}, endpoint.ErrChanged
	case err != nil:
		return endpoint.Extents{}, err
	}
	defer unix.Close(fd)
	if err := fstat(fd, &after); err != nil {
		return endpoint.Extents{}, err
	}
	if before.Dev != after.Dev || before.Ino != after.Ino {
		return endpoint.Extents{}, endpoint.ErrChanged
	}
	size := after.Size
	x := endpoint.Extents{Size: size, Mtime: after.Mtim.Nano(), Next: size}
	for pos := off; pos < size; {
		if len(x.List) == wire.MaxExtents {
			x.Next = pos
			break
		}
		data, err := unix.Seek(fd, pos, unix.SEEK_DATA)
		switch {
		case err == unix.ENXIO:
			return x, nil // holes to the end
		case err == unix.EINVAL || err == unix.EOPNOTSUPP:
			data = pos // no holes here: all data
		case err != nil:
			return endpoint.Extents{}, err
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		hole = min(hole, size)
		if hole <= data {
			break
		}
		x.List = append(x.List, wire.Extent{Off: data, Len: hole - data})
		pos = hole
	}
	return x, nil
}

// noXattrs reports whether err says an extended attribute (or, from a
// file system without them, any) is absent.
func noXattrs(err error) bool {
	return err == unix.ENODATA || err == unix.ENOTSUP || err == unix.EOPNOTSUPP
}

// notKept reports whether err says a file system, or the file's type,
// does not take the metadata: no extended attributes or ACLs there, user
// attributes on a symlink or special file, an owner it cannot represent.
func notKept(err error) bool {
	return errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EPERM) ||
		errors.Is(err, unix.EINVAL) || errors.Is(err, errors.ErrUnsupported)
}

// euid is the effective user id of the process.
func euid() int { return os.Geteuid() }
