//go:build !linux

package local

import (
	"encoding/binary"
	"io/fs"
	"os"
	"time"

	"github.com/zeebo/blake3"
)

// stamp identifies f's state: identity, size and modification time. Any
// write to the file that moves its mtime changes it. Never 0.
func stamp(f *os.File) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(fi.Size()))
	binary.LittleEndian.PutUint64(b[8:], uint64(fi.ModTime().UnixNano()))
	sum := blake3.Sum256(b[:])
	return binary.LittleEndian.Uint64(sum[:]) | 1, nil
}

// copyRange copies n bytes of src at srcOff to dst at dstOff.
func copyRange(dst, src *os.File, dstOff, srcOff int64, n int, buf []byte) error {
	return copyThrough(dst, src, dstOff, srcOff, n, buf)
}

// lockTemp does nothing here: without flock, leftovers are never tidied.
func lockTemp(*os.File) {}

// unheld reports false: a writer cannot be told from a dead one.
func unheld(*os.File) bool { return false }

// changedAfter reports whether fi's modification time is after t (the
// closest this system offers to Linux's ctime here).
func changedAfter(fi fs.FileInfo, t time.Time) bool {
	return fi.ModTime().After(t)
}
