//go:build unix

package watch

import (
	"os"
	"syscall"
)

// fileID identifies a file by device and inode number.
type fileID struct{ dev, ino uint64 }

// idOf returns the identity of the file fi describes.
func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true
}
