package local

import (
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"
)

// stamp identifies f's state: device, inode, size, modification and
// change times. Any write to the file changes it. Never 0.
func stamp(f *os.File) (uint64, error) {
	var st unix.Stat_t
	if err := fstat(int(f.Fd()), &st); err != nil {
		return 0, err
	}
	var b [48]byte
	binary.LittleEndian.PutUint64(b[0:], st.Dev)
	binary.LittleEndian.PutUint64(b[8:], st.Ino)
	binary.LittleEndian.PutUint64(b[16:], uint64(st.Size))
	binary.LittleEndian.PutUint64(b[24:], uint64(st.Mtim.Nano()))
	binary.LittleEndian.PutUint64(b[32:], uint64(st.Ctim.Nano()))
	sum := blake3.Sum256(b[:40])
	return binary.LittleEndian.Uint64(sum[:]) | 1, nil
}

// copyRange copies n bytes of src at srcOff to dst at dstOff inside the
// kernel (copy_file_range: no copy through user space, and a shared
// extent on file systems that can clone), falling back to reading and
// writing through buf.
func copyRange(dst, src *os.File, dstOff, srcOff int64, n int, buf []byte) error {
	for n > 0 {
		m, err := unix.CopyFileRange(int(src.Fd()), &srcOff, int(dst.Fd()), &dstOff, n, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EXDEV || err == unix.ENOSYS || err == unix.EINVAL || err == unix.EOPNOTSUPP:
			return copyThrough(dst, src, dstOff, srcOff, n, buf)
		case err != nil:
			return err
		case m == 0:
			return io.ErrUnexpectedEOF // the basis is shorter than it was
		}
		n -= m
	}
	return nil
}

// lockTemp takes a shared lock on a temporary file for as long as its
// writer keeps it open, so that tidyTemp can tell a live writer's file
// from a dead one's (flock locks end with the process).
func lockTemp(f *os.File) {
	unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
}

// unheld reports whether no live writer holds f (see lockTemp).
func unheld(f *os.File) bool {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

// changedAfter reports whether fi's entry changed (its inode's ctime,
// which a rename into place sets) after t.
func changedAfter(fi fs.FileInfo, t time.Time) bool {
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		return time.Unix(st.Ctim.Unix()).After(t)
	}
	return fi.ModTime().After(t)
}
